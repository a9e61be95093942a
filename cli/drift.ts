/**
 * `tenantctl drift --stack S`: prints every resource that drifted from the
 * stack's state (core/drift.ts) and exits 0 when there is no drift, 1 when
 * there is, 2 when the check itself failed.
 */
import type { Command } from "commander";
import * as path from "node:path";
import { detectDrift, formatDrift, type DriftFormat, type DriftReport } from "../core/drift";
import { PROJECT_DIR } from "../core/project";
import { choice } from "./args";
import { CliError, EXIT, ExitStatus } from "./errors";

/** Registers `tenantctl drift`. */
export function register(program: Command): void {
    program
        .command("drift")
        .description("Refresh-preview a stack (pulumi refresh --preview-only) and report drift; exit 0 clean, 1 drifted, 2 when the check failed.")
        .requiredOption("--stack <stack>", "stack name (e.g. local, eu-west, or org/tenant-platform/eu-west)")
        .option("--format <format>", "text, markdown or json", choice<DriftFormat>(["text", "markdown", "json"]), "text")
        .option("--cwd <dir>", "Pulumi project directory", PROJECT_DIR)
        .option("--config-file <file>", "use this stack config file instead of Pulumi.<stack>.yaml")
        .action(async (opts: { stack: string; format: DriftFormat; cwd: string; configFile?: string }) => {
            let report: DriftReport;
            try {
                report = await detectDrift({ stack: opts.stack, workDir: path.resolve(opts.cwd), configFile: opts.configFile });
            } catch (err) {
                const { StackNotFoundError, ConcurrentUpdateError } = await import("@pulumi/pulumi/automation");
                const why =
                    err instanceof StackNotFoundError
                        ? `stack ${opts.stack} does not exist in this backend (check PULUMI_BACKEND_URL / pulumi login)`
                        : err instanceof ConcurrentUpdateError
                          ? `stack ${opts.stack} is being updated right now; try again when it is done`
                          : (err instanceof Error ? err.message : String(err)).split("\n").slice(-20).join("\n");
                throw new CliError(`tenantctl drift: ${why}`, EXIT.usage);
            }
            process.stdout.write(`${formatDrift(report, opts.format)}\n`);
            if (report.drifted.length > 0) throw new ExitStatus(EXIT.failed);
        });
}
