/**
 * `tenantctl export`: a portable archive of a tenant's data (GDPR data
 * portability): every database dump, every bucket object, the RabbitMQ
 * vhost's definitions, the manifest entry and a SHA256SUMS file.
 */
import type { Command } from "commander";
import { loadManifest } from "../core/manifestSource";
import { ManifestError } from "../lib/manifest";
import { vhostName } from "../lib/naming";
import { CliError } from "./errors";

export function register(program: Command): void {
    program
        .command("export")
        .description(
            "Write a portable archive of a tenant's data to a directory or s3://bucket/prefix: database dumps, bucket objects, RabbitMQ definitions, manifest entry, SHA256SUMS.",
        )
        .requiredOption("--tenant <id>", "tenant id")
        .requiredOption("--out <dir|s3://bucket/prefix>", "a local directory, or s3://bucket/prefix on the archive's S3 server")
        .option("--manifest <file>", "tenants manifest", "tenants.yaml")
        .option("--services <list>", "the tenant's services (the stack's `services` setting)", "auth,products,orders")
        .action(async (opts: { tenant: string; out: string; manifest: string; services: string }) => {
            let entry;
            try {
                entry = loadManifest(opts.manifest).tenants.find((t) => t.id === opts.tenant);
            } catch (err) {
                if (err instanceof ManifestError) throw new CliError(err.message);
                throw err;
            }
            if (!entry) throw new CliError(`tenantctl export: no tenant "${opts.tenant}" in ${opts.manifest}. Fix: check --tenant or --manifest.`);
            const { archiveContext, dbConnectionEnv, exportTenant, parseExportTarget, rabbitmqEnv, tenantData } = await import("../core/archive");
            const { objectStoreEnv } = await import("../core/objectStore");
            try {
                const target = parseExportTarget(opts.out);
                const ctx = archiveContext(objectStoreEnv(), dbConnectionEnv());
                const t0 = process.hrtime.bigint();
                const report = await exportTenant(ctx, tenantData(opts.tenant, opts.services.split(",")), entry, vhostName(opts.tenant), rabbitmqEnv(), target);
                const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
                process.stdout.write(
                    `exported tenant ${opts.tenant} to ${report.root}: ${report.entries.length} files, ${report.bytes} bytes, in ${seconds.toFixed(1)} s\n`,
                );
            } catch (err) {
                throw new CliError(`tenantctl export: ${(err as Error).message}`);
            }
        });
}
