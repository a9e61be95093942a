/** `tenantctl validate`: the manifest's every problem, with line and fix; and the tenants due for purge. */
import type { Command } from "commander";
import { formatIssues, tenantsDue, utcDate, validateManifest } from "../lib/manifest";
import { CliError } from "./errors";
import { readManifestSource } from "./files";
import { dueReport } from "./validateReport";

export function register(program: Command): void {
    program
        .command("validate")
        .description("Validate a tenants manifest; exit 0 when valid (listing the tenants past their deletion date), 1 with every problem on stderr when not.")
        .option("--manifest <file>", "manifest to validate", "tenants.yaml")
        .option("--today <date>", "list the tenants due for purge as of this date (YYYY-MM-DD); default: today (UTC)")
        .action((opts: { manifest: string; today?: string }) => {
            const result = validateManifest(readManifestSource(opts.manifest), opts.manifest);
            if (!result.ok) throw new CliError(formatIssues(result.issues));
            const regions = new Map<string, number>();
            for (const t of result.manifest.tenants) regions.set(t.region, (regions.get(t.region) ?? 0) + 1);
            const summary = [...regions.entries()].map(([r, n]) => `${r}: ${n}`).join(", ");
            const tombstones = result.manifest.tombstones?.length ?? 0;
            process.stdout.write(
                `${opts.manifest}: ${result.manifest.tenants.length} tenants valid (${summary || "none"})${tombstones ? `, ${tombstones} deleted (tombstones)` : ""}\n`,
            );
            process.stdout.write(dueReport(tenantsDue(result.manifest.tenants, opts.today ?? utcDate()), opts.today ?? utcDate()));
        });
}
