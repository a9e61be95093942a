/**
 * The showback of 1,000 tenants against a real Prometheus: its time and its
 * query count (six grouped queries, whatever the number of tenants). A
 * measurement, not part of `make test`: run it with CV_SHOWBACK_SCALE=1.
 *
 * The dataset is a month of one series per tenant and billing metric, at
 * CV_SHOWBACK_SPACING seconds between samples (default 3600: hourly, 745
 * samples a series, 4.5 M in all; production records the gauges every minute,
 * so a real month holds about 60 times as many gauge samples).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { collectUsage } from "../../cli/showbackUsage";
import { monthWindow, showbackReport, USAGE_METRICS } from "../../lib/showback";
import { tenantSpec } from "../support/manifests";
import { backfillFile, ensurePrometheus, sample, startPrometheus, workDir, type RunningPrometheus } from "./prometheusHarness";

const ENABLED = process.env.CV_SHOWBACK_SCALE === "1";
const TENANTS = Number(process.env.CV_SHOWBACK_TENANTS ?? 1000);
const SPACING = Number(process.env.CV_SHOWBACK_SPACING ?? 3600);
const JAN = monthWindow("2025-01");
const ids = Array.from({ length: TENANTS }, (_, i) => `t${String(i).padStart(4, "0")}`);

let prometheus: RunningPrometheus | undefined;

(ENABLED ? describe : describe.skip)(`showback of ${TENANTS} tenants`, () => {
    beforeAll(async () => {
        ensurePrometheus();
        const dir = workDir("showback-scale");
        const file = path.join(dir, "scale.om");
        const fd = fs.openSync(file, "w");
        const t0 = Date.now();
        const family = (name: string, labels: (id: string) => Record<string, string>, value: (step: number) => number) => {
            for (const id of ids) {
                let chunk = "";
                for (let k = 0, t = JAN.start; t <= JAN.end; k++, t += SPACING) chunk += sample(name, labels(id), value(k), t);
                fs.writeSync(fd, chunk);
            }
        };
        family(
            "container_cpu_usage_seconds_total",
            (id) => ({ namespace: `e-commerce-client-${id}`, pod: "api-gateway-0", container: "api-gateway" }),
            (k) => k * SPACING,
        );
        family(
            "container_network_transmit_bytes_total",
            (id) => ({ namespace: `e-commerce-client-${id}`, pod: "api-gateway-0", interface: "eth0" }),
            (k) => k * 1e6,
        );
        family(
            "nginx_ingress_controller_requests",
            (id) => ({ ingress: `client-${id}-ingress`, status: "200" }),
            (k) => k * 1000,
        );
        family(
            "mysql_info_schema_user_statistics_commit_transactions_total",
            (id) => ({ user: `client_${id}_auth_user` }),
            (k) => k * 100,
        );
        family(
            "tenant_id:container_memory_working_set_bytes:sum",
            (id) => ({ tenant_id: id }),
            () => 2 ** 30,
        );
        family(
            "tenant_id:storage_used_bytes:sum",
            (id) => ({ tenant_id: id }),
            () => 10 * 2 ** 30,
        );
        fs.writeSync(fd, "# EOF\n");
        fs.closeSync(fd);
        const t1 = Date.now();
        backfillFile(file, path.join(dir, "data"));
        const t2 = Date.now();
        prometheus = await startPrometheus(dir, "global:\n  scrape_interval: 1m\n");
        process.stdout.write(
            `dataset ${((t1 - t0) / 1000).toFixed(1)} s, backfill ${((t2 - t1) / 1000).toFixed(1)} s, start ${((Date.now() - t2) / 1000).toFixed(1)} s\n`,
        );
    }, 1_800_000);

    afterAll(() => {
        prometheus?.stop();
        if (prometheus) fs.rmSync(prometheus.dir, { recursive: true, force: true });
    });

    test("six queries; every tenant billed; the time", async () => {
        let queries = 0;
        const realFetch = globalThis.fetch;
        globalThis.fetch = (...args: Parameters<typeof fetch>) => {
            queries++;
            return realFetch(...args);
        };
        const runs: number[] = [];
        try {
            for (let i = 0; i < 3; i++) {
                const t0 = process.hrtime.bigint();
                const usage = await collectUsage(prometheus!.url, JAN);
                const report = showbackReport(
                    ids.map((id) => tenantSpec(id)),
                    JAN,
                    usage,
                );
                runs.push(Number(process.hrtime.bigint() - t0) / 1e9);
                expect(report).toHaveLength(TENANTS);
                for (const m of USAGE_METRICS) expect([m, usage[m].size]).toEqual([m, TENANTS]);
            }
        } finally {
            globalThis.fetch = realFetch;
        }
        expect(queries).toBe(3 * USAGE_METRICS.length);
        process.stdout.write(
            `showback of ${TENANTS} tenants (samples every ${SPACING} s): ${USAGE_METRICS.length} queries, ${runs.map((s) => s.toFixed(2)).join(" s, ")} s\n`,
        );
    }, 600_000);
});

test("the scale measurement is opt-in (CV_SHOWBACK_SCALE=1)", () => {
    expect(typeof ENABLED).toBe("boolean");
});
