/**
 * lib/tiers.ts: the catalog against the seed, and the orderings that make
 * the catalog coherent (quantities parsed as Kubernetes quantities).
 */
import { GiB, parseQuantity } from "../../support/quantity";
import { TIERS, isTier, tierRank, tierSpec, type ResourceQuotaHard, type Tier } from "../../../lib/tiers";
import { formatEntryText, monthWindow, showbackEntry } from "../../../lib/showback";
import { tenantSpec } from "../../support/manifests";
import { BACKUP_POD_RESOURCES } from "../../../lib/archiveLayout";
import { DEFAULT_SERVICES } from "../../../lib/naming";

const standard = tierSpec("standard");
const premium = tierSpec("premium");
const business = tierSpec("business");

describe("parseQuantity (test helper)", () => {
    test.each([
        ["4", 4],
        ["100m", 0.1],
        ["250m", 0.25],
        ["128Mi", 128 * 2 ** 20],
        ["8Gi", 8 * GiB],
        ["1k", 1000],
        ["1.5", 1.5],
    ])("%s = %d", (q, expected) => {
        expect(parseQuantity(q)).toBeCloseTo(expected, 9);
    });

    test("refuses what is not a quantity", () => {
        expect(() => parseQuantity("4 Gi")).toThrow("not a Kubernetes quantity");
        expect(() => parseQuantity("")).toThrow("not a Kubernetes quantity");
    });
});

describe("the catalog", () => {
    test("has exactly the three tiers, in upgrade order", () => {
        expect([...TIERS]).toEqual(["standard", "premium", "business"]);
        expect(TIERS.map(tierRank)).toEqual([0, 1, 2]);
        for (const t of TIERS) expect(tierSpec(t).tier).toBe(t);
        expect(isTier("premium")).toBe(true);
        expect(isTier("gold")).toBe(false);
        expect(isTier(undefined)).toBe(false);
    });

    test("premium's ResourceQuota is the seed's, plus the storage quota the seed sells but did not enforce", () => {
        expect(premium.quota).toEqual({
            "requests.cpu": "4",
            "requests.memory": "8Gi",
            "limits.cpu": "8",
            "limits.memory": "16Gi",
            persistentvolumeclaims: "10",
            "services.loadbalancers": "1",
            pods: "50",
            "requests.storage": "150Gi",
        });
    });

    test("premium's LimitRange is the seed's", () => {
        expect(premium.containerLimits).toEqual({
            max: { cpu: "2", memory: "4Gi" },
            min: { cpu: "100m", memory: "128Mi" },
            default: { cpu: "500m", memory: "512Mi" },
            defaultRequest: { cpu: "250m", memory: "256Mi" },
        });
    });

    test("premium: 150 GiB storage, 124.99 EUR, 3-6 replicas, 6 CPU / 12 GiB allocation (the showback report)", () => {
        expect(premium.storageGiB).toBe(150);
        expect(parseQuantity(premium.quota["requests.storage"])).toBe(150 * GiB);
        expect(premium.baseFeeEur).toBe(124.99);
        expect(premium.replicas).toEqual({ min: 3, max: 6 });
        expect(premium.allocation).toEqual({ cpu: 6, memoryGiB: 12 });
        // The seed's report, produced from the catalog: 6 cores, 12 GB, 145 of 150 GB and 3 sites for a month are within the tier.
        const month = monthWindow("2025-01");
        const abc = tenantSpec("abc", { tier: "premium", customDomains: ["shop.client-abc.com", "www.client-abc.com"] });
        const entry = showbackEntry(abc, month, { cpuCoreHours: 6 * 744, memoryGiBHours: 12 * 744, storageGiBMonths: 145 });
        expect(formatEntryText(entry)).toBe(
            [
                "Client: client-abc",
                "Tier: Premium",
                "Period: 2025-01",
                "",
                "Base Fee: 124.99 EUR",
                "",
                "Resource Usage:",
                "  - CPU: 6 cores (within quota)",
                "  - Memory: 12 GB (within quota)",
                "  - Storage: 145 GB (within 150 GB quota)",
                "  - Sites: 3 (within limit)",
                "",
                "Overages: 0.00 EUR",
                "",
                "Total: 124.99 EUR",
            ].join("\n"),
        );
    });

    test("the overage prices and site limits of the README's table", () => {
        expect(TIERS.map((t) => [t, tierSpec(t).siteLimit, tierSpec(t).overage])).toEqual([
            ["standard", 1, { cpuCoreHourEur: 0.05, memoryGiBHourEur: 0.006, storageGiBMonthEur: 0.12, siteEur: 9.99 }],
            ["premium", 3, { cpuCoreHourEur: 0.045, memoryGiBHourEur: 0.005, storageGiBMonthEur: 0.1, siteEur: 7.99 }],
            ["business", 10, { cpuCoreHourEur: 0.04, memoryGiBHourEur: 0.004, storageGiBMonthEur: 0.08, siteEur: 4.99 }],
        ]);
    });

    test("standard: 2 CPU / 4 GiB allocation, 2-3 replicas", () => {
        expect(standard.allocation).toEqual({ cpu: 2, memoryGiB: 4 });
        expect(standard.replicas).toEqual({ min: 2, max: 3 });
    });

    test("business: at least 12 CPU / 24 GiB allocation, 6-15 replicas", () => {
        expect(business.allocation.cpu).toBeGreaterThanOrEqual(12);
        expect(business.allocation.memoryGiB).toBeGreaterThanOrEqual(24);
        expect(business.replicas).toEqual({ min: 6, max: 15 });
    });
});

