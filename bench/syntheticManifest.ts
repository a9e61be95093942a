/** The synthetic region the benches deploy: a valid manifest of N tenants. */
import type { TenantSpec } from "../lib/manifest";
import type { Region } from "../lib/regions";
import { TIERS } from "../lib/tiers";

/** A valid manifest of `count` tenants in `region`, mixing tiers and statuses. */
export function syntheticManifest(count: number, region: Region): { tenants: TenantSpec[] } {
    const tenants: TenantSpec[] = [];
    for (let i = 0; i < count; i++) {
        const id = `t${String(i).padStart(6, "0")}`;
        const status = i % 50 === 49 ? "suspended" : i % 100 === 99 ? "cancelled" : "active";
        tenants.push({
            id,
            websiteId: 100_000 + i,
            name: `Synthetic shop ${i}`,
            domain: `client-${id}.collectverything.com`,
            customDomains: i % 3 === 0 ? [`shop.${id}.example.com`] : [],
            tier: TIERS[i % TIERS.length],
            region,
            billingId: `sub_${id}`,
            costCenter: `CC-${id}`,
            department: "retail",
            createdDate: "2025-01-15",
            status,
            ...(status === "cancelled" ? { cancelledAt: "2026-11-01" } : {}),
        });
    }
    return { tenants };
}
