/**
 * `tenantctl backup`: one backup set of a tenant into the region's archive
 * (what the daily job does in the cluster), the final backup of a cancelled
 * tenant (--final, Object Lock compliance for 7 years), and the GFS pruning
 * of the archive (--prune). core/archive.ts does the work.
 */
import type { Command } from "commander";
import { TENANT_ID_PATTERN } from "../lib/naming";
import { CliError, EXIT } from "./errors";

export function register(program: Command): void {
    program
        .command("backup")
        .description(
            "Back a tenant up into the region's archive bucket (databases and bucket objects); --final for a cancelled tenant's 7-year copy; --prune applies 30 daily / 12 weekly / 12 monthly retention.",
        )
        .requiredOption("--tenant <id>", "tenant id")
        .option("--final", "the final backup of a cancelled tenant, under S3 Object Lock (compliance, 7 years)")
        .option("--prune", "after the backup, delete the sets retention no longer keeps")
        .option("--prune-only", "prune without taking a backup")
        .option("--services <list>", "the tenant's services (the stack's `services` setting)", "auth,products,orders")
        .option(
            "--credentials-dir <dir>",
            "dump each database with its service's own credentials, read from <dir>/<service>/DB_* (the backup pod's mounted Secrets)",
        )
        .option("--local-dir <dir>", "also keep the dumps on this volume (the backup PVC), as many recent sets as fit its capacity")
        .action(
            async (opts: {
                tenant: string;
                final?: boolean;
                prune?: boolean;
                pruneOnly?: boolean;
                services: string;
                credentialsDir?: string;
                localDir?: string;
            }) => {
                if (!TENANT_ID_PATTERN.test(opts.tenant))
                    throw new CliError(
                        `tenantctl backup: --tenant "${opts.tenant}" is not a tenant id (lowercase letters, digits, single dashes).`,
                        EXIT.usage,
                    );
                const { archiveContext, backupTenant, credentialsDirConnections, dbConnectionEnv, pruneTenant, tenantData } = await import("../core/archive");
                const { objectStoreEnv } = await import("../core/objectStore");
                try {
                    const services = opts.services.split(",");
                    const dbFor = opts.credentialsDir ? credentialsDirConnections(opts.credentialsDir) : undefined;
                    const ctx = archiveContext(objectStoreEnv(), dbFor ? dbFor(services[0]) : dbConnectionEnv(), dbFor);
                    if (!opts.pruneOnly) {
                        const t0 = process.hrtime.bigint();
                        const m = await backupTenant(ctx, tenantData(opts.tenant, services), { final: opts.final, localDir: opts.localDir });
                        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
                        const dump = m.databases.reduce((n, d) => n + d.bytes, 0);
                        process.stdout.write(
                            `${m.kind} backup ${m.stamp} of tenant ${m.tenant}: ${m.databases.length} database(s), ${dump} bytes gzipped; ${m.objectCount} object(s), ${m.objectBytes} bytes; ${seconds.toFixed(1)} s${m.retainUntil ? `; locked until ${m.retainUntil}` : ""}\n`,
                        );
                    }
                    if (opts.prune || opts.pruneOnly) {
                        const r = await pruneTenant(ctx, opts.tenant);
                        process.stdout.write(
                            `retention: kept ${r.kept.length} set(s), deleted ${r.deleted.length}${r.deleted.length ? ` (${r.deleted.join(", ")})` : ""}${r.incomplete.length ? `, ${r.incomplete.length} incomplete (${r.incomplete.join(", ")})` : ""}, ${r.versionsDeleted} unreferenced object version(s)\n`,
                        );
                    }
                } catch (err) {
                    throw new CliError(`tenantctl backup: ${(err as Error).message}`);
                }
            },
        );
}
