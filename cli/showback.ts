/**
 * `tenantctl showback`: the monthly showback report of a region's tenants,
 * from its Prometheus. Six grouped queries (lib/showback.ts), one per billing
 * metric, whatever the number of tenants.
 */
import { InvalidArgumentError, type Command } from "commander";
import { loadManifest } from "../core/manifestSource";
import { ManifestError } from "../lib/manifest";
import { isRegion, REGIONS } from "../lib/regions";
import { formatCsv, formatJson, formatText, monthWindow, SHOWBACK_FORMATS, showbackReport, type MonthWindow, type ShowbackFormat } from "../lib/showback";
import { choice } from "./args";
import { CliError } from "./errors";
import { collectUsage } from "./showbackUsage";

export const DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090";

interface ShowbackOptions {
    month: MonthWindow;
    region?: string;
    tenant?: string;
    prometheus: string;
    format: ShowbackFormat;
    manifest: string;
}

function month(value: string): MonthWindow {
    try {
        return monthWindow(value);
    } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
    }
}

function region(value: string): string {
    if (!isRegion(value)) throw new InvalidArgumentError(`expected one of ${REGIONS.join(", ")}`);
    return value;
}

export function register(program: Command): void {
    program
        .command("showback")
        .description("The monthly showback report per tenant (the seed's layout), from the region's Prometheus: usage against the tier, overages, total.")
        .requiredOption("--month <YYYY-MM>", "the month to report (UTC)", month)
        .option("--region <region>", "only this region's tenants", region)
        .option("--tenant <id>", "only this tenant")
        .option("--prometheus <url>", "the region's Prometheus", DEFAULT_PROMETHEUS_URL)
        .option("--format <format>", "text, csv or json", choice(SHOWBACK_FORMATS), "text")
        .option("--manifest <file>", "tenants manifest", "tenants.yaml")
        .action(async (opts: ShowbackOptions) => {
            let tenants;
            try {
                tenants = loadManifest(opts.manifest).tenants;
            } catch (err) {
                if (err instanceof ManifestError) throw new CliError(err.message);
                throw err;
            }
            tenants = tenants.filter((t) => (opts.region === undefined || t.region === opts.region) && (opts.tenant === undefined || t.id === opts.tenant));
            if (opts.tenant !== undefined && tenants.length === 0) {
                throw new CliError(`tenantctl showback: no tenant "${opts.tenant}"${opts.region ? ` in region ${opts.region}` : ""} in ${opts.manifest}`);
            }
            const usage = await collectUsage(opts.prometheus, opts.month);
            const report = showbackReport(tenants, opts.month, usage);
            const out = opts.format === "json" ? formatJson(report, opts.month) : opts.format === "csv" ? formatCsv(report) : formatText(report);
            process.stdout.write(out);
        });
}
