/**
 * The monthly showback report (the seed's "Monthly Cost Breakdown"): what a
 * tenant used, against what its tier includes, and what it costs. Pure: the
 * queries are strings, the usage comes in as numbers per tenant id.
 *
 * The seed's billing metrics, one grouped query each (`sum by (tenant_id)`,
 * never one query per tenant), all over the month's window:
 *   CPU core-hours       increase of cAdvisor's container_cpu_usage_seconds_total / 3600
 *   memory GiB-hours     the recorded working set, integrated over its 1-minute evaluations
 *   storage GiB-months   the recorded volumes + buckets, averaged over the month
 *   network egress GiB   increase of cAdvisor's container_network_transmit_bytes_total
 *   API requests         increase of ingress-nginx's nginx_ingress_controller_requests
 *   DB transactions      increase of mysqld_exporter's userstat commit + rollback counters
 * "GB" in the report is GiB (2^30 bytes), the unit of the tiers' quotas.
 */
import type { TenantSpec } from "./manifest";
import { byIngress, byMysqlUser, byNamespace, RECORDED, RECORDING_INTERVAL_SECONDS, TENANT_SELECTORS } from "./monitoring";
import { tenantSlug } from "./naming";
import { tierSpec } from "./tiers";

export const GIB = 2 ** 30;
export const SHOWBACK_FORMATS = ["text", "csv", "json"] as const;
export type ShowbackFormat = (typeof SHOWBACK_FORMATS)[number];

export interface MonthWindow {
    /** YYYY-MM */
    readonly month: string;
    /** Unix seconds of the first instant of the month (UTC). */
    readonly start: number;
    /** Unix seconds of the first instant of the next month. */
    readonly end: number;
    readonly seconds: number;
    readonly hours: number;
}

/** The UTC window of a month, or an error message naming the expected form. */
export function monthWindow(month: string): MonthWindow {
    const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(month);
    if (!m) throw new Error(`month "${month}" is not YYYY-MM (e.g. 2025-01)`);
    const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, 1) / 1000;
    const end = Date.UTC(Number(m[1]), Number(m[2]), 1) / 1000;
    return { month, start, end, seconds: end - start, hours: (end - start) / 3600 };
}

export const USAGE_METRICS = ["cpuCoreHours", "memoryGiBHours", "storageGiBMonths", "egressGiB", "apiRequests", "dbTransactions"] as const;
export type UsageMetric = (typeof USAGE_METRICS)[number];
export type TenantUsage = Readonly<Record<UsageMetric, number>>;

/**
 * The six grouped PromQL queries of a month, each evaluated at `window.end`.
 * Counters: the increase from the sample at the month's first instant to the
 * one at its last (`[month]` includes both ends). Recorded gauges: their
 * evaluations inside (start, end], hence a range one second shorter than the month.
 */
export function showbackQueries(window: MonthWindow): Record<UsageMetric, string> {
    const month = `${window.seconds}s`;
    const gauge = `${window.seconds - 1}s`;
    const ns = TENANT_SELECTORS.namespace;
    return {
        cpuCoreHours: `sum by (tenant_id) (${byNamespace(`sum by (namespace) (increase(container_cpu_usage_seconds_total{${ns},container!="",container!="POD"}[${month}]))`)}) / 3600`,
        memoryGiBHours: `sum by (tenant_id) (sum_over_time(${RECORDED.memory}[${gauge}])) * ${RECORDING_INTERVAL_SECONDS / 3600} / ${GIB}`,
        storageGiBMonths: `sum by (tenant_id) (sum_over_time(${RECORDED.storage}[${gauge}])) * ${RECORDING_INTERVAL_SECONDS / window.seconds} / ${GIB}`,
        egressGiB: `sum by (tenant_id) (${byNamespace(`sum by (namespace) (increase(container_network_transmit_bytes_total{${ns}}[${month}]))`)}) / ${GIB}`,
        apiRequests: `sum by (tenant_id) (${byIngress(`sum by (ingress) (increase(nginx_ingress_controller_requests{${TENANT_SELECTORS.ingress}}[${month}]))`)})`,
        dbTransactions: `sum by (tenant_id) (${byMysqlUser(transactions(month))})`,
    };
}

/** COMMITs plus ROLLBACKs per MySQL user; either may be missing for a user. */
function transactions(month: string): string {
    const sel = TENANT_SELECTORS.mysqlUser;
    const [commit, rollback] = ["commit", "rollback"].map(
        (k) => `sum by (user) (increase(mysql_info_schema_user_statistics_${k}_transactions_total{${sel}}[${month}]))`,
    );
    return `(${commit} + ${rollback}) or ${commit} or ${rollback}`;
}

export interface ShowbackEntry {
    readonly tenantId: string;
    readonly client: string;
    readonly tier: TenantSpec["tier"];
    readonly period: string;
    readonly usage: TenantUsage;
    readonly sites: number;
    /** Averages over the month: cores, GiB of memory, GiB of storage. */
    readonly average: { readonly cpuCores: number; readonly memoryGiB: number; readonly storageGiB: number };
    readonly included: { readonly cpuCores: number; readonly memoryGiB: number; readonly storageGiB: number; readonly sites: number };
    readonly baseFeeCents: number;
    readonly overageCents: { readonly cpu: number; readonly memory: number; readonly storage: number; readonly sites: number };
    readonly overagesCents: number;
    readonly totalCents: number;
}

/** EUR to whole cents, half up (each overage line is rounded on its own). */
export function cents(eur: number): number {
    return Math.round(eur * 100);
}

