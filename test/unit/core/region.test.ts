/**
 * The pure parts of core/region.ts: which stacks a region has, which
 * resources make up a tenant's tree in a stack's state (what reshard passes
 * to `pulumi state move`), the repair of a half-done move, and the `tenants`
 * output that moves with the tenant.
 */
import type { Deployment } from "@pulumi/pulumi/automation";
import { isRegionStack, regionStacks, tenantTrees, withTenantOutputs, withoutResources, type StateResource } from "../../../core/region";

const P = "urn:pulumi:local-s01::tenant-platform";
const ROOT = `${P}::pulumi:pulumi:Stack::tenant-platform-local-s01`;
const PROVIDER = `${P}::pulumi:providers:kubernetes::kubernetes`;
const T = "collectverything:tenant:Tenant";
const abc = `${P}::${T}::abc`;
const abcNs = `${P}::${T}$collectverything:tenant:TenantNamespace::abc`;
const abcNamespace = `${P}::${T}$collectverything:tenant:TenantNamespace$kubernetes:core/v1:Namespace::abc-ns`;
const abcQuota = `${P}::${T}$collectverything:tenant:TenantNamespace$kubernetes:core/v1:ResourceQuota::abc-quota`;
const abcIngress = `${P}::${T}$kubernetes:networking.k8s.io/v1:Ingress::abc-ingress`;
const nordic = `${P}::${T}::nordic`;
const nordicNs = `${P}::${T}$kubernetes:core/v1:Namespace::nordic-ns`;
const shared = `${P}::collectverything:tenant:SharedRegion::eu-west`;
const nestedTenant = `${P}::collectverything:tenant:SharedRegion$${T}::ghost`;

const resources: StateResource[] = [
    {
        urn: ROOT,
        type: "pulumi:pulumi:Stack",
        outputs: { region: "eu-west", tenantCount: 2, tenants: { abc: { tier: "premium" }, nordic: { tier: "standard" } } },
    },
    { urn: PROVIDER, type: "pulumi:providers:kubernetes", parent: ROOT },
    { urn: shared, type: "collectverything:tenant:SharedRegion", parent: ROOT },
    { urn: nestedTenant, type: T, parent: shared },
    { urn: abc, type: T, parent: ROOT },
    { urn: nordic, type: T, parent: ROOT },
    { urn: abcNs, type: "collectverything:tenant:TenantNamespace", parent: abc },
    { urn: nordicNs, type: "kubernetes:core/v1:Namespace", parent: nordic },
    { urn: abcNamespace, type: "kubernetes:core/v1:Namespace", parent: abcNs },
    { urn: abcQuota, type: "kubernetes:core/v1:ResourceQuota", parent: abcNs },
    { urn: abcIngress, type: "kubernetes:networking.k8s.io/v1:Ingress", parent: abc },
];

const deployment = (rs: StateResource[], extra: Record<string, unknown> = {}): Deployment => ({
    version: 3,
    deployment: { manifest: {}, resources: rs, ...extra },
});

describe("regionStacks / isRegionStack", () => {
    test("one shard: the region stack alone; K shards: the region stack, then -s00 … -s(K-1)", () => {
        expect(regionStacks("eu-west", 1)).toEqual(["eu-west"]);
        expect(regionStacks("eu-west", 3)).toEqual(["eu-west", "eu-west-s00", "eu-west-s01", "eu-west-s02"]);
    });

    test.each([
        ["local", true],
        ["local-s00", true],
        ["local-s15", true],
        ["local-s1", false],
        ["localx-s00", false],
        ["eu-west-s00", false],
        ["other", false],
    ])("isRegionStack(local, %s) is %s", (stack, expected) => {
        expect(isRegionStack("local", stack)).toBe(expected);
    });
});

describe("tenantTrees", () => {
    test("each top-level Tenant with every descendant (grandchildren included), in state order", () => {
        expect(Object.fromEntries(tenantTrees(resources))).toEqual({
            abc: [abc, abcNs, abcNamespace, abcQuota, abcIngress],
            nordic: [nordic, nordicNs],
        });
    });

    test("a Tenant-typed resource below another component is not a tenant of the stack; a state without tenants has none", () => {
        expect([...tenantTrees(resources).keys()]).not.toContain("ghost");
        expect(tenantTrees([resources[0], resources[1]]).size).toBe(0);
    });
});

describe("withoutResources (repair of a move interrupted between its two saves)", () => {
    test("drops exactly the given resources and their pending operations, keeps the rest in order", () => {
        const d = deployment(resources, {
            pending_operations: [
                { resource: { urn: abcQuota }, type: "creating" },
                { resource: { urn: nordicNs }, type: "updating" },
            ],
        });
        const out = withoutResources(d, [abc, abcNs, abcNamespace, abcQuota, abcIngress]).deployment as {
            resources: StateResource[];
            pending_operations: { resource: { urn: string } }[];
        };
        expect(out.resources.map((r) => r.urn)).toEqual([ROOT, PROVIDER, shared, nestedTenant, nordic, nordicNs]);
        expect(out.pending_operations.map((p) => p.resource.urn)).toEqual([nordicNs]);
        expect((d.deployment as { resources: unknown[] }).resources).toHaveLength(resources.length);
    });
});

describe("withTenantOutputs", () => {
    const root = (d: Deployment) => (d.deployment as { resources: StateResource[] }).resources[0].outputs;

    test("lists exactly the held tenants: keeps its own entries, takes moved-in ones from the region's entries, drops moved-out ones", () => {
        const out = withTenantOutputs(deployment(resources), ["nordic", "lumiere"], new Map([["lumiere", { tier: "business" }]]));
        expect(out && root(out)).toEqual({ region: "eu-west", tenantCount: 2, tenants: { lumiere: { tier: "business" }, nordic: { tier: "standard" } } });
        expect(root(deployment(resources))?.tenants).toEqual({ abc: { tier: "premium" }, nordic: { tier: "standard" } });
    });

    test("undefined when the output already matches, or when the state has no root stack", () => {
        expect(withTenantOutputs(deployment(resources), ["nordic", "abc"], new Map())).toBeUndefined();
        expect(withTenantOutputs(deployment(resources.slice(1)), ["abc"], new Map())).toBeUndefined();
    });

    test("a stack that lost every tenant gets an empty map and a count of 0", () => {
        const out = withTenantOutputs(deployment(resources), [], new Map());
        expect(out && root(out)).toEqual({ region: "eu-west", tenantCount: 0, tenants: {} });
    });
});
