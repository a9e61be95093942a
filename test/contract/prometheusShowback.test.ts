/**
 * `tenantctl showback` against a real Prometheus holding a month of series
 * (January 2025) for three tenants, backfilled with promtool. Every figure of
 * the report is compared with a total this test computes from the samples it
 * wrote, with the README's rules and the tier catalog's prices, to the cent.
 *
 * abc (premium) stays within its tier; nordic (standard) stores more than its
 * 50 GiB on average and has two sites for one included; kiwi (business) uses
 * more CPU than its 12 cores.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { tierSpec } from "../../lib/tiers";
import { REPO_ROOT } from "../support/contract";
import { PROMETHEUS_TIMEOUT_MS, backfill, ensurePrometheus, sample, startPrometheus, workDir, type RunningPrometheus } from "./prometheusHarness";

const START = Date.UTC(2025, 0, 1) / 1000; // 2025-01-01T00:00:00Z
const HOURS = 744; // to 2025-02-01T00:00:00Z
const GIB = 2 ** 30;

interface Fixture {
    readonly id: string;
    readonly tier: "standard" | "premium" | "business";
    readonly customDomains: string[];
    /** Mean cores per container (two containers), GiB of memory and of storage. */
    readonly cores: number;
    readonly memoryGiB: number;
    readonly storageGiB: number;
}

const TENANTS: Fixture[] = [
    { id: "abc", tier: "premium", customDomains: ["shop.client-abc.com"], cores: 2.5, memoryGiB: 9, storageGiB: 120 },
    { id: "nordic", tier: "standard", customDomains: ["nordic-home.example"], cores: 0.6, memoryGiB: 3, storageGiB: 61.5 },
    { id: "kiwi", tier: "business", customDomains: [], cores: 6.75, memoryGiB: 20, storageGiB: 300 },
];

/** Deterministic noise in [-1, 1). */
function noise(seed: number): number {
    const x = Math.sin(seed * 12.9898) * 43758.5453;
    return 2 * (x - Math.floor(x)) - 1;
}

/** What the test expects, computed from the very samples it writes. */
const expected = new Map<
    string,
    { cpuCoreHours: number; memoryGiBHours: number; storageGiBMonths: number; egressGiB: number; apiRequests: number; dbTransactions: number }
>();

/** A counter sampled every hour from START to END inclusive; returns the OpenMetrics lines and its increase. */
function counter(name: string, labels: Record<string, string>, perHour: (h: number) => number, resetAt?: number): { text: string; increase: number } {
    let value = 0;
    let increase = 0;
    let text = sample(name, labels, 0, START);
    for (let h = 1; h <= HOURS; h++) {
        const inc = perHour(h);
        increase += inc;
        value = h === resetAt ? inc : value + inc; // a restart: the counter starts again from 0
        text += sample(name, labels, value, START + h * 3600);
    }
    return { text, increase };
}

