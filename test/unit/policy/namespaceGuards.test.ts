import { POD_SECURITY_LABELS } from "../../../lib/labels";
import { checkNamespaceGuards, isTenantNamespace, missingPodSecurityLabels, selectsAllPods } from "../../../policy/rules/namespaceGuards";
import { guardedTenant, inNamespace, namespace, subject } from "./subjects";

describe("tenant-namespace-guards", () => {
    it("allows a tenant namespace with quota, limits, an all-pods NetworkPolicy and restricted labels", () => {
        expect(checkNamespaceGuards([...guardedTenant("abc"), ...guardedTenant("xyz")])).toEqual([]);
    });

    it("reports each missing guard of a bare tenant namespace, on the namespace's URN", () => {
        const ns = namespace("bare", {});
        const vs = checkNamespaceGuards([ns, ...guardedTenant("abc")]);
        expect(vs.map((v) => v.urn)).toEqual([ns.urn, ns.urn, ns.urn, ns.urn]);
        expect(vs.map((v) => v.message)).toEqual([
            expect.stringContaining("e-commerce-client-bare has no ResourceQuota"),
            expect.stringContaining("e-commerce-client-bare has no LimitRange"),
            expect.stringContaining("e-commerce-client-bare has no NetworkPolicy selecting every pod"),
            expect.stringContaining(
                `lacks the Pod Security restricted labels ${Object.entries(POD_SECURITY_LABELS)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(", ")}`,
            ),
        ]);
    });

    it("does not count another namespace's guards", () => {
        const [, quota, limits, np] = guardedTenant("abc");
        const vs = checkNamespaceGuards([namespace("xyz"), quota, limits, np]);
        expect(vs).toHaveLength(3);
    });

    it("does not count a NetworkPolicy that selects only some pods", () => {
        const [ns, quota, limits] = guardedTenant("abc");
        const partial = inNamespace("kubernetes:networking.k8s.io/v1:NetworkPolicy", "abc", "web-only", {
            spec: { podSelector: { matchLabels: { app: "web" } } },
        });
        expect(selectsAllPods(partial)).toBe(false);
        expect(checkNamespaceGuards([ns, quota, limits, partial]).map((v) => v.message)).toEqual([expect.stringContaining("has no NetworkPolicy")]);
    });

    it("reports a Pod Security level weaker than restricted", () => {
        const ns = namespace("abc", { ...POD_SECURITY_LABELS, "pod-security.kubernetes.io/enforce": "baseline" });
        expect(missingPodSecurityLabels(ns)).toEqual(["pod-security.kubernetes.io/enforce=restricted"]);
    });

    it("ignores the shared namespace and does not claim a guard is missing while namespaces are unknown", () => {
        const shared = subject("kubernetes:core/v1:Namespace", "shared", { metadata: { name: "e-commerce-shared", labels: {} } });
        expect(isTenantNamespace(shared)).toBe(false);
        const [ns, quota, limits, np] = guardedTenant("abc");
        const unknownQuota = { ...quota, props: { metadata: { namespace: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" } } };
        expect(checkNamespaceGuards([shared, ns, unknownQuota, limits, np])).toEqual([]);
    });
});
