/**
 * lib/showback.ts: the month window, the grouped queries, the overage rules
 * with the catalog's prices (worked out by hand below), and the three formats.
 * The same report against a real Prometheus: test/contract/prometheusShowback.test.ts.
 */
import {
    CSV_COLUMNS,
    billedTenants,
    cents,
    figure,
    formatCsv,
    formatEntryText,
    formatJson,
    monthWindow,
    showbackEntry,
    showbackQueries,
    showbackReport,
    USAGE_METRICS,
} from "../../../lib/showback";
import { tenantSpec } from "../../support/manifests";

const JAN = monthWindow("2025-01");

describe("monthWindow", () => {
    test.each([
        ["2025-01", 1735689600, 1738368000, 744],
        ["2024-02", 1706745600, 1709251200, 696],
        ["2025-12", 1764547200, 1767225600, 744],
    ])("%s: [%d, %d), %d hours", (month, start, end, hours) => {
        expect(monthWindow(month)).toEqual({ month, start, end, seconds: end - start, hours });
    });

    test.each(["2025-13", "2025-1", "25-01", "2025-00", ""])("refuses %j", (month) => {
        expect(() => monthWindow(month)).toThrow(`month "${month}" is not YYYY-MM (e.g. 2025-01)`);
    });
});

describe("showbackQueries", () => {
    const queries = showbackQueries(JAN);

    test("one grouped query per billing metric, none naming a tenant", () => {
        expect(Object.keys(queries)).toEqual([...USAGE_METRICS]);
        for (const q of Object.values(queries)) {
            expect(q.startsWith("sum by (tenant_id) (")).toBe(true);
            expect(q).not.toMatch(/tenant_id="/);
        }
    });

    test("counters over the whole month, recorded gauges over (start, end]", () => {
        expect(queries.cpuCoreHours).toContain("increase(container_cpu_usage_seconds_total{");
        expect(queries.cpuCoreHours).toContain("[2678400s]");
        expect(queries.cpuCoreHours.endsWith(") / 3600")).toBe(true);
        expect(queries.memoryGiBHours).toBe(
            "sum by (tenant_id) (sum_over_time(tenant_id:container_memory_working_set_bytes:sum[2678399s])) * 0.016666666666666666 / 1073741824",
        );
        expect(queries.storageGiBMonths).toBe(`sum by (tenant_id) (sum_over_time(tenant_id:storage_used_bytes:sum[2678399s])) * ${60 / 2678400} / 1073741824`);
        expect(queries.egressGiB).toContain("increase(container_network_transmit_bytes_total{");
        expect(queries.apiRequests).toContain("increase(nginx_ingress_controller_requests{");
        expect(queries.dbTransactions).toContain("mysql_info_schema_user_statistics_commit_transactions_total{");
        expect(queries.dbTransactions).toContain("mysql_info_schema_user_statistics_rollback_transactions_total{");
    });
});

describe("the overage rules", () => {
    test("within everything: base fee only", () => {
        const e = showbackEntry(tenantSpec("abc", { tier: "premium" }), JAN, { cpuCoreHours: 6 * 744, memoryGiBHours: 12 * 744, storageGiBMonths: 150 });
        expect(e.overageCents).toEqual({ cpu: 0, memory: 0, storage: 0, sites: 0 });
        expect([e.baseFeeCents, e.overagesCents, e.totalCents]).toEqual([12499, 0, 12499]);
    });

    test("standard over on every line: worked by hand", () => {
        // CPU: 1500 - 2 x 744 = 12 core-hours x 0.05 = 0.60. Memory: 3000 - 4 x 744 = 24 GiB-h x 0.006 = 0.144 -> 0.14.
        // Storage: 60 - 50 = 10 GiB-months x 0.12 = 1.20. Sites: 3 - 1 = 2 x 9.99 = 19.98. Total 49.99 + 21.92 = 71.91.
        const t = tenantSpec("nordic", { customDomains: ["a.example", "b.example"] });
        const e = showbackEntry(t, JAN, {
            cpuCoreHours: 1500,
            memoryGiBHours: 3000,
            storageGiBMonths: 60,
            egressGiB: 12.5,
            apiRequests: 1e6,
            dbTransactions: 42,
        });
        expect(e.overageCents).toEqual({ cpu: 60, memory: 14, storage: 120, sites: 1998 });
        expect([e.overagesCents, e.totalCents]).toEqual([2192, 7191]);
        expect(formatEntryText(e).split("\n")).toEqual([
            "Client: client-nordic",
            "Tier: Standard",
            "Period: 2025-01",
            "",
            "Base Fee: 49.99 EUR",
            "",
            "Resource Usage:",
            "  - CPU: 2.02 cores (over quota)",
            "  - Memory: 4.03 GB (over quota)",
            "  - Storage: 60 GB (over 50 GB quota)",
            "  - Sites: 3 (over limit)",
            "",
            "Overages: 21.92 EUR",
            "",
            "Total: 71.91 EUR",
        ]);
    });

    test("a metric Prometheus has nothing for counts as 0; one core is a core", () => {
        const e = showbackEntry(tenantSpec("abc"), JAN, { cpuCoreHours: 744 });
        expect(e.usage).toEqual({ cpuCoreHours: 744, memoryGiBHours: 0, storageGiBMonths: 0, egressGiB: 0, apiRequests: 0, dbTransactions: 0 });
        expect(formatEntryText(e)).toContain("  - CPU: 1 core (within quota)");
    });

    test.each([
        [0.125, 13],
        [0.124, 12],
        [21.92, 2192],
        [124.99, 12499],
    ])("cents(%d) = %d", (eur, c) => {
        expect(cents(eur)).toBe(c);
    });

    test.each([
        [6, "6"],
        [5.8333, "5.83"],
        [145, "145"],
        [0.005, "0.01"],
    ])("figure(%d) = %s", (x, s) => {
        expect(figure(x)).toBe(s);
    });
});

describe("the report", () => {
    const tenants = [tenantSpec("zed"), tenantSpec("abc", { tier: "business" }), tenantSpec("late", { createdDate: "2025-02-01" })];
    const none = Object.fromEntries(USAGE_METRICS.map((m) => [m, new Map<string, number>()])) as unknown as Parameters<typeof showbackReport>[2];

    test("bills the tenants created before the month's end, in id order", () => {
        expect(billedTenants(tenants, JAN).map((t) => t.id)).toEqual(["abc", "zed"]);
        expect(showbackReport(tenants, JAN, { ...none, apiRequests: new Map([["zed", 7]]) }).map((e) => [e.tenantId, e.usage.apiRequests])).toEqual([
            ["abc", 0],
            ["zed", 7],
        ]);
    });

    test("csv: the columns and one row per tenant", () => {
        const csv = formatCsv(showbackReport(tenants, JAN, none)).split("\n");
        expect(csv[0]).toBe(CSV_COLUMNS.join(","));
        expect(csv[1]).toBe("abc,client-abc,business,2025-01,0,0,0,0,0,0,1,349.99,0.00,0.00,0.00,0.00,0.00,349.99");
        expect(csv).toHaveLength(4); // header, two rows, the final newline
    });

    test("json: the window, the currency, the entries", () => {
        const json = JSON.parse(formatJson(showbackReport(tenants, JAN, none), JAN));
        expect([json.period, json.start, json.end, json.currency]).toEqual(["2025-01", "2025-01-01T00:00:00.000Z", "2025-02-01T00:00:00.000Z", "EUR"]);
        expect(json.tenants.map((t: { totalCents: number }) => t.totalCents)).toEqual([34999, 4999]);
    });
});
