/**
 * The seed's relabelling on a real Prometheus: the generated kubernetes-pods
 * job scrapes an HTTP endpoint of this test, and `up` comes back with the
 * tenant's labels.
 *
 * What this proves, and what not: Debian's Prometheus has no Kubernetes
 * discovery, so the targets come from file discovery carrying, as target
 * labels, the `__meta_kubernetes_*` labels Kubernetes pod discovery sets
 * (namespace, pod name, pod labels, pod annotations, sanitised as Prometheus
 * documents: `prometheus.io/scrape` → `__meta_kubernetes_pod_annotation_prometheus_io_scrape`).
 * Relabelling sees them exactly as it would see Kubernetes' (every `__`
 * label is visible to relabel_configs and dropped after it). So the job's
 * relabel rules are proven on a real server; that Kubernetes discovery sets
 * those labels is Prometheus' documented behaviour, not tested here.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { additionalScrapeConfigsYaml } from "../../lib/monitoring";
import { PROMETHEUS_TIMEOUT_MS, ensurePrometheus, eventually, instantQuery, startPrometheus, workDir, type RunningPrometheus } from "./prometheusHarness";

let server: http.Server;
let port: number;
let prometheus: RunningPrometheus | undefined;
const scraped: string[] = [];

/** The labels Kubernetes pod discovery gives a pod (the subset the job reads). */
function podTarget(namespace: string, pod: string, labels: Record<string, string>, annotations: Record<string, string>) {
    const meta: Record<string, string> = { __meta_kubernetes_namespace: namespace, __meta_kubernetes_pod_name: pod };
    for (const [k, v] of Object.entries(labels)) meta[`__meta_kubernetes_pod_label_${k.replace(/[^a-zA-Z0-9_]/g, "_")}`] = v;
    for (const [k, v] of Object.entries(annotations)) meta[`__meta_kubernetes_pod_annotation_${k.replace(/[^a-zA-Z0-9_]/g, "_")}`] = v;
    // A declared container port, as pod discovery sets __address__; the prometheus.io/port annotation redirects it.
    return { targets: ["127.0.0.1:1"], labels: meta };
}

beforeAll(async () => {
    ensurePrometheus();
    server = http.createServer((req, res) => {
        scraped.push(req.url ?? "");
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        res.end("# TYPE shop_orders_total counter\nshop_orders_total 42\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;

    const dir = workDir("relabel");
    const scrape = { "prometheus.io/scrape": "true", "prometheus.io/port": String(port), "prometheus.io/path": "/custom/metrics" };
    const tenantPod = (tier: string, id: string) => ({ tenant: `client-${id}`, tier, app: "api-gateway" });
    fs.writeFileSync(
        path.join(dir, "targets.json"),
        JSON.stringify([
            podTarget("e-commerce-client-abc", "api-gateway-7d9f", tenantPod("premium", "abc"), scrape),
            podTarget("e-commerce-client-a-b", "api-gateway-5c2e", tenantPod("standard", "a-b"), scrape),
            // Not a tenant namespace: scraped, but no tenant_id.
            podTarget("ingress-nginx", "controller-1", { app: "ingress-nginx" }, scrape),
            // Not annotated for scraping: never a target.
            podTarget("e-commerce-client-abc", "db-backup-1", tenantPod("premium", "abc"), {}),
        ]),
    );
    const jobs = parse(additionalScrapeConfigsYaml()) as Record<string, unknown>[];
    const withFileSd = jobs.map(({ kubernetes_sd_configs: _sd, ...job }) => ({
        ...job,
        scrape_interval: "1s",
        file_sd_configs: [{ files: [path.join(dir, "targets.json")], refresh_interval: "1s" }],
    }));
    prometheus = await startPrometheus(dir, stringify({ global: { scrape_interval: "1s", evaluation_interval: "1s" }, scrape_configs: withFileSd }));
}, PROMETHEUS_TIMEOUT_MS);

afterAll(async () => {
    prometheus?.stop();
    if (prometheus) fs.rmSync(prometheus.dir, { recursive: true, force: true });
    await new Promise((resolve) => server?.close(resolve));
});

test('up{tenant_id="abc",tenant="client-abc",subscription_tier="premium"} is exactly one series, scraped from our endpoint', async () => {
    const series = await eventually(
        async () => {
            const r = await instantQuery(prometheus!.url, 'up{tenant_id="abc",tenant="client-abc",subscription_tier="premium"}');
            return r.length > 0 ? r : undefined;
        },
        60_000,
        "the first scrape of abc's pod",
    );
    expect(series).toHaveLength(1);
    expect(series[0].metric).toEqual({
        __name__: "up",
        instance: `127.0.0.1:${port}`,
        job: "kubernetes-pods",
        namespace: "e-commerce-client-abc",
        pod: "api-gateway-7d9f",
        tenant: "client-abc",
        tenant_id: "abc",
        subscription_tier: "premium",
    });
    expect(series[0].value?.[1]).toBe("1");
    expect(scraped).toContain("/custom/metrics");
}, 90_000);

test("every series of the tenant's pods carries the labels; a tenant id with a hyphen; other namespaces get no tenant_id; unannotated pods are not scraped", async () => {
    const all = await eventually(
        async () => {
            const r = await instantQuery(prometheus!.url, 'shop_orders_total{job="kubernetes-pods"}');
            return r.length === 3 ? r : undefined;
        },
        60_000,
        "three scraped targets",
    );
    const byPod = Object.fromEntries(all.map((s) => [s.metric.pod, s.metric]));
    expect(Object.keys(byPod).sort()).toEqual(["api-gateway-5c2e", "api-gateway-7d9f", "controller-1"]);
    expect(byPod["api-gateway-7d9f"]).toMatchObject({ tenant_id: "abc", tenant: "client-abc", subscription_tier: "premium" });
    expect(byPod["api-gateway-5c2e"]).toMatchObject({ tenant_id: "a-b", tenant: "client-a-b", subscription_tier: "standard" });
    expect(byPod["controller-1"].tenant_id).toBeUndefined();
    expect(byPod["controller-1"].tenant).toBeUndefined();
    // No __meta_* label survives relabelling.
    for (const s of all) expect(Object.keys(s.metric).filter((k) => k.startsWith("__") && k !== "__name__")).toEqual([]);
    const targets = await instantQuery(prometheus!.url, 'count(up{job="kubernetes-pods"})');
    expect(targets[0].value?.[1]).toBe("3");
}, 90_000);
