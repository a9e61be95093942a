/**
 * What a `subscription.updated` of domains or billing facts does to the
 * eu-west stack (issue 10, section 5): the variant of tenants.yaml the
 * service writes, synthesized and compared with the shipped one. No URN and
 * no physical name changes (nothing is replaced); the values reach the
 * namespace's labels and annotations, the Ingress hosts, and nothing else.
 */
import * as fs from "node:fs";
import { shippedEntries, tempDir, withTenant, writeManifest } from "../../support/manifests";
import { SYNTH_TIMEOUT_MS, T, at, byUrn, ofTenant, one, physicalName, synth, type SynthResource, type SynthResult } from "../../support/synth";

const entries = shippedEntries();
const dir = tempDir("subscription-update");
let base: SynthResult;
let rebilled: SynthResult;
let redomained: SynthResult;

beforeAll(async () => {
    base = await synth({ stack: "eu-west", manifest: writeManifest(dir, "base", entries) });
    rebilled = await synth({
        stack: "eu-west",
        manifest: writeManifest(dir, "rebilled", withTenant(entries, "abc", { billingId: "sub_abc999", costCenter: "CC-ABC-009", department: "outlet" })),
    });
    redomained = await synth({
        stack: "eu-west",
        manifest: writeManifest(
            dir,
            "redomained",
            withTenant(entries, "abc", { domain: "abc-shop.collectverything.com", customDomains: ["shop.abc-shop.fr", "www.abc-shop.fr"] }),
        ),
    });
}, SYNTH_TIMEOUT_MS * 3);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const urns = (r: SynthResult) => new Set(r.resources.map((x) => x.urn));
const names = (r: SynthResult) => new Map(r.resources.filter((x) => physicalName(x) !== undefined).map((x) => [x.urn, `${x.type} ${physicalName(x)}`]));

/** URNs whose inputs differ (after `normalize`) between the base and `after`. */
function changed(after: SynthResult, normalize: (text: string) => string = (t) => t): string[] {
    const a = byUrn(base.resources);
    return after.resources
        .filter((r) => a.has(r.urn) && normalize(JSON.stringify(r.inputs)) !== JSON.stringify((a.get(r.urn) as SynthResource).inputs))
        .map((r) => r.urn)
        .sort();
}

describe("abc's billing id, cost center and department change", () => {
    test("no URN and no physical name changes: nothing is replaced", () => {
        expect(urns(rebilled)).toEqual(urns(base));
        expect(names(rebilled)).toEqual(names(base));
    });

    test("the namespace's labels and annotation carry the new values", () => {
        const ns = one(ofTenant(rebilled, "abc"), T.Namespace);
        expect(at(ns.inputs, "metadata", "labels")).toMatchObject({ "billing-id": "sub_abc999", "cost-center": "CC-ABC-009", department: "outlet" });
        expect(at(ns.inputs, "metadata", "annotations", "billing-id")).toBe("sub_abc999");
    });

    test("only abc's objects change, and only by those three values", () => {
        const back = (t: string) => t.replaceAll("sub_abc999", "sub_abc123").replaceAll("CC-ABC-009", "CC-ABC-001").replaceAll('"outlet"', '"retail"');
        expect(changed(rebilled, back)).toEqual([]);
        // Every object of abc carries the three as labels (AWS secrets as tags): they change in place.
        const touched = changed(rebilled);
        expect(touched).toHaveLength(ofTenant(rebilled, "abc").filter((r) => JSON.stringify(r.inputs).includes("sub_abc999")).length);
        // 23 Kubernetes objects (labels), the 7 AWS secrets (tags: both rotation slots of 3 services, the archive key) and the
        // archive IAM user (tags); the MySQL, MinIO, RabbitMQ, random, IAM policy and access key resources carry none.
        const kinds = touched.map((u) => u.slice(u.lastIndexOf("$") + 1, u.lastIndexOf("::")));
        expect(kinds.filter((k) => k.startsWith("kubernetes:"))).toHaveLength(23);
        expect(kinds.filter((k) => k === "aws:secretsmanager/secret:Secret")).toHaveLength(7);
        expect(kinds.filter((k) => k === "aws:iam/user:User")).toHaveLength(1);
        expect(touched).toHaveLength(31);
        expect(touched.filter((u) => !u.includes("collectverything:tenant:Tenant$") || !/::abc[-a-z]*$/.test(u))).toEqual([]);
    });
});

describe("abc's domain and custom domains change", () => {
    test("no URN and no physical name changes: nothing is replaced", () => {
        expect(urns(redomained)).toEqual(urns(base));
        expect(names(redomained)).toEqual(names(base));
    });

    test("exactly the namespace (its annotations), the tracing context and the Ingress (hosts and certificate) change", () => {
        const tenant = "urn:pulumi:eu-west::tenant-platform::collectverything:tenant:Tenant";
        expect(changed(redomained)).toEqual([
            `${tenant}$collectverything:tenant:TenantIngress$kubernetes:networking.k8s.io/v1:Ingress::abc-ingress`,
            `${tenant}$collectverything:tenant:TenantNamespace$kubernetes:core/v1:ConfigMap::abc-otel`,
            `${tenant}$collectverything:tenant:TenantNamespace$kubernetes:core/v1:Namespace::abc-namespace`,
        ]);
        const abc = ofTenant(redomained, "abc");
        const hosts = ["abc-shop.collectverything.com", "shop.abc-shop.fr", "www.abc-shop.fr"];
        expect(at(one(abc, T.Ingress).inputs, "spec", "tls")).toEqual([{ hosts, secretName: "client-abc-tls" }]);
        expect((at(one(abc, T.Ingress).inputs, "spec", "rules") as { host: string }[]).map((r) => r.host)).toEqual(hosts);
        expect(at(one(abc, T.Namespace).inputs, "metadata", "annotations")).toMatchObject({
            domain: "abc-shop.collectverything.com",
            "custom-domains": "shop.abc-shop.fr,www.abc-shop.fr",
        });
    });
});
