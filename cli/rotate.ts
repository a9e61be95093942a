/** `tenantctl rotate`: the command of core/rotate.ts. */
import type { Command } from "commander";
import { CliError, EXIT } from "./errors";

export function register(program: Command): void {
    program
        .command("rotate")
        .description(
            "Rotate a tenant's credentials with zero downtime (alternating accounts): a switch to the other account with a new password, then --retire of the old one after the grace window. --due: every step due in the region (90-day switches, retirements). Dry run without --yes.",
        )
        .requiredOption("--stack <stack>", "the region stack")
        .option("--tenant <id>", "tenant id")
        .option(
            "--service <name>",
            "one credential: a service's database account, rabbitmq, storage or archive (the archive identity's access key; default: all of the tenant's)",
        )
        .option("--due", "every retirement and every 90-day switch due in the stack's region")
        .option("--retire", "retire the old account of the last switch (refused within the grace window or while a pod may hold its password)")
        .option("--force", "retire although pods may hold the old password (a leaked credential)")
        .option("--yes", "apply: record in the manifest, run up, restart the tenant's workloads after a switch")
        .option("--config-file <file>", "stack settings file instead of Pulumi.<stack>.yaml")
        .action(
            async (opts: {
                stack: string;
                tenant?: string;
                service?: string;
                due?: boolean;
                retire?: boolean;
                force?: boolean;
                yes?: boolean;
                configFile?: string;
            }) => {
                if ((opts.tenant === undefined) === !opts.due) throw new CliError("tenantctl rotate: give exactly one of --tenant <id> and --due", EXIT.usage);
                if (opts.due && (opts.service !== undefined || opts.retire))
                    throw new CliError("tenantctl rotate: --due takes no --service or --retire (it does every step due)", EXIT.usage);
                const { rotate, RotationRefused } = await import("../core/rotate");
                try {
                    const { refused } = await rotate(opts);
                    if (refused.length > 0 && !opts.due) throw new CliError(`tenantctl rotate: refused (reasons above)`);
                } catch (err) {
                    if (err instanceof RotationRefused) throw new CliError(`tenantctl rotate: refused: ${err.message}`);
                    throw err;
                }
            },
        );
}
