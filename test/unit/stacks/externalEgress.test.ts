/**
 * The region's external egress allow-list (stack config `network`, lib/egress.ts):
 * the schema's refusals, each naming the field and the fix, all in one run;
 * the NetworkPolicy egress rules it renders; and the rules in the tenant
 * policy of a real synth of eu-west.
 */
import { externalEgressRules } from "../../../lib/egress";
import { StackConfigError, parseStackConfig } from "../../../stacks/config";
import { SYNTH_TIMEOUT_MS, T, at, ofTenant, one, synth, type SynthResult } from "../../support/synth";

const BASE = { region: "eu-west", features: { databases: false, buckets: false, vhosts: false } };

function problemsOf(network: unknown): readonly string[] {
    try {
        parseStackConfig("local", { ...BASE, network });
    } catch (err) {
        if (err instanceof StackConfigError) return err.problems;
        throw err;
    }
    throw new Error("expected the stack config to be refused");
}

const GENERIC_FIX = 'Fix: correct it in Pulumi.local.yaml (see README, "Stack configuration")';

describe("stack config network: the allow-list is typed", () => {
    test("is empty by default", () => {
        expect(parseStackConfig("local", BASE).network).toEqual({ clusterCidrs: [], externalEgress: [] });
    });

    test("a valid allow-list is kept as written (IPv4 and IPv6)", () => {
        const network = {
            clusterCidrs: ["10.244.0.0/16", "10.96.0.0/12", "fd00:10::/64"],
            externalEgress: [
                { name: "payment-gateway", cidr: "198.51.100.10/32", protocol: "TCP", ports: [443] },
                { name: "mail-relay", cidr: "2001:db8:25::/48", protocol: "TCP", ports: [25, 587] },
                { name: "ntp", cidr: "203.0.113.0/24", protocol: "UDP", ports: [123] },
            ],
        };
        expect(parseStackConfig("local", { ...BASE, network }).network).toEqual(network);
    });

    test("every problem of a bad entry is reported, each naming its field", () => {
        expect(
            problemsOf({ clusterCidrs: ["10.244.0.0/16"], externalEgress: [{ name: "PG", cidr: "198.51.100.10", protocol: "ICMP", ports: [0, 70000] }] }),
        ).toEqual([
            `tenant-platform:network.externalEgress.0.name: must be lower-case letters, digits and dashes, starting with a letter (e.g. payment-gateway). ${GENERIC_FIX}`,
            'tenant-platform:network.externalEgress.0.cidr: "198.51.100.10" is not a CIDR. Fix: write an address and a prefix length, e.g. 198.51.100.10/32 for one host or 198.51.100.0/24',
            `tenant-platform:network.externalEgress.0.protocol: must be TCP or UDP. ${GENERIC_FIX}`,
            `tenant-platform:network.externalEgress.0.ports.0: must be a port from 1 to 65535. ${GENERIC_FIX}`,
            `tenant-platform:network.externalEgress.0.ports.1: must be a port from 1 to 65535. ${GENERIC_FIX}`,
        ]);
    });

    test("host bits, an empty port list, an unknown key and the missing cluster ranges", () => {
        expect(problemsOf({ externalEgress: [{ name: "pg", cidr: "198.51.100.10/24", protocol: "TCP", ports: [], port: 443 }] })).toEqual([
            'tenant-platform:network.externalEgress.0.cidr: "198.51.100.10/24" has host bits set. Fix: write 198.51.100.0/24 for the network or 198.51.100.10/32 for the one host',
            "tenant-platform:network.externalEgress.0.ports: lists no port. Fix: list the destination's ports, e.g. [443]",
            'tenant-platform:network.externalEgress.0: unknown key port. Fix: remove it or correct its spelling (see README, "Stack configuration")',
            "tenant-platform:network.clusterCidrs: is empty but externalEgress lists destinations. Fix: list the cluster's pod, Service and node CIDRs (e.g. [10.244.0.0/16, 10.96.0.0/12]), so that no entry can open a path to another tenant's pods",
        ]);
    });

    test("cross-entry problems are reported alongside the schema's: duplicates and an entry inside the cluster", () => {
        const network = {
            clusterCidrs: ["10.244.0.1/16", "2001:DB8::/32", "10.96.0.0/12"],
            externalEgress: [
                { name: "pg", cidr: "10.96.3.0/24", protocol: "TCP", ports: [443, 443] },
                { name: "pg", cidr: "x/33", protocol: "UDP", ports: ["25"] },
            ],
        };
        expect(problemsOf(network)).toEqual([
            'tenant-platform:network.clusterCidrs.0: "10.244.0.1/16" has host bits set. Fix: write 10.244.0.0/16 for the network or 10.244.0.1/32 for the one host',
            'tenant-platform:network.clusterCidrs.1: "2001:DB8::/32" is not in canonical form. Fix: write 2001:db8::/32',
            'tenant-platform:network.externalEgress.1.cidr: "x/33" is not a CIDR. Fix: write an address and a prefix length, e.g. 198.51.100.10/32 for one host or 198.51.100.0/24',
            `tenant-platform:network.externalEgress.1.ports.0: must be a port number. ${GENERIC_FIX}`,
            "tenant-platform:network.externalEgress.0.ports: lists 443 twice. Fix: list each port once",
            "tenant-platform:network.externalEgress.0.cidr: 10.96.3.0/24 lies inside the cluster's range 10.96.0.0/12 (clusterCidrs): it would reach pods or Services, not an external destination. Fix: list the external address; in-cluster traffic is governed by the tenant policy's own rules",
            'tenant-platform:network.externalEgress.1.name: "pg" is also the name of entry 0. Fix: give each destination its own name',
        ]);
    });

    test.each([
        ["010.0.0.1/32", '"010.0.0.1/32" is not a CIDR'],
        ["10.1/16", '"10.1/16" is not a CIDR'],
        ["198.51.100.0/33", '"198.51.100.0/33" is not a CIDR'],
        ["198.51.100.0/024", '"198.51.100.0/024" is not in canonical form. Fix: write 198.51.100.0/24'],
        ["2001:db8:0:0::/64", '"2001:db8:0:0::/64" is not in canonical form. Fix: write 2001:db8::/64'],
    ])("the CIDR %s is refused", (cidr, start) => {
        const problems = problemsOf({ clusterCidrs: ["10.244.0.0/16"], externalEgress: [{ name: "x", cidr, protocol: "TCP", ports: [443] }] });
        expect(problems).toHaveLength(1);
        expect(problems[0].startsWith(`tenant-platform:network.externalEgress.0.cidr: ${start}`)).toBe(true);
    });
});

