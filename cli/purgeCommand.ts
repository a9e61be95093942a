/** `tenantctl purge`: the command of cli/purge.ts. */
import type { Command } from "commander";
import { CliError, EXIT } from "./errors";

export function register(program: Command): void {
    program
        .command("purge")
        .description(
            "Erase a cancelled tenant's data after its grace period (its entry becomes a tombstone); refuses until a final backup is recorded. --due: every tenant past its deletion date. Dry run without --yes.",
        )
        .requiredOption("--stack <stack>", "the tenant's region stack")
        .option("--tenant <id>", "tenant id")
        .option("--due", "every cancelled tenant of the stack's region whose deletion date has passed (tenantctl validate lists them)")
        .option("--today <date>", "evaluate the grace period as of this date (YYYY-MM-DD)")
        .option("--yes", "apply: archive and empty the buckets, unprotect, tombstone in the manifest, delete")
        .option("--config-file <file>", "stack settings file instead of Pulumi.<stack>.yaml")
        .action(async (opts: { stack: string; tenant?: string; due?: boolean; today?: string; yes?: boolean; configFile?: string }) => {
            if ((opts.tenant === undefined) === !opts.due) throw new CliError("tenantctl purge: give exactly one of --tenant <id> and --due", EXIT.usage);
            const { purge, purgeDue, PurgeRefused } = await import("./purge");
            try {
                if (opts.tenant !== undefined) {
                    await purge({ ...opts, tenant: opts.tenant });
                    return;
                }
                const { refused } = await purgeDue(opts);
                if (refused.length > 0)
                    throw new CliError(`tenantctl purge --due: ${refused.length} refused: ${refused.map((r) => r.tenant).join(", ")} (reasons above)`);
            } catch (err) {
                if (err instanceof PurgeRefused) throw new CliError(`tenantctl purge: refused: ${err.message}`);
                throw err;
            }
        });
}
