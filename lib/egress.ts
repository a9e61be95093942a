/**
 * The region's external egress allow-list (stack config `network`): the
 * destinations outside the cluster that every tenant's pods may reach (a
 * payment gateway, a mail relay), each a CIDR, a protocol and ports. The
 * tenant NetworkPolicy refuses every other destination outside the cluster.
 *
 * An entry's CIDR must never reach into the cluster itself: an ipBlock also
 * matches pod and Service addresses, so a wide entry (0.0.0.0/0, 10.0.0.0/8)
 * would open other tenants' pods on its ports. The cluster's own ranges
 * (`network.clusterCidrs`: pod, Service and node ranges) are therefore required with any entry, cut out of
 * wider entries with `except`, and an entry inside them is refused.
 */
import * as ipaddr from "ipaddr.js";

export const EGRESS_PROTOCOLS = ["TCP", "UDP"] as const;
export type EgressProtocol = (typeof EGRESS_PROTOCOLS)[number];

export interface ExternalDestination {
    /** What it is, e.g. payment-gateway: shown in errors and the README's reviews. */
    readonly name: string;
    /** The destination's network in canonical form, e.g. 198.51.100.0/24 or 2001:db8::/32. */
    readonly cidr: string;
    readonly protocol: EgressProtocol;
    readonly ports: readonly number[];
}

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

function parse(text: string): Cidr | undefined {
    const slash = text.indexOf("/");
    if (slash < 0) return undefined;
    const address = text.slice(0, slash);
    const bits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(bits)) return undefined;
    // Only the usual notations: ipaddr.js would also read 0x0a.1 or 10.1 as IPv4 addresses.
    if (!ipaddr.IPv4.isValidFourPartDecimal(address) && !(address.includes(":") && ipaddr.IPv6.isValid(address))) return undefined;
    try {
        return ipaddr.parseCIDR(text);
    } catch {
        return undefined;
    }
}

/** The canonical text of a CIDR's network: the address with its host bits cleared, IPv6 compressed. */
function networkText([address, bits]: Cidr): string {
    const network =
        address.kind() === "ipv4"
            ? ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${bits}`)
            : ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${bits}`);
    return `${network.toString()}/${bits}`;
}

/**
 * Why `text` is not a usable CIDR, with the fix, or undefined when it is one:
 * IPv4 or IPv6, a prefix length, no host bits set, in canonical form.
 */
export function cidrProblem(text: string): string | undefined {
    const cidr = parse(text);
    if (cidr === undefined) return `"${text}" is not a CIDR. Fix: write an address and a prefix length, e.g. 198.51.100.10/32 for one host or 198.51.100.0/24`;
    const canonical = networkText(cidr);
    if (canonical !== text) {
        const [address] = cidr;
        const host = `${address.toString()}/${address.kind() === "ipv4" ? 32 : 128}`;
        return canonical.split("/")[0] === address.toString()
            ? `"${text}" is not in canonical form. Fix: write ${canonical}`
            : `"${text}" has host bits set. Fix: write ${canonical} for the network or ${host} for the one host`;
    }
    return undefined;
}

/** a lies within b (same family, b's prefix no longer than a's, a's network inside b). */
function within(a: Cidr, b: Cidr): boolean {
    return a[0].kind() === b[0].kind() && a[1] >= b[1] && a[0].match(b);
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []);

/**
 * Problems of the allow-list across entries and against the cluster's ranges
 * (duplicate names and ports, an entry inside the cluster), each naming the
 * config field (relative to `network`) and the fix. It reads the raw config
 * values, so that it reports alongside the schema's own problems in one run;
 * what is not a valid CIDR, name or port is the schema's to report.
 */
export function externalEgressProblems(rawDestinations: unknown, rawClusterCidrs: unknown): { path: (string | number)[]; message: string }[] {
    const problems: { path: (string | number)[]; message: string }[] = [];
    const clusterCidrs = strings(rawClusterCidrs);
    const destinations = (Array.isArray(rawDestinations) ? rawDestinations : []).map((d) => {
        const entry = typeof d === "object" && d !== null ? (d as Record<string, unknown>) : {};
        return {
            name: typeof entry.name === "string" ? entry.name : undefined,
            cidr: typeof entry.cidr === "string" ? entry.cidr : "",
            ports: Array.isArray(entry.ports) ? entry.ports : [],
        };
    });
    if (destinations.length > 0 && (rawClusterCidrs === undefined || (Array.isArray(rawClusterCidrs) && rawClusterCidrs.length === 0))) {
        problems.push({
            path: ["clusterCidrs"],
            message:
                "is empty but externalEgress lists destinations. Fix: list the cluster's pod, Service and node CIDRs (e.g. [10.244.0.0/16, 10.96.0.0/12]), so that no entry can open a path to another tenant's pods",
        });
    }
    const seen = new Map<string, number>();
    destinations.forEach((d, i) => {
        const first = d.name === undefined ? undefined : seen.get(d.name);
        if (first !== undefined)
            problems.push({
                path: ["externalEgress", i, "name"],
                message: `"${d.name}" is also the name of entry ${first}. Fix: give each destination its own name`,
            });
        else if (d.name !== undefined) seen.set(d.name, i);
        const duplicates = d.ports.filter((p, j) => d.ports.indexOf(p) !== j);
        if (duplicates.length > 0)
            problems.push({ path: ["externalEgress", i, "ports"], message: `lists ${[...new Set(duplicates)].join(", ")} twice. Fix: list each port once` });
        const cidr = parse(d.cidr);
        if (cidr === undefined) return;
        for (const range of clusterCidrs) {
            const outer = parse(range);
            if (outer !== undefined && within(cidr, outer)) {
                problems.push({
                    path: ["externalEgress", i, "cidr"],
                    message: `${d.cidr} lies inside the cluster's range ${range} (clusterCidrs): it would reach pods or Services, not an external destination. Fix: list the external address; in-cluster traffic is governed by the tenant policy's own rules`,
                });
            }
        }
    });
    return problems;
}

/**
 * The NetworkPolicy egress rules of the allow-list: one rule per destination,
 * its CIDR minus the cluster ranges it contains, on its protocol and ports.
 */
export function externalEgressRules(destinations: readonly ExternalDestination[], clusterCidrs: readonly string[]) {
    return destinations.map((d) => {
        const cidr = parse(d.cidr);
        const except = clusterCidrs.filter((range) => {
            const inner = parse(range);
            return cidr !== undefined && inner !== undefined && range !== d.cidr && within(inner, cidr);
        });
        return {
            to: [{ ipBlock: except.length > 0 ? { cidr: d.cidr, except } : { cidr: d.cidr } }],
            ports: d.ports.map((port) => ({ protocol: d.protocol, port })),
        };
    });
}