describe("the README's tier table, literally, for every tier", () => {
    // Each row of the README's "Tiers" table, column standard / premium / business.
    test.each([
        [
            "standard",
            {
                tier: "standard",
                allocation: { cpu: 2, memoryGiB: 4 },
                quota: {
                    "requests.cpu": "1",
                    "requests.memory": "2Gi",
                    "limits.cpu": "3",
                    "limits.memory": "4Gi",
                    "requests.storage": "50Gi",
                    persistentvolumeclaims: "5",
                    "services.loadbalancers": "0",
                    pods: "20",
                },
                containerLimits: {
                    max: { cpu: "1", memory: "2Gi" },
                    min: { cpu: "50m", memory: "64Mi" },
                    default: { cpu: "250m", memory: "256Mi" },
                    defaultRequest: { cpu: "100m", memory: "128Mi" },
                },
                replicas: { min: 2, max: 3 },
                storageGiB: 50,
                backupVolumeGiB: 10,
                baseFeeEur: 49.99,
                siteLimit: 1,
                overage: { cpuCoreHourEur: 0.05, memoryGiBHourEur: 0.006, storageGiBMonthEur: 0.12, siteEur: 9.99 },
            },
        ],
        [
            "premium",
            {
                tier: "premium",
                allocation: { cpu: 6, memoryGiB: 12 },
                quota: {
                    "requests.cpu": "4",
                    "requests.memory": "8Gi",
                    "limits.cpu": "8",
                    "limits.memory": "16Gi",
                    "requests.storage": "150Gi",
                    persistentvolumeclaims: "10",
                    "services.loadbalancers": "1",
                    pods: "50",
                },
                containerLimits: {
                    max: { cpu: "2", memory: "4Gi" },
                    min: { cpu: "100m", memory: "128Mi" },
                    default: { cpu: "500m", memory: "512Mi" },
                    defaultRequest: { cpu: "250m", memory: "256Mi" },
                },
                replicas: { min: 3, max: 6 },
                storageGiB: 150,
                backupVolumeGiB: 30,
                baseFeeEur: 124.99,
                siteLimit: 3,
                overage: { cpuCoreHourEur: 0.045, memoryGiBHourEur: 0.005, storageGiBMonthEur: 0.1, siteEur: 7.99 },
            },
        ],
        [
            "business",
            {
                tier: "business",
                allocation: { cpu: 12, memoryGiB: 24 },
                quota: {
                    "requests.cpu": "12",
                    "requests.memory": "24Gi",
                    "limits.cpu": "26",
                    "limits.memory": "48Gi",
                    "requests.storage": "500Gi",
                    persistentvolumeclaims: "30",
                    "services.loadbalancers": "2",
                    pods: "150",
                },
                containerLimits: {
                    max: { cpu: "4", memory: "8Gi" },
                    min: { cpu: "100m", memory: "128Mi" },
                    default: { cpu: "1", memory: "1Gi" },
                    defaultRequest: { cpu: "450m", memory: "512Mi" },
                },
                replicas: { min: 6, max: 15 },
                storageGiB: 500,
                backupVolumeGiB: 100,
                baseFeeEur: 349.99,
                siteLimit: 10,
                overage: { cpuCoreHourEur: 0.04, memoryGiBHourEur: 0.004, storageGiBMonthEur: 0.08, siteEur: 4.99 },
            },
        ],
    ] as const)("%s", (tier, expected) => {
        expect(tierSpec(tier)).toEqual(expected);
    });

    test("the tier order and ranks: standard 0, premium 1, business 2", () => {
        expect(tierRank("standard")).toBe(0);
        expect(tierRank("premium")).toBe(1);
        expect(tierRank("business")).toBe(2);
        expect(isTier("standard")).toBe(true);
        expect(isTier("business")).toBe(true);
        expect(isTier("Premium")).toBe(false);
        expect(isTier(1)).toBe(false);
    });
});

