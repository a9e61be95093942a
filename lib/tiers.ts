/**
 * The tier catalog: what each subscription tier buys, in Kubernetes terms.
 *
 * Pure data and functions, no Pulumi imports. The premium figures are the
 * seed architecture's example ResourceQuota and LimitRange; standard and
 * business are scaled around them (see the README's tier table).
 *
 * Headroom rule: at the HPA minimum, with every autoscaled workload (the API
 * gateway and the default services, one container each) at the LimitRange
 * defaults, the quota still admits two backup pods (BACKUP_POD_RESOURCES,
 * lib/archiveLayout.ts): the nightly one and a second run at the same time
 * (a manual `kubectl create job --from=cronjob/db-backup`, or the final
 * backup). Checked for every tier by test/unit/lib/tiers.test.ts.
 */

export const TIERS = ["standard", "premium", "business"] as const;
export type Tier = (typeof TIERS)[number];

export interface ResourceQuotaHard {
    readonly "requests.cpu": string;
    readonly "requests.memory": string;
    readonly "limits.cpu": string;
    readonly "limits.memory": string;
    readonly "requests.storage": string;
    readonly persistentvolumeclaims: string;
    readonly "services.loadbalancers": string;
    readonly pods: string;
}

export interface ContainerLimits {
    readonly max: { readonly cpu: string; readonly memory: string };
    readonly min: { readonly cpu: string; readonly memory: string };
    readonly default: { readonly cpu: string; readonly memory: string };
    readonly defaultRequest: { readonly cpu: string; readonly memory: string };
}

export interface TierSpec {
    readonly tier: Tier;
    /** The capacity sold and shown on the showback report. */
    readonly allocation: { readonly cpu: number; readonly memoryGiB: number };
    readonly quota: ResourceQuotaHard;
    readonly containerLimits: ContainerLimits;
    /** HPA replica range for every tenant service. */
    readonly replicas: { readonly min: number; readonly max: number };
    /** Storage quota in GiB (PVCs: backups and service volumes). */
    readonly storageGiB: number;
    /**
     * Size of the backup PVC in GiB (part of storageGiB), asked for when the PVC is created and never changed after
     * (`ignoreChanges`). It holds recent copies only; retention is the same GFS for every tier, in the archive (lib/retention.ts).
     */
    readonly backupVolumeGiB: number;
    /** Monthly base fee in EUR. */
    readonly baseFeeEur: number;
    /** Sites (the primary domain and each custom domain) the base fee includes. */
    readonly siteLimit: number;
    /**
     * Overage prices in EUR, billed by the showback (lib/showback.ts): CPU
     * core-hours above `allocation.cpu` for every hour of the month, memory
     * GiB-hours above `allocation.memoryGiB` likewise, GiB-months of storage
     * above `storageGiB`, and each site above `siteLimit`.
     */
    readonly overage: OveragePrices;
}

export interface OveragePrices {
    readonly cpuCoreHourEur: number;
    readonly memoryGiBHourEur: number;
    readonly storageGiBMonthEur: number;
    readonly siteEur: number;
}

const CATALOG: Readonly<Record<Tier, TierSpec>> = {
    standard: {
        tier: "standard",
        allocation: { cpu: 2, memoryGiB: 4 },
        quota: {
            "requests.cpu": "1",
            "requests.memory": "2Gi",
            // 3, not 2: the 8 pods at the HPA minimum take 2 at the LimitRange default, and the backup pods need room (headroom rule above).
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
    premium: {
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
    business: {
        tier: "business",
        allocation: { cpu: 12, memoryGiB: 24 },
        quota: {
            "requests.cpu": "12",
            "requests.memory": "24Gi",
            // 26, not 24: the 24 pods at the HPA minimum take 24 at the LimitRange default (headroom rule above).
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
            // 450m, not 500m: 24 pods at 500m request all 12 CPUs the tier sells (requests.cpu stays the allocation), none left for a backup.
            defaultRequest: { cpu: "450m", memory: "512Mi" },
        },
        replicas: { min: 6, max: 15 },
        storageGiB: 500,
        backupVolumeGiB: 100,
        baseFeeEur: 349.99,
        siteLimit: 10,
        overage: { cpuCoreHourEur: 0.04, memoryGiBHourEur: 0.004, storageGiBMonthEur: 0.08, siteEur: 4.99 },
    },
};

export function isTier(value: unknown): value is Tier {
    return typeof value === "string" && (TIERS as readonly string[]).includes(value);
}

/** The catalog entry of a tier. */
export function tierSpec(tier: Tier): TierSpec {
    return CATALOG[tier];
}

/** Position of a tier in the upgrade order (standard < premium < business). */
export function tierRank(tier: Tier): number {
    return TIERS.indexOf(tier);
}