function dataset(): string {
    const families = new Map<string, string[]>();
    const add = (name: string, text: string) => families.set(name, [...(families.get(name) ?? []), text]);
    for (const [ti, t] of TENANTS.entries()) {
        const ns = `e-commerce-client-${t.id}`;
        const e = { cpuCoreHours: 0, memoryGiBHours: 0, storageGiBMonths: 0, egressGiB: 0, apiRequests: 0, dbTransactions: 0 };
        // cAdvisor: two containers; the cgroup total (container="") and the pause container are not billed.
        for (const [ci, container] of ["api-gateway", "auth-service"].entries()) {
            const c = counter(
                "container_cpu_usage_seconds_total",
                { namespace: ns, pod: `${container}-0`, container },
                (h) => 3600 * t.cores * (1 + 0.2 * noise(ti * 1000 + ci * 100 + h)),
                ci === 1 ? 400 : undefined,
            );
            add("container_cpu_usage_seconds_total", c.text);
            e.cpuCoreHours += c.increase / 3600;
            const n = counter(
                "container_network_transmit_bytes_total",
                { namespace: ns, pod: `${container}-0`, interface: "eth0" },
                (h) => 5e7 * (2 + noise(ti * 7 + ci * 3 + h)),
            );
            add("container_network_transmit_bytes_total", n.text);
            e.egressGiB += n.increase / GIB;
        }
        add(
            "container_cpu_usage_seconds_total",
            counter("container_cpu_usage_seconds_total", { namespace: ns, pod: "api-gateway-0", container: "" }, () => 99999).text,
        );
        add(
            "container_cpu_usage_seconds_total",
            counter("container_cpu_usage_seconds_total", { namespace: ns, pod: "api-gateway-0", container: "POD" }, () => 99999).text,
        );
        // ingress-nginx: 2xx and 5xx both count as API requests.
        for (const status of ["200", "503"]) {
            const r = counter("nginx_ingress_controller_requests", { ingress: `client-${t.id}-ingress`, status, method: "GET" }, (h) =>
                Math.round((status === "200" ? 4000 : 40) * (1.5 + noise(ti + h))),
            );
            add("nginx_ingress_controller_requests", r.text);
            e.apiRequests += r.increase;
        }
        // mysqld_exporter userstat: commits and rollbacks of each service's user.
        for (const service of ["auth", "orders"]) {
            for (const kind of ["commit", "rollback"]) {
                const name = `mysql_info_schema_user_statistics_${kind}_transactions_total`;
                const d = counter(name, { user: `client_${t.id}_${service}_user` }, (h) =>
                    Math.round((kind === "commit" ? 900 : 9) * (1.5 + noise(ti * 31 + h))),
                );
                add(name, d.text);
                e.dbTransactions += d.increase;
            }
        }
        // The recorded gauges, one evaluation a minute from START to END inclusive; the month is (START, END].
        let memory = "";
        let storage = "";
        for (let m = 0; m <= HOURS * 60; m++) {
            const ts = START + m * 60;
            const mem = Math.round(t.memoryGiB * GIB * (1 + 0.1 * noise(ti * 5 + m)));
            const sto = Math.round(t.storageGiB * GIB * (1 + 0.02 * noise(ti * 11 + m)));
            memory += sample("tenant_id:container_memory_working_set_bytes:sum", { tenant_id: t.id }, mem, ts);
            storage += sample("tenant_id:storage_used_bytes:sum", { tenant_id: t.id }, sto, ts);
            if (m > 0) {
                e.memoryGiBHours += (mem * 60) / 3600 / GIB;
                e.storageGiBMonths += (sto * 60) / (HOURS * 3600) / GIB;
            }
        }
        add("tenant_id:container_memory_working_set_bytes:sum", memory);
        add("tenant_id:storage_used_bytes:sum", storage);
        expected.set(t.id, e);
    }
    // Not a tenant's: never billed.
    add(
        "container_cpu_usage_seconds_total",
        counter("container_cpu_usage_seconds_total", { namespace: "kube-system", pod: "coredns-0", container: "coredns" }, () => 3600).text,
    );
    add(
        "nginx_ingress_controller_requests",
        counter("nginx_ingress_controller_requests", { ingress: "grafana", status: "200", method: "GET" }, () => 1000).text,
    );
    add(
        "mysql_info_schema_user_statistics_commit_transactions_total",
        counter("mysql_info_schema_user_statistics_commit_transactions_total", { user: "platform_admin" }, () => 1000).text,
    );
    return [...families.values()].map((parts) => parts.join("")).join("");
}

function manifest(dir: string): string {
    const file = path.join(dir, "tenants.yaml");
    const entries = TENANTS.map((t, i) =>
        [
            `  - id: ${t.id}`,
            `    websiteId: ${500 + i}`,
            `    name: Showback ${t.id}`,
            `    domain: client-${t.id}.collectverything.com`,
            `    customDomains: [${t.customDomains.join(", ")}]`,
            `    tier: ${t.tier}`,
            `    region: eu-west`,
            `    billingId: sub_${t.id}`,
            `    costCenter: CC-${t.id.toUpperCase()}`,
            `    department: retail`,
            `    createdDate: 2024-06-01`,
            `    status: active`,
        ].join("\n"),
    );
    // A tenant created after the month is not billed for it.
    entries.push(
        entries[0]
            .replace("id: abc", "id: later")
            .replace("websiteId: 500", "websiteId: 599")
            .replace("client-abc.", "client-later.")
            .replace("shop.client-abc.com", "")
            .replace("2024-06-01", "2025-02-01"),
    );
    fs.writeFileSync(file, `tenants:\n${entries.join("\n\n")}\n`);
    return file;
}