/** Every number a tier is sold or enforced by, as [what, value]. */
function quantities(tier: Tier): [string, number][] {
    const spec = tierSpec(tier);
    const q = Object.entries(spec.quota).map(([k, v]): [string, number] => [`quota ${k}`, parseQuantity(v)]);
    const limits = (["max", "default", "defaultRequest"] as const).flatMap((kind): [string, number][] => [
        [`LimitRange ${kind}.cpu`, parseQuantity(spec.containerLimits[kind].cpu)],
        [`LimitRange ${kind}.memory`, parseQuantity(spec.containerLimits[kind].memory)],
    ]);
    return [
        ...q,
        ...limits,
        ["allocation cpu", spec.allocation.cpu],
        ["allocation memoryGiB", spec.allocation.memoryGiB],
        ["replicas min", spec.replicas.min],
        ["replicas max", spec.replicas.max],
        ["storageGiB", spec.storageGiB],
        ["backupVolumeGiB", spec.backupVolumeGiB],
        ["baseFeeEur", spec.baseFeeEur],
    ];
}

describe("monotonic: standard < premium < business", () => {
    const s = new Map(quantities("standard"));
    const p = new Map(quantities("premium"));
    const b = new Map(quantities("business"));

    test("every tier has the same quantities", () => {
        expect([...p.keys()]).toEqual([...s.keys()]);
        expect([...b.keys()]).toEqual([...s.keys()]);
        expect(s.size).toBe(8 + 6 + 7); // quota, LimitRange max/default/defaultRequest, the rest (retention is the same GFS for every tier)
    });

    test.each(quantities("standard").map(([what]) => [what]))("%s grows strictly", (what) => {
        expect(s.get(what)).toBeLessThan(p.get(what) as number);
        expect(p.get(what)).toBeLessThan(b.get(what) as number);
    });

    test.each(["cpu", "memory"] as const)("LimitRange min.%s never shrinks (premium and business share the seed's floor)", (resource) => {
        // The floor is the smallest container a tenant may run, not capacity
        // sold: the README's tier table keeps premium's 100m / 128Mi for business.
        const min = (t: Tier) => parseQuantity(tierSpec(t).containerLimits.min[resource]);
        expect(min("standard")).toBeLessThan(min("premium"));
        expect(min("premium")).toBeLessThanOrEqual(min("business"));
    });
});

describe.each([...TIERS])("%s: coherence of LimitRange and quota", (tier) => {
    const spec = tierSpec(tier);
    const l = spec.containerLimits;
    const cpu = (x: { cpu: string }) => parseQuantity(x.cpu);
    const mem = (x: { memory: string }) => parseQuantity(x.memory);
    const hard = (key: keyof ResourceQuotaHard) => parseQuantity(spec.quota[key]);

    test("the largest container fits within the namespace's quota limits and requests", () => {
        expect(cpu(l.max)).toBeLessThanOrEqual(hard("limits.cpu"));
        expect(mem(l.max)).toBeLessThanOrEqual(hard("limits.memory"));
        expect(cpu(l.defaultRequest)).toBeLessThanOrEqual(hard("requests.cpu"));
        expect(mem(l.defaultRequest)).toBeLessThanOrEqual(hard("requests.memory"));
    });

    test("min <= defaultRequest <= default <= max, for cpu and memory", () => {
        for (const q of [cpu, mem]) {
            expect(q(l.min)).toBeLessThanOrEqual(q(l.defaultRequest));
            expect(q(l.defaultRequest)).toBeLessThanOrEqual(q(l.default));
            expect(q(l.default)).toBeLessThanOrEqual(q(l.max));
        }
    });

    test("requests <= limits in the quota", () => {
        expect(hard("requests.cpu")).toBeLessThanOrEqual(hard("limits.cpu"));
        expect(hard("requests.memory")).toBeLessThanOrEqual(hard("limits.memory"));
    });

    test("the allocation sold lies between the quota's requests and its limits", () => {
        expect(spec.allocation.cpu).toBeGreaterThanOrEqual(hard("requests.cpu"));
        expect(spec.allocation.cpu).toBeLessThanOrEqual(hard("limits.cpu"));
        expect(spec.allocation.memoryGiB * GiB).toBeGreaterThanOrEqual(hard("requests.memory"));
        expect(spec.allocation.memoryGiB * GiB).toBeLessThanOrEqual(hard("limits.memory"));
    });

    test("storage: the quota is storageGiB, and the backup volume fits in it", () => {
        expect(hard("requests.storage")).toBe(spec.storageGiB * GiB);
        expect(spec.backupVolumeGiB).toBeGreaterThan(0);
        expect(spec.backupVolumeGiB).toBeLessThanOrEqual(spec.storageGiB);
        expect(hard("persistentvolumeclaims")).toBeGreaterThanOrEqual(1);
    });

    test("replicas: 1 <= min < max, and the pod quota holds every service at max replicas", () => {
        expect(spec.replicas.min).toBeGreaterThanOrEqual(1);
        expect(spec.replicas.min).toBeLessThan(spec.replicas.max);
        // api-gateway + the three default services, each at max replicas, plus a backup pod.
        expect(4 * spec.replicas.max + 1).toBeLessThanOrEqual(hard("pods"));
    });
});

