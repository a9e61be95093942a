/** `tenantctl synth`: the program's every resource for a stack, offline, secrets redacted. */
import type { Command } from "commander";
import { choice } from "./args";
import { CliError } from "./errors";

export function register(program: Command): void {
    program
        .command("synth")
        .description("Evaluate the real program for a stack under a recording mock runtime and print every resource (secrets redacted).")
        .requiredOption("--stack <stack>", "stack name (eu-west, us-east, apac, local)")
        .option("--manifest <file>", "manifest to use instead of the stack's")
        .option("--format <format>", "json or table", choice(["json", "table"] as const), "table")
        .action(async (opts: { stack: string; manifest?: string; format: "json" | "table" }) => {
            const { synthesize, synthJson, synthTable, SynthError } = await import("../core/synth");
            try {
                const result = await synthesize({ stack: opts.stack, manifest: opts.manifest });
                process.stdout.write(`${opts.format === "json" ? synthJson(result) : synthTable(result)}\n`);
            } catch (err) {
                if (err instanceof SynthError) throw new CliError(err.message);
                throw err;
            }
        });
}
