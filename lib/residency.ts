/**
 * Data residency across region stacks. Pure.
 */
import type { TenantSpec } from "./manifest";

/** What a peer region stack reports of itself: its `tenants` output, keyed by tenant id. */
export interface PeerRegion {
    readonly stack: string;
    readonly tenants: Readonly<Record<string, unknown>> | undefined;
}

/**
 * Tenants this stack would deploy that another region stack already holds.
 * Deploying them here would create an empty copy while the data stays in the
 * other region: a move, which is refused.
 */
export function residencyConflicts(region: string, tenants: readonly TenantSpec[], peers: readonly PeerRegion[]): string[] {
    const problems: string[] = [];
    for (const peer of peers) {
        for (const t of tenants) {
            if (peer.tenants && Object.prototype.hasOwnProperty.call(peer.tenants, t.id)) {
                problems.push(
                    `tenant "${t.id}" is listed in region ${region}, but stack ${peer.stack} still holds its data. ` +
                        `Data never leaves its region: set its region back, or onboard the client under a new id in ${region} and cancel "${t.id}" in its old region.`,
                );
            }
        }
    }
    return problems;
}
