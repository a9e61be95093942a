import { isolationPolicySpec } from "../../../components/tenantNamespace";
import { checkNetworkIsolation, isOpenSelector, networkPolicyProblems, selectedTenants } from "../../../policy/rules/networkIsolation";
import { inNamespace } from "./subjects";

const NP = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
const byName = (name: string) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } } });

describe("network-policy-isolation", () => {
    it("allows the platform's isolation policy", () => {
        expect(checkNetworkIsolation([inNamespace(NP, "abc", "client-isolation", { spec: isolationPolicySpec("ingress-nginx") })])).toEqual([]);
    });

    it("allows peers in the own namespace and the own tenant's namespace", () => {
        const spec = { podSelector: {}, ingress: [{ from: [{ podSelector: {} }, byName("e-commerce-client-abc")] }] };
        expect(networkPolicyProblems(inNamespace(NP, "abc", "own", { spec }))).toEqual([]);
    });

    it.each([
        ["matchLabels by namespace name", byName("e-commerce-client-xyz")],
        ["matchLabels by tenant label", { namespaceSelector: { matchLabels: { tenant: "client-xyz" } } }],
        [
            "matchExpressions In",
            { namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["e-commerce-client-xyz"] }] } },
        ],
    ])("reports an ingress peer admitting another tenant (%s)", (_label, peer) => {
        const np = inNamespace(NP, "abc", "leak", { spec: { podSelector: {}, ingress: [{ from: [peer] }] } });
        const vs = checkNetworkIsolation([np]);
        expect(vs).toEqual([
            {
                policy: "network-policy-isolation",
                urn: np.urn,
                message: expect.stringContaining('ingress[0].from[0] admits tenant "xyz"\'s namespace e-commerce-client-xyz'),
            },
        ]);
    });

    it("reports egress to another tenant", () => {
        const np = inNamespace(NP, "abc", "out", { spec: { podSelector: {}, egress: [{ to: [byName("e-commerce-client-xyz")] }] } });
        expect(networkPolicyProblems(np)).toEqual(['egress[0].to[0] allows traffic to tenant "xyz"\'s namespace e-commerce-client-xyz']);
    });

    it.each([
        [
            "an empty namespaceSelector",
            { ingress: [{ from: [{ namespaceSelector: {} }] }] },
            "ingress[0].from[0] has an open namespaceSelector: it admits all namespaces",
        ],
        [
            "empty matchLabels",
            { ingress: [{ from: [{ namespaceSelector: { matchLabels: {} } }] }] },
            "ingress[0].from[0] has an open namespaceSelector: it admits all namespaces",
        ],
        [
            "NotIn only",
            { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: "tenant", operator: "NotIn", values: ["x"] }] } }] }] },
            "ingress[0].from[0] has an open namespaceSelector: it admits all namespaces",
        ],
        ["a rule without from", { ingress: [{ ports: [{ port: 80 }] }] }, "ingress[0] has no `from`: it admits every pod of every namespace"],
        ["an egress rule without to", { egress: [{}] }, "egress[0] has no `to`: it allows traffic to every pod of every namespace"],
        [
            "ipBlock 0.0.0.0/0",
            { ingress: [{ from: [{ ipBlock: { cidr: "0.0.0.0/0" } }] }] },
            "ingress[0].from[0] admits ipBlock 0.0.0.0/0: every pod of every namespace",
        ],
    ])("reports a policy open to all namespaces: %s", (_label, spec, problem) => {
        expect(networkPolicyProblems(inNamespace(NP, "abc", "open", { spec: { podSelector: {}, ...spec } }))).toEqual([problem]);
    });

    it("reads selectors", () => {
        expect(selectedTenants({ matchLabels: { "kubernetes.io/metadata.name": "e-commerce-shared" } })).toEqual([]);
        expect(isOpenSelector({ matchLabels: { team: "x" } })).toBe(false);
        expect(isOpenSelector({ matchExpressions: [{ key: "k", operator: "Exists" }] })).toBe(true);
    });
});
