/** `tenantctl validate`: the manifest's every problem, with line and fix. */
import type { Command } from "commander";
import { formatIssues, validateManifest } from "../lib/manifest";
import { CliError } from "./errors";
import { readManifestSource } from "./files";

export function register(program: Command): void {
    program
        .command("validate")
        .description("Validate a tenants manifest; exit 0 when valid, 1 with every problem on stderr when not.")
        .option("--manifest <file>", "manifest to validate", "tenants.yaml")
        .action((opts: { manifest: string }) => {
            const result = validateManifest(readManifestSource(opts.manifest), opts.manifest);
            if (!result.ok) throw new CliError(formatIssues(result.issues));
            const regions = new Map<string, number>();
            for (const t of result.manifest.tenants) regions.set(t.region, (regions.get(t.region) ?? 0) + 1);
            const summary = [...regions.entries()].map(([r, n]) => `${r}: ${n}`).join(", ");
            process.stdout.write(`${opts.manifest}: ${result.manifest.tenants.length} tenants valid (${summary || "none"})\n`);
        });
}