describe("externalEgressRules: one NetworkPolicy egress rule per destination", () => {
    test("the CIDR on its protocol and ports; the cluster ranges it contains cut out with except, of its family only", () => {
        const rules = externalEgressRules(
            [
                { name: "payment-gateway", cidr: "198.51.100.10/32", protocol: "TCP", ports: [443, 8443] },
                { name: "anywhere-https", cidr: "0.0.0.0/0", protocol: "TCP", ports: [443] },
                { name: "v6-relay", cidr: "2001:db8::/32", protocol: "UDP", ports: [53] },
            ],
            ["10.244.0.0/16", "10.96.0.0/12", "2001:db8:1::/48", "fd00::/8"],
        );
        expect(rules).toEqual([
            {
                to: [{ ipBlock: { cidr: "198.51.100.10/32" } }],
                ports: [
                    { protocol: "TCP", port: 443 },
                    { protocol: "TCP", port: 8443 },
                ],
            },
            { to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.244.0.0/16", "10.96.0.0/12"] } }], ports: [{ protocol: "TCP", port: 443 }] },
            { to: [{ ipBlock: { cidr: "2001:db8::/32", except: ["2001:db8:1::/48"] } }], ports: [{ protocol: "UDP", port: 53 }] },
        ]);
    });

    test("no destination, no rule", () => {
        expect(externalEgressRules([], ["10.244.0.0/16"])).toEqual([]);
    });
});

describe("the tenant NetworkPolicy of a synth of eu-west with an allow-list", () => {
    let withList: SynthResult;
    beforeAll(async () => {
        withList = await synth({
            stack: "eu-west",
            configOverrides: {
                "tenant-platform:network": JSON.stringify({
                    clusterCidrs: ["10.244.0.0/16", "10.96.0.0/12"],
                    externalEgress: [
                        { name: "payment-gateway", cidr: "198.51.100.10/32", protocol: "TCP", ports: [443] },
                        { name: "mail-relay", cidr: "203.0.113.0/24", protocol: "TCP", ports: [25, 587] },
                    ],
                }),
            },
        });
    }, SYNTH_TIMEOUT_MS);

    test("ends with the allow-list's rules, after the in-cluster ones (unchanged)", () => {
        const egress = at(one(ofTenant(withList, "abc"), T.NetworkPolicy).inputs, "spec", "egress") as unknown[];
        expect(egress).toHaveLength(6);
        expect(egress.slice(4)).toEqual([
            { to: [{ ipBlock: { cidr: "198.51.100.10/32" } }], ports: [{ protocol: "TCP", port: 443 }] },
            {
                to: [{ ipBlock: { cidr: "203.0.113.0/24" } }],
                ports: [
                    { protocol: "TCP", port: 25 },
                    { protocol: "TCP", port: 587 },
                ],
            },
        ]);
        expect(egress[0]).toEqual({ to: [{ podSelector: {} }] });
    });

    test("every tenant of the region gets the same rules", () => {
        const tenants = [...new Set(withList.resources.filter((r) => r.type === T.NetworkPolicy).map((r) => r.tenant))];
        expect(tenants.length).toBeGreaterThan(1);
        for (const t of tenants) {
            const egress = at(one(ofTenant(withList, t as string), T.NetworkPolicy).inputs, "spec", "egress") as { to: { ipBlock?: { cidr: string } }[] }[];
            expect(egress.flatMap((rule) => rule.to.flatMap((peer) => (peer.ipBlock ? [peer.ipBlock.cidr] : [])))).toEqual([
                "198.51.100.10/32",
                "203.0.113.0/24",
            ]);
        }
    });
});