interface Run {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
}
function tenantctl(...args: string[]): Promise<Run> {
    return new Promise((resolve) => {
        execFile(path.join(REPO_ROOT, "tenantctl"), args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
            resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
    });
}

let prometheus: RunningPrometheus | undefined;
let manifestFile: string;

beforeAll(async () => {
    ensurePrometheus();
    const dir = workDir("showback");
    backfill(dir, dataset(), path.join(dir, "data"));
    manifestFile = manifest(dir);
    prometheus = await startPrometheus(dir, "global:\n  scrape_interval: 1m\n");
}, PROMETHEUS_TIMEOUT_MS);

afterAll(() => {
    prometheus?.stop();
    if (prometheus) fs.rmSync(prometheus.dir, { recursive: true, force: true });
});

/** What the README's rules and the catalog's prices give for tenant `t`, in cents. */
function bill(t: Fixture) {
    const e = expected.get(t.id)!;
    const spec = tierSpec(t.tier);
    const c = (eur: number) => Math.round(eur * 100);
    const sites = 1 + t.customDomains.length;
    const overage = {
        cpu: c(Math.max(0, e.cpuCoreHours - spec.allocation.cpu * HOURS) * spec.overage.cpuCoreHourEur),
        memory: c(Math.max(0, e.memoryGiBHours - spec.allocation.memoryGiB * HOURS) * spec.overage.memoryGiBHourEur),
        storage: c(Math.max(0, e.storageGiBMonths - spec.storageGiB) * spec.overage.storageGiBMonthEur),
        sites: Math.max(0, sites - spec.siteLimit) * c(spec.overage.siteEur),
    };
    const overages = overage.cpu + overage.memory + overage.storage + overage.sites;
    return { e, spec, sites, overage, overages, base: c(spec.baseFeeEur), total: c(spec.baseFeeEur) + overages };
}

test("the dataset is what the test says: nordic over its storage quota and sites, kiwi over its CPU, abc within everything", () => {
    const nordic = bill(TENANTS[1]);
    expect(nordic.e.storageGiBMonths).toBeGreaterThan(50);
    expect(nordic.overage.storage).toBeGreaterThan(0);
    expect(nordic.overage.sites).toBe(999);
    const kiwi = bill(TENANTS[2]);
    expect(kiwi.e.cpuCoreHours / HOURS).toBeGreaterThan(12);
    expect(kiwi.overage.cpu).toBeGreaterThan(0);
    expect(bill(TENANTS[0]).overages).toBe(0);
});

test("json: every usage figure equals the test's own total, every amount to the cent", async () => {
    const run = await tenantctl(
        "showback",
        "--month",
        "2025-01",
        "--region",
        "eu-west",
        "--prometheus",
        prometheus!.url,
        "--format",
        "json",
        "--manifest",
        manifestFile,
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { period: string; start: string; end: string; currency: string; tenants: Record<string, unknown>[] };
    expect([report.period, report.start, report.end, report.currency]).toEqual(["2025-01", "2025-01-01T00:00:00.000Z", "2025-02-01T00:00:00.000Z", "EUR"]);
    expect(report.tenants.map((t) => t.tenantId)).toEqual(["abc", "kiwi", "nordic"]);
    for (const t of TENANTS) {
        const got = report.tenants.find((r) => r.tenantId === t.id) as { usage: Record<string, number>; [key: string]: unknown };
        const b = bill(t);
        for (const metric of ["cpuCoreHours", "memoryGiBHours", "storageGiBMonths", "egressGiB", "apiRequests", "dbTransactions"] as const) {
            expect([t.id, metric, got.usage[metric]]).toEqual([t.id, metric, expect.closeTo(b.e[metric], 6)]);
        }
        expect(got.sites).toBe(b.sites);
        expect(got.baseFeeCents).toBe(b.base);
        expect(got.overageCents).toEqual(b.overage);
        expect(got.overagesCents).toBe(b.overages);
        expect(got.totalCents).toBe(b.total);
    }
}, 60_000);

test("text: the seed's layout line for line, with the test's figures", async () => {
    const run = await tenantctl("showback", "--month", "2025-01", "--tenant", "nordic", "--prometheus", prometheus!.url, "--manifest", manifestFile);
    expect(run.code).toBe(0);
    const b = bill(TENANTS[1]);
    const f = (x: number) => String(Number(x.toFixed(2)));
    const eur = (cents: number) => `${(cents / 100).toFixed(2)} EUR`;
    expect(run.stdout).toBe(
        [
            "Client: client-nordic",
            "Tier: Standard",
            "Period: 2025-01",
            "",
            "Base Fee: 49.99 EUR",
            "",
            "Resource Usage:",
            `  - CPU: ${f(b.e.cpuCoreHours / HOURS)} cores (within quota)`,
            `  - Memory: ${f(b.e.memoryGiBHours / HOURS)} GB (within quota)`,
            `  - Storage: ${f(b.e.storageGiBMonths)} GB (over 50 GB quota)`,
            "  - Sites: 2 (over limit)",
            "",
            `Overages: ${eur(b.overages)}`,
            "",
            `Total: ${eur(b.total)}`,
            "",
        ].join("\n"),
    );
    expect(b.overages).toBe(b.overage.storage + 999);
}, 60_000);

test("csv: one row per billed tenant, amounts to the cent", async () => {
    const run = await tenantctl("showback", "--month", "2025-01", "--prometheus", prometheus!.url, "--format", "csv", "--manifest", manifestFile);
    expect(run.code).toBe(0);
    const [header, ...rows] = run.stdout.trimEnd().split("\n");
    expect(header.split(",")).toEqual([
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
    ]);
    expect(rows.map((r) => r.split(",")[0])).toEqual(["abc", "kiwi", "nordic"]);
    for (const row of rows) {
        const cells = row.split(",");
        const b = bill(TENANTS.find((t) => t.id === cells[0])!);
        const m = (c: number) => (c / 100).toFixed(2);
        expect(cells.slice(11)).toEqual([
            m(b.base),
            m(b.overage.cpu),
            m(b.overage.memory),
            m(b.overage.storage),
            m(b.overage.sites),
            m(b.overages),
            m(b.total),
        ]);
        expect(Number(cells[8])).toBe(b.e.apiRequests);
    }
}, 60_000);

test("errors: a bad month is a usage error (2); an unreachable Prometheus is 2 and names the fix", async () => {
    const bad = await tenantctl("showback", "--month", "2025-13", "--manifest", manifestFile);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('month "2025-13" is not YYYY-MM');
    const down = await tenantctl("showback", "--month", "2025-01", "--prometheus", "http://127.0.0.1:1", "--manifest", manifestFile);
    expect(down.code).toBe(2);
    expect(down.stderr).toContain("Prometheus at http://127.0.0.1:1 cannot be reached");
}, 60_000);
