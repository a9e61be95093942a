/** The text of `tenantctl validate`'s purge listing (commander-free, so a unit test can load it). */
import type { TenantSpec } from "../lib/manifest";

/** The tenants past their deletion date, each with the command that purges it; empty text when there are none. */
export function dueReport(due: readonly { readonly tenant: TenantSpec; readonly deleteAfter: string }[], today: string): string {
    if (due.length === 0) return "";
    const lines = [`${due.length} tenant(s) past their deletion date on ${today} (due for purge):`];
    for (const { tenant, deleteAfter } of due) {
        lines.push(
            `  - ${tenant.id} (region ${tenant.region}): cancelled ${tenant.cancelledAt}, deletion date ${deleteAfter}. Run: tenantctl purge --stack ${tenant.region} --tenant ${tenant.id} --yes`,
        );
    }
    lines.push(`  Or every one of a region at once: tenantctl purge --stack <region> --due --yes`);
    return `${lines.join("\n")}\n`;
}
