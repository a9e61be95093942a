/**
 * The Grafana dashboards, built with the Grafana Foundation SDK (pure
 * builders, no I/O): one over all tenants of a region, one per tenant (seed
 * onboarding step 7). Every query of a tenant's dashboard is filtered to its
 * `tenant_id` (the id, `abc`: see the README on the two meanings of
 * `tenant_id`); they read the recorded series of lib/monitoring.ts, and the
 * scrape health of the tenant's own pods (`up`, labelled by the seed's
 * relabelling).
 */
import { DashboardBuilder, DashboardCursorSync, type Dashboard } from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus";
import { PanelBuilder as TimeseriesPanelBuilder } from "@grafana/grafana-foundation-sdk/timeseries";
import { RECORDED } from "./monitoring";
import { prometheusTenantId, tenantSlug } from "./naming";
import type { Region } from "./regions";

/** The kube-prometheus-stack Grafana's Prometheus datasource. */
export const PROMETHEUS_DATASOURCE = { type: "prometheus", uid: "prometheus" } as const;
/** Label the Grafana sidecar collects dashboards by (kube-prometheus-stack's `sidecar.dashboards.label`). */
export const DASHBOARD_LABEL = { grafana_dashboard: "1" } as const;
/** Annotation the sidecar files a dashboard under (`sidecar.dashboards.folderAnnotation`). */
export const FOLDER_ANNOTATION = "grafana_folder";
/** Key of the dashboard JSON in its ConfigMap. */
export const DASHBOARD_CONFIGMAP_KEY = "dashboard.json";
export const TENANT_DASHBOARD_CONFIGMAP = "grafana-dashboard";

export interface PanelQuery {
    readonly expr: string;
    readonly legend: string;
}
export interface PanelSpec {
    readonly title: string;
    readonly unit: string;
    readonly queries: readonly PanelQuery[];
}

/** The panels of tenant `id`'s dashboard: the seed's key metrics, each filtered to its tenant_id. */
export function tenantPanels(id: string): PanelSpec[] {
    const own = `{tenant_id="${prometheusTenantId(id)}"}`;
    const one = (title: string, unit: string, expr: string, legend: string): PanelSpec => ({ title, unit, queries: [{ expr, legend }] });
    return [
        one("Request rate", "reqps", `${RECORDED.requests}${own}`, "requests/s"),
        one("Error rate (5xx)", "percent", `100 * ${RECORDED.errorRatio}${own}`, "errors %"),
        {
            title: "Response time",
            unit: "s",
            queries: [
                { expr: `${RECORDED.latencyP50}${own}`, legend: "p50" },
                { expr: `${RECORDED.latencyP95}${own}`, legend: "p95" },
                { expr: `${RECORDED.latencyP99}${own}`, legend: "p99" },
            ],
        },
        one("CPU", "short", `${RECORDED.cpu}${own}`, "cores"),
        one("Memory", "bytes", `${RECORDED.memory}${own}`, "working set"),
        one("Storage", "bytes", `${RECORDED.storage}${own}`, "volumes and buckets"),
        one("Database connections", "short", `${RECORDED.dbConnections}${own}`, "connections"),
        one("RabbitMQ queue depth", "short", `${RECORDED.queueDepth}${own}`, "messages"),
        one("Quota used", "percent", `100 * ${RECORDED.quotaUsage}${own}`, "{{resource}}"),
        one("Scrape health of the tenant's pods", "short", `up${own}`, "{{pod}}"),
    ];
}

/** The panels of a region's dashboard over all its tenants. */
export function regionPanels(): PanelSpec[] {
    const one = (title: string, unit: string, expr: string, legend: string): PanelSpec => ({ title, unit, queries: [{ expr, legend }] });
    return [
        {
            title: "Request rate",
            unit: "reqps",
            queries: [
                { expr: `sum(${RECORDED.requests})`, legend: "all tenants" },
                { expr: `topk(10, ${RECORDED.requests})`, legend: "{{tenant_id}}" },
            ],
        },
        one("Error rate (5xx), worst 10 tenants", "percent", `topk(10, 100 * ${RECORDED.errorRatio})`, "{{tenant_id}}"),
        one("p95 response time, slowest 10 tenants", "s", `topk(10, ${RECORDED.latencyP95})`, "{{tenant_id}}"),
        {
            title: "CPU",
            unit: "short",
            queries: [
                { expr: `sum(${RECORDED.cpu})`, legend: "all tenants" },
                { expr: `topk(10, ${RECORDED.cpu})`, legend: "{{tenant_id}}" },
            ],
        },
        one("Memory, top 10 tenants", "bytes", `topk(10, ${RECORDED.memory})`, "{{tenant_id}}"),
        one("Storage, top 10 tenants", "bytes", `topk(10, ${RECORDED.storage})`, "{{tenant_id}}"),
        one("Database connections", "short", `sum(${RECORDED.dbConnections})`, "all tenants"),
        one("RabbitMQ queue depth, top 10 tenants", "short", `topk(10, ${RECORDED.queueDepth})`, "{{tenant_id}}"),
        one("Fullest quota per tenant, top 10", "percent", `topk(10, 100 * max by (tenant_id) (${RECORDED.quotaUsage}))`, "{{tenant_id}}"),
        one("Tenants with pods scraped", "short", `count(count by (tenant_id) (up{tenant_id!=""}))`, "tenants"),
    ];
}

function build(uid: string, title: string, tags: string[], panels: readonly PanelSpec[]): Dashboard {
    const dashboard = new DashboardBuilder(title)
        .uid(uid)
        .tags(tags)
        .refresh("1m")
        .time({ from: "now-6h", to: "now" })
        .timezone("browser")
        .tooltip(DashboardCursorSync.Crosshair)
        .readonly();
    for (const panel of panels) {
        const builder = new TimeseriesPanelBuilder().title(panel.title).unit(panel.unit).datasource(PROMETHEUS_DATASOURCE).height(8).span(12);
        panel.queries.forEach((q, i) => {
            builder.withTarget(
                new DataqueryBuilder()
                    .expr(q.expr)
                    .legendFormat(q.legend)
                    .refId(String.fromCharCode(65 + i))
                    .datasource(PROMETHEUS_DATASOURCE),
            );
        });
        dashboard.withPanel(builder);
    }
    return dashboard.build();
}

/** Tenant `id`'s dashboard: title and uid from the id only, so a display-name change touches nothing. */
export function tenantDashboard(id: string): Dashboard {
    return build(`tenant-${tenantSlug(id)}`, `Tenant ${tenantSlug(id)}`, ["collectverything", "tenant", tenantSlug(id)], tenantPanels(id));
}

/** The region's dashboard over all tenants. */
export function regionDashboard(region: Region): Dashboard {
    return build(`tenants-${region}`, `Tenants of ${region}`, ["collectverything", "region", region], regionPanels());
}

/** Every PromQL query of a dashboard, in panel order (what the contract test runs against Prometheus). */
export function dashboardQueries(dashboard: Dashboard): { panel: string; expr: string }[] {
    const out: { panel: string; expr: string }[] = [];
    for (const panel of dashboard.panels ?? []) {
        if (!("targets" in panel)) continue;
        for (const target of panel.targets ?? []) {
            const expr = (target as { expr?: unknown }).expr;
            if (typeof expr === "string") out.push({ panel: panel.title ?? "", expr });
        }
    }
    return out;
}

/** The Grafana folder of a tenant's dashboard: named after the tenant. */
export function tenantDashboardFolder(id: string): string {
    return tenantSlug(id);
}
