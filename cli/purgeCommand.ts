/** `tenantctl purge`: the command of cli/purge.ts. */
import type { Command } from "commander";
import { CliError } from "./errors";

export function register(program: Command): void {
    program
        .command("purge")
        .description("Remove a cancelled tenant's data after its grace period; refuses until a final backup is recorded. Dry run without --yes.")
        .requiredOption("--stack <stack>", "the tenant's region stack")
        .requiredOption("--tenant <id>", "tenant id")
        .option("--today <date>", "evaluate the grace period as of this date (YYYY-MM-DD)")
        .option("--yes", "apply: unprotect, remove from the manifest, delete")
        .option("--config-file <file>", "stack settings file instead of Pulumi.<stack>.yaml")
        .action(async (opts: { stack: string; tenant: string; today?: string; yes?: boolean; configFile?: string }) => {
            const { purge, PurgeRefused } = await import("./purge");
            try {
                await purge(opts);
            } catch (err) {
                if (err instanceof PurgeRefused) throw new CliError(`tenantctl purge: refused: ${err.message}`);
                throw err;
            }
        });
}
