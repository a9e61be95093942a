/**
 * `tenantctl restore`: a tenant's databases and bucket objects back from the
 * region's archive (core/archive.ts). Without --yes it prints the plan only.
 */
import type { Command } from "commander";
import { TENANT_ID_PATTERN } from "../lib/naming";
import { CliError, EXIT } from "./errors";

export interface RestoreOptions {
    tenant: string;
    service?: string;
    from: string;
    yes?: boolean;
    services: string;
}

export function register(program: Command): void {
    program
        .command("restore")
        .description("Restore a tenant's databases and bucket objects from the region's archive bucket; shows the plan without --yes.")
        .requiredOption("--tenant <id>", "tenant id")
        .option("--service <service>", "only this service's database, or 'buckets' for the bucket objects only")
        .option("--from <when>", "latest, a date YYYY-MM-DD (the newest backup taken that day or before) or a backup stamp YYYYMMDD-HHMMSS", "latest")
        .option("--services <list>", "the tenant's services (the stack's `services` setting)", "auth,products,orders")
        .option("--yes", "apply the plan")
        .action(async (opts: RestoreOptions) => {
            if (!TENANT_ID_PATTERN.test(opts.tenant))
                throw new CliError(`tenantctl restore: --tenant "${opts.tenant}" is not a tenant id (lowercase letters, digits, single dashes).`, EXIT.usage);
            const { archiveContext, dbConnectionEnv, describePlan, planRestore, restore, tenantData } = await import("../core/archive");
            const { objectStoreEnv } = await import("../core/objectStore");
            let ctx;
            let plan;
            try {
                const store = objectStoreEnv();
                ctx = archiveContext(store, dbConnectionEnv());
                plan = await planRestore(ctx, tenantData(opts.tenant, opts.services.split(",")), opts.from, opts.service);
                process.stdout.write(`${describePlan(plan, store.archiveBucket)}\n`);
            } catch (err) {
                throw new CliError(`tenantctl restore: ${(err as Error).message}`);
            }
            if (!opts.yes) {
                process.stdout.write("dry run: nothing changed. Run again with --yes to restore.\n");
                return;
            }
            const t0 = process.hrtime.bigint();
            const report = await restore(ctx, plan);
            const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
            process.stdout.write(
                `restored ${report.databases} database(s) (${report.dumpBytes} bytes gzipped), wrote ${report.objectsWritten} object(s) (${report.objectBytes} bytes), deleted ${report.objectsDeleted}, in ${seconds.toFixed(1)} s\n`,
            );
        });
}