/** Tenants billed for a month: created before its end, in id order. */
export function billedTenants(tenants: readonly TenantSpec[], window: MonthWindow): TenantSpec[] {
    return tenants.filter((t) => Date.parse(`${t.createdDate}T00:00:00Z`) / 1000 < window.end).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** One tenant's report from its usage (a metric Prometheus had nothing for counts as 0). */
export function showbackEntry(t: TenantSpec, window: MonthWindow, usage: Partial<TenantUsage>): ShowbackEntry {
    const spec = tierSpec(t.tier);
    const u = Object.fromEntries(USAGE_METRICS.map((m) => [m, usage[m] ?? 0])) as Record<UsageMetric, number>;
    const sites = 1 + t.customDomains.length;
    const overageCents = {
        cpu: cents(Math.max(0, u.cpuCoreHours - spec.allocation.cpu * window.hours) * spec.overage.cpuCoreHourEur),
        memory: cents(Math.max(0, u.memoryGiBHours - spec.allocation.memoryGiB * window.hours) * spec.overage.memoryGiBHourEur),
        storage: cents(Math.max(0, u.storageGiBMonths - spec.storageGiB) * spec.overage.storageGiBMonthEur),
        sites: Math.max(0, sites - spec.siteLimit) * cents(spec.overage.siteEur),
    };
    const overagesCents = overageCents.cpu + overageCents.memory + overageCents.storage + overageCents.sites;
    const baseFeeCents = cents(spec.baseFeeEur);
    return {
        tenantId: t.id,
        client: tenantSlug(t.id),
        tier: t.tier,
        period: window.month,
        usage: u,
        sites,
        average: { cpuCores: u.cpuCoreHours / window.hours, memoryGiB: u.memoryGiBHours / window.hours, storageGiB: u.storageGiBMonths },
        included: { cpuCores: spec.allocation.cpu, memoryGiB: spec.allocation.memoryGiB, storageGiB: spec.storageGiB, sites: spec.siteLimit },
        baseFeeCents,
        overageCents,
        overagesCents,
        totalCents: baseFeeCents + overagesCents,
    };
}

/** The report of every billed tenant, from the grouped query results (tenant id → value per metric). */
export function showbackReport(
    tenants: readonly TenantSpec[],
    window: MonthWindow,
    results: Readonly<Record<UsageMetric, ReadonlyMap<string, number>>>,
): ShowbackEntry[] {
    return billedTenants(tenants, window).map((t) => showbackEntry(t, window, Object.fromEntries(USAGE_METRICS.map((m) => [m, results[m].get(t.id) ?? 0]))));
}

const eur = (c: number) => `${(c / 100).toFixed(2)} EUR`;
/** A figure as the seed writes it: at most two decimals, no trailing zeros (6, 12, 145, 5.83). */
export function figure(x: number): string {
    return String(Number(x.toFixed(2)));
}
const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** One tenant in the seed's layout, line for line. */
export function formatEntryText(e: ShowbackEntry): string {
    const within = (over: number, what: string) => (over > 0 ? `over ${what}` : `within ${what}`);
    const cores = figure(e.average.cpuCores);
    return [
        `Client: ${e.client}`,
        `Tier: ${capitalized(e.tier)}`,
        `Period: ${e.period}`,
        "",
        `Base Fee: ${eur(e.baseFeeCents)}`,
        "",
        "Resource Usage:",
        `  - CPU: ${cores} ${cores === "1" ? "core" : "cores"} (${within(e.average.cpuCores - e.included.cpuCores, "quota")})`,
        `  - Memory: ${figure(e.average.memoryGiB)} GB (${within(e.average.memoryGiB - e.included.memoryGiB, "quota")})`,
        `  - Storage: ${figure(e.average.storageGiB)} GB (${within(e.average.storageGiB - e.included.storageGiB, `${e.included.storageGiB} GB quota`)})`,
        `  - Sites: ${e.sites} (${within(e.sites - e.included.sites, "limit")})`,
        "",
        `Overages: ${eur(e.overagesCents)}`,
        "",
        `Total: ${eur(e.totalCents)}`,
    ].join("\n");
}

export function formatText(entries: readonly ShowbackEntry[]): string {
    return entries.map(formatEntryText).join("\n\n") + "\n";
}

export const CSV_COLUMNS = [
    "tenant_id",
    "client",
    "tier",
    "period",
    "cpu_core_hours",
    "memory_gib_hours",
    "storage_gib_months",
    "egress_gib",
    "api_requests",
    "db_transactions",
    "sites",
    "base_fee_eur",
    "cpu_overage_eur",
    "memory_overage_eur",
    "storage_overage_eur",
    "sites_overage_eur",
    "overages_eur",
    "total_eur",
] as const;

/** Usage with 6 decimals (enough for any sub-cent price), money with 2. */
export function formatCsv(entries: readonly ShowbackEntry[]): string {
    const q = (x: number) => String(Number(x.toFixed(6)));
    const m = (c: number) => (c / 100).toFixed(2);
    const rows = entries.map((e) =>
        [
            e.tenantId,
            e.client,
            e.tier,
            e.period,
            ...USAGE_METRICS.map((k) => q(e.usage[k])),
            String(e.sites),
            m(e.baseFeeCents),
            m(e.overageCents.cpu),
            m(e.overageCents.memory),
            m(e.overageCents.storage),
            m(e.overageCents.sites),
            m(e.overagesCents),
            m(e.totalCents),
        ].join(","),
    );
    return [CSV_COLUMNS.join(","), ...rows].join("\n") + "\n";
}

export function formatJson(entries: readonly ShowbackEntry[], window: MonthWindow): string {
    return (
        JSON.stringify(
            {
                period: window.month,
                start: new Date(window.start * 1000).toISOString(),
                end: new Date(window.end * 1000).toISOString(),
                currency: "EUR",
                tenants: entries,
            },
            null,
            2,
        ) + "\n"
    );
}