/**
 * The headroom rule (README "Tiers", lib/tiers.ts): at the HPA minimum, with
 * every autoscaled workload (the API gateway and the default services, one
 * container each) at the LimitRange defaults, the quota still admits two
 * backup pods at once. Integer millicores and MiB, so the arithmetic is exact.
 */
describe("headroom for the backup pods at the HPA minimum", () => {
    const milli = (q: string) => Math.round(parseQuantity(q) * 1000);
    const mib = (q: string) => Math.round(parseQuantity(q) / 2 ** 20);
    const workloads = 1 + DEFAULT_SERVICES.length;

    /** What the quota has left once the workloads run at the minimum, and how many backup pods fit in it. */
    function headroom(tier: Tier) {
        const spec = tierSpec(tier);
        const pods = workloads * spec.replicas.min;
        const left = {
            "requests.cpu": milli(spec.quota["requests.cpu"]) - pods * milli(spec.containerLimits.defaultRequest.cpu),
            "requests.memory": mib(spec.quota["requests.memory"]) - pods * mib(spec.containerLimits.defaultRequest.memory),
            "limits.cpu": milli(spec.quota["limits.cpu"]) - pods * milli(spec.containerLimits.default.cpu),
            "limits.memory": mib(spec.quota["limits.memory"]) - pods * mib(spec.containerLimits.default.memory),
            pods: Number(spec.quota.pods) - pods,
        };
        const backup = {
            "requests.cpu": milli(BACKUP_POD_RESOURCES.requests.cpu),
            "requests.memory": mib(BACKUP_POD_RESOURCES.requests.memory),
            "limits.cpu": milli(BACKUP_POD_RESOURCES.limits.cpu),
            "limits.memory": mib(BACKUP_POD_RESOURCES.limits.memory),
            pods: 1,
        };
        const fit = Math.min(...(Object.keys(left) as (keyof typeof left)[]).map((k) => Math.floor(left[k] / backup[k])));
        return { pods, left, fit };
    }

    test("the backup pod: requests 100m / 256Mi, limits 500m / 512Mi; four workloads (api-gateway, auth, products, orders)", () => {
        expect(BACKUP_POD_RESOURCES).toEqual({ requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "500m", memory: "512Mi" } });
        expect(workloads).toBe(4);
    });

    // [tier, pods at the minimum, left after them (millicores, MiB, pods), backup pods that fit]: the README's headroom row.
    test.each([
        ["standard", 8, { "requests.cpu": 200, "requests.memory": 1024, "limits.cpu": 1000, "limits.memory": 2048, pods: 12 }, 2],
        ["premium", 12, { "requests.cpu": 1000, "requests.memory": 5120, "limits.cpu": 2000, "limits.memory": 10240, pods: 38 }, 4],
        ["business", 24, { "requests.cpu": 1200, "requests.memory": 12288, "limits.cpu": 2000, "limits.memory": 24576, pods: 126 }, 4],
    ] as const)("%s: %d pods at the minimum leave room for %j, so %d backup pods fit", (tier, pods, left, fit) => {
        expect(headroom(tier)).toEqual({ pods, left, fit });
    });

    test.each([...TIERS])("%s: the rule holds (two backup pods fit), and the backup container is within the LimitRange", (tier) => {
        expect(headroom(tier).fit).toBeGreaterThanOrEqual(2);
        const l = tierSpec(tier).containerLimits;
        for (const r of ["cpu", "memory"] as const) {
            expect(parseQuantity(BACKUP_POD_RESOURCES.requests[r])).toBeGreaterThanOrEqual(parseQuantity(l.min[r]));
            expect(parseQuantity(BACKUP_POD_RESOURCES.limits[r])).toBeLessThanOrEqual(parseQuantity(l.max[r]));
        }
    });
});
