/**
 * Every panel query of the dashboards, run on a real Prometheus (Grafana's
 * server cannot run here): a backfilled dataset of the exporters' raw series
 * for two tenants and a namespace that is nobody's, the region's recording
 * rules backfilled over it with `promtool tsdb create-blocks-from rules`, then
 * each panel's PromQL through the query_range API. Each query returns without
 * error and with data; on a tenant's dashboard every series is that tenant's.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { dashboardQueries, regionDashboard, tenantDashboard } from "../../lib/dashboards";
import { ruleFileYaml } from "../../lib/monitoring";
import {
    PROMETHEUS_TIMEOUT_MS,
    backfill,
    ensurePrometheus,
    instantQuery,
    promtool,
    rangeQuery,
    sample,
    startPrometheus,
    workDir,
    type RunningPrometheus,
} from "./prometheusHarness";

const START = Date.UTC(2025, 2, 1) / 1000; // 2025-03-01T00:00:00Z
const END = START + 3 * 3600;
const STEP = 30;
const TENANTS = [
    { id: "abc", tier: "premium", rps: 40 },
    { id: "a-b", tier: "standard", rps: 5 },
];

function dataset(): string {
    const families = new Map<string, string>();
    const series = (name: string, labels: Record<string, string>, value: (i: number) => number) => {
        let text = "";
        for (let i = 0, t = START; t <= END; i++, t += STEP) text += sample(name, labels, value(i), t);
        families.set(name, (families.get(name) ?? "") + text);
    };
    const ramp = (perSecond: number) => (i: number) => perSecond * STEP * i;
    for (const t of TENANTS) {
        const ns = `e-commerce-client-${t.id}`;
        const ingress = `client-${t.id}-ingress`;
        series("nginx_ingress_controller_requests", { ingress, exported_namespace: ns, status: "200" }, ramp(t.rps));
        series("nginx_ingress_controller_requests", { ingress, exported_namespace: ns, status: "502" }, ramp(t.rps / 20));
        for (const [le, share] of [
            ["0.1", 0.5],
            ["0.5", 0.9],
            ["2", 0.99],
            ["+Inf", 1],
        ] as const) {
            series("nginx_ingress_controller_request_duration_seconds_bucket", { ingress, le }, ramp(t.rps * share));
        }
        series("container_cpu_usage_seconds_total", { namespace: ns, pod: "api-gateway-0", container: "api-gateway" }, ramp(0.4));
        series("container_memory_working_set_bytes", { namespace: ns, pod: "api-gateway-0", container: "api-gateway" }, () => 512 * 2 ** 20);
        series("kubelet_volume_stats_used_bytes", { namespace: ns, persistentvolumeclaim: "backup-pvc" }, (i) => 2 ** 30 + i);
        series("minio_bucket_usage_total_bytes", { bucket: `client-${t.id}-products`, server: "minio-0:9000" }, () => 3 * 2 ** 30);
        series("mysql_info_schema_user_statistics_concurrent_connections", { user: `client_${t.id.replace(/-/g, "_")}_auth_user` }, () => 4);
        series("rabbitmq_queue_messages", { vhost: `/client-${t.id}`, queue: `client-${t.id}.orders` }, (i) => i % 50);
        series("kube_resourcequota", { namespace: ns, resourcequota: "client-quota", resource: "pods", type: "used" }, () => 12);
        series("kube_resourcequota", { namespace: ns, resourcequota: "client-quota", resource: "pods", type: "hard" }, () => 20);
        // What the kubernetes-pods job's relabelling gives the tenant's pods (test/contract/prometheus.test.ts proves it).
        series(
            "up",
            {
                job: "kubernetes-pods",
                instance: "10.0.0.1:8080",
                namespace: ns,
                pod: "api-gateway-0",
                tenant_id: t.id,
                tenant: `client-${t.id}`,
                subscription_tier: t.tier,
            },
            () => 1,
        );
    }
    // Series of nobody: in every family a tenant reads, none may reach a tenant's panel.
    series("nginx_ingress_controller_requests", { ingress: "grafana", exported_namespace: "e-commerce-shared", status: "200" }, ramp(100));
    series("container_cpu_usage_seconds_total", { namespace: "e-commerce-shared", pod: "rabbitmq-0", container: "rabbitmq" }, ramp(2));
    series("container_memory_working_set_bytes", { namespace: "e-commerce-shared", pod: "rabbitmq-0", container: "rabbitmq" }, () => 4 * 2 ** 30);
    series("mysql_info_schema_user_statistics_concurrent_connections", { user: "platform_admin" }, () => 9);
    series("rabbitmq_queue_messages", { vhost: "/", queue: "tenant-platform.deploy.eu-west" }, () => 3);
    series("up", { job: "kubernetes-pods", instance: "10.0.0.9:8080", namespace: "ingress-nginx", pod: "controller-0" }, () => 1);
    return [...families.values()].join("");
}

let prometheus: RunningPrometheus | undefined;

beforeAll(async () => {
    ensurePrometheus();
    const dir = workDir("dashboards");
    const data = path.join(dir, "data");
    backfill(dir, dataset(), data);
    // The recording rules, evaluated over the raw data by promtool against a first server.
    const raw = await startPrometheus(dir, "global:\n  scrape_interval: 30s\n");
    const rules = path.join(dir, "rules.yaml");
    fs.writeFileSync(rules, ruleFileYaml());
    const recorded = path.join(dir, "recorded");
    try {
        promtool([
            "tsdb",
            "create-blocks-from",
            "rules",
            `--start=${START}`,
            `--end=${END}`,
            `--url=${raw.url}`,
            `--output-dir=${recorded}`,
            "--eval-interval=60s",
            rules,
        ]);
    } finally {
        raw.stop();
    }
    for (const block of fs.readdirSync(recorded)) fs.renameSync(path.join(recorded, block), path.join(data, block));
    prometheus = await startPrometheus(dir, "global:\n  scrape_interval: 30s\n");
}, PROMETHEUS_TIMEOUT_MS);

afterAll(() => {
    prometheus?.stop();
    if (prometheus) fs.rmSync(prometheus.dir, { recursive: true, force: true });
});

const run = (expr: string) => rangeQuery(prometheus!.url, expr, START + 600, END, 60);

describe.each(TENANTS.map((t) => [t.id]))("the dashboard of tenant %s", (id) => {
    const queries = dashboardQueries(tenantDashboard(id));

    test("has the seed's key metrics: 10 panels, 12 queries", () => {
        expect(new Set(queries.map((q) => q.panel)).size).toBe(10);
        expect(queries).toHaveLength(12);
    });

    test.each(queries.map((q) => [q.panel, q.expr]))("%s: %s returns data, every series the tenant's own", async (_panel, expr) => {
        const result = await run(expr);
        expect(result.length).toBeGreaterThan(0);
        expect(result.every((s) => (s.values ?? []).length > 0)).toBe(true);
        expect(result.map((s) => s.metric.tenant_id)).toEqual(result.map(() => id));
    });
});

describe("the region's dashboard", () => {
    const queries = dashboardQueries(regionDashboard("eu-west"));

    test("has 10 panels, 12 queries", () => {
        expect(new Set(queries.map((q) => q.panel)).size).toBe(10);
        expect(queries).toHaveLength(12);
    });

    test.each(queries.map((q) => [q.panel, q.expr]))("%s: %s returns data", async (_panel, expr) => {
        const result = await run(expr);
        expect(result.length).toBeGreaterThan(0);
        expect(result.every((s) => (s.values ?? []).length > 0)).toBe(true);
        // Per-tenant series name only the tenants of the dataset.
        for (const s of result) if (s.metric.tenant_id !== undefined) expect(TENANTS.map((t) => t.id)).toContain(s.metric.tenant_id);
    });

    test("what each tenant adds to the region's Prometheus: 11 recorded series, plus one per quota resource (the dataset has one: pods)", async () => {
        // lib/monitoring.ts: requests, errors, error ratio, p50, p95, p99, CPU, memory, storage, DB connections, queue depth (one series
        // each), and the quota usage ratio per resource with a hard limit above 0 (a real tier has 7 of its 8: services.loadbalancers is 0).
        const counts = await instantQuery(prometheus!.url, 'count by (tenant_id) ({__name__=~"tenant_id:.+"})', END);
        expect(Object.fromEntries(counts.map((s) => [s.metric.tenant_id, Number(s.value![1])]))).toEqual({ abc: 12, "a-b": 12 });
    });

    test("the tenants' series are both there, per tenant", async () => {
        const result = await run("topk(10, tenant_id:http_requests:rate5m)");
        expect(result.map((s) => s.metric.tenant_id).sort()).toEqual(["a-b", "abc"]);
    });
});
