/**
 * The showback's reads of Prometheus: the six grouped queries of
 * lib/showback.ts, run concurrently through the HTTP API (no command-line
 * parsing here, so the scale measurement can load it).
 */
import { showbackQueries, USAGE_METRICS, type MonthWindow, type UsageMetric } from "../lib/showback";
import { CliError, EXIT } from "./errors";

/** One instant query: tenant id → value. */
export async function queryByTenant(prometheusUrl: string, query: string, time: number): Promise<Map<string, number>> {
    let response: Response;
    try {
        response = await fetch(`${prometheusUrl.replace(/\/$/, "")}/api/v1/query`, {
            method: "POST",
            body: new URLSearchParams({ query, time: String(time) }),
        });
    } catch (err) {
        throw new CliError(
            `tenantctl showback: Prometheus at ${prometheusUrl} cannot be reached (${(err as Error).message}). Fix: pass --prometheus <url> of the region's Prometheus.`,
            EXIT.usage,
        );
    }
    const body = (await response.json().catch(() => ({}))) as {
        status?: string;
        error?: string;
        data?: { result?: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== "success")
        throw new CliError(`tenantctl showback: Prometheus refused a query (${body.error ?? `HTTP ${response.status}`}): ${query}`, EXIT.usage);
    const out = new Map<string, number>();
    for (const series of body.data?.result ?? []) {
        const id = series.metric.tenant_id;
        if (id) out.set(id, Number(series.value[1]));
    }
    return out;
}

/** The six grouped queries, run concurrently: tenant id → value, per metric. */
export async function collectUsage(prometheusUrl: string, window: MonthWindow): Promise<Record<UsageMetric, Map<string, number>>> {
    const queries = showbackQueries(window);
    const results = await Promise.all(USAGE_METRICS.map((m) => queryByTenant(prometheusUrl, queries[m], window.end)));
    return Object.fromEntries(USAGE_METRICS.map((m, i) => [m, results[i]])) as Record<UsageMetric, Map<string, number>>;
}
