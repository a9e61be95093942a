/**
 * policy/index.ts, the adapter between @pulumi/policy and the pure rules:
 * which policies the pack declares (names, order, enforcement, stated here
 * literally rather than read from RULES), how a PolicyResource becomes a
 * Subject (protect read from the resource's own options), and that every
 * violation a rule finds is reported with its URN.
 *
 * @pulumi/policy's PolicyPack starts the analyzer's gRPC server when
 * constructed; it is replaced by a recorder so the module can be loaded.
 */
import type { PolicyPackArgs, PolicyResource, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";

jest.mock("@pulumi/policy", () => ({ PolicyPack: jest.fn() }));

/** The pack's policies, in report order, each enforced (mandatory): a violation fails the preview. */
const POLICY_NAMES = [
    "tenant-namespace-guards",
    "network-policy-isolation",
    "no-cross-tenant-access",
    "no-public-buckets",
    "data-resources-protected",
    "tenant-region-residency",
    "secret-values-are-secrets",
];

type PackModule = typeof import("../../../policy/index");
let pack: PackModule;
let packName: string;
let packArgs: PolicyPackArgs;

beforeAll(() => {
    pack = require("../../../policy/index") as PackModule;
    const { PolicyPack } = jest.requireMock<{ PolicyPack: jest.Mock }>("@pulumi/policy");
    expect(PolicyPack).toHaveBeenCalledTimes(1);
    [packName, packArgs] = PolicyPack.mock.calls[0] as [string, PolicyPackArgs];
});

const policy = (name: string) => {
    const found = (packArgs.policies as StackValidationPolicy[]).find((p) => p.name === name);
    if (!found) throw new Error(`no policy ${name} in the pack`);
    return found;
};

const URN = (type: string, name: string, chain = "") => `urn:pulumi:eu-west::tenant-platform::${chain}${type}::${name}`;

function resource(type: string, name: string, props: Record<string, unknown>, opts: Partial<PolicyResource["opts"]> = {}, chain = ""): PolicyResource {
    return {
        type,
        name,
        urn: URN(type, name, chain),
        props,
        opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: {}, additionalSecretOutputs: [], ...opts },
    } as unknown as PolicyResource;
}

/** Runs one policy's stack validation and returns what it reported, as [message, urn]. */
function validate(name: string, resources: PolicyResource[], config: Record<string, unknown> = {}): [string, string | undefined][] {
    const reported: [string, string | undefined][] = [];
    const args = { resources, getConfig: () => config, stackTags: new Map(), notApplicable: () => undefined as never } as unknown as StackValidationArgs;
    void policy(name).validateStack(args, (message: string, urn?: string) => reported.push([message, urn]));
    return reported;
}

describe("the pack", () => {
    test("is named collectverything-tenant-platform and mandatory as a whole", () => {
        expect(packName).toBe("collectverything-tenant-platform");
        expect(packArgs.enforcementLevel).toBe("mandatory");
    });

    test("describes itself", () => {
        expect(packArgs.description).toBe("Tenant isolation, data residency and data safety of the Collect & Verything tenant platform.");
    });

    test("declares exactly the seven policies, in report order", () => {
        expect(packArgs.policies.map((p) => p.name)).toEqual(POLICY_NAMES);
    });

    test.each(POLICY_NAMES)("%s is mandatory, stack-wide, and described", (name) => {
        const p = policy(name);
        expect(p.enforcementLevel).toBe("mandatory");
        expect(typeof p.validateStack).toBe("function");
        expect(p.description.length).toBeGreaterThan(20);
    });

    test("only the residency policy takes config: region (one of the three), manifest, projectDir", () => {
        expect(policy("tenant-region-residency").configSchema).toEqual({
            properties: {
                region: { type: "string", enum: ["eu-west", "us-east", "apac"] },
                manifest: { type: "string" },
                projectDir: { type: "string" },
            },
        });
        expect(POLICY_NAMES.filter((n) => policy(n).configSchema !== undefined)).toEqual(["tenant-region-residency"]);
    });

    test("RULES (policy/rules) is the same list: a rule removed from it is a rule removed from the pack", () => {
        const { RULES } = require("../../../policy/rules") as typeof import("../../../policy/rules");
        expect(RULES.map((r) => r.name)).toEqual(POLICY_NAMES);
    });
});

describe("toSubject", () => {
    test("protect is the resource's own option: true only when the resource is protected", () => {
        const db = "mysql:index/database:Database";
        expect(pack.toSubject(resource(db, "kept", {}, { protect: true })).protect).toBe(true);
        expect(pack.toSubject(resource(db, "bare", {}, { protect: false })).protect).toBe(false);
        expect(pack.toSubject(resource(db, "none", {}, { protect: undefined })).protect).toBe(false);
        expect(pack.toSubject({ ...resource(db, "noopts", {}), opts: undefined } as unknown as PolicyResource).protect).toBe(false);
    });

    test("carries type, urn, name and props; the parent comes from the parent resource or the parent option", () => {
        const ns = resource("kubernetes:core/v1:Namespace", "abc-namespace", { metadata: { name: "e-commerce-client-abc" } }, { protect: true });
        expect(pack.toSubject(ns)).toEqual({
            type: "kubernetes:core/v1:Namespace",
            urn: "urn:pulumi:eu-west::tenant-platform::kubernetes:core/v1:Namespace::abc-namespace",
            name: "abc-namespace",
            props: { metadata: { name: "e-commerce-client-abc" } },
            protect: true,
            parent: undefined,
            secretPaths: undefined,
        });
        const parentUrn = URN("collectverything:tenant:Tenant", "abc");
        expect(pack.toSubject({ ...ns, parent: { urn: parentUrn } } as unknown as PolicyResource).parent).toBe(parentUrn);
        expect(pack.toSubject(resource("kubernetes:core/v1:Namespace", "n", {}, { parent: parentUrn })).parent).toBe(parentUrn);
    });
});

describe("validateStack reports every violation of its rule, with the resource's URN", () => {
    test("data-resources-protected: an unprotected database is reported, a protected one is not", () => {
        const reported = validate("data-resources-protected", [
            resource("mysql:index/database:Database", "abc-auth-db", { name: "client_abc_auth_db" }, { protect: false }),
            resource("mysql:index/database:Database", "abc-orders-db", { name: "client_abc_orders_db" }, { protect: true }),
            resource("minio:index/s3Bucket:S3Bucket", "abc-sav", { bucket: "client-abc-sav" }, { protect: false }),
        ]);
        expect(reported).toEqual([
            [
                "Database abc-auth-db holds a tenant's tables but is not protected: a rename or removal would delete it. Fix: create it with { protect: true }.",
                "urn:pulumi:eu-west::tenant-platform::mysql:index/database:Database::abc-auth-db",
            ],
            [
                "S3Bucket abc-sav holds a tenant's objects but is not protected: a rename or removal would delete it. Fix: create it with { protect: true }.",
                "urn:pulumi:eu-west::tenant-platform::minio:index/s3Bucket:S3Bucket::abc-sav",
            ],
        ]);
    });

    test("no-cross-tenant-access: tenant abc's grant on tenant xyz's database is reported", () => {
        const chain = "collectverything:tenant:Tenant$collectverything:tenant:TenantDatabase$";
        const tenantUrn = URN("collectverything:tenant:Tenant", "abc");
        const dbUrn = URN("collectverything:tenant:TenantDatabase", "abc", "collectverything:tenant:Tenant$");
        const reported = validate("no-cross-tenant-access", [
            { ...resource("collectverything:tenant:Tenant", "abc", {}) },
            { ...resource("collectverything:tenant:TenantDatabase", "abc", {}, { parent: tenantUrn }, "collectverything:tenant:Tenant$") },
            resource(
                "mysql:index/grant:Grant",
                "abc-auth-db-grant",
                { user: "client_abc_auth_user", host: "%", database: "client\\_xyz\\_auth\\_db", privileges: ["SELECT"] },
                { parent: dbUrn },
                chain,
            ),
        ]);
        expect(reported).toEqual([
            [
                "MySQL grant abc-auth-db-grant: database client_xyz_auth_db is not a database of client_abc. Fix: a tenant's grants, policies and permissions name its own resources only.",
                `urn:pulumi:eu-west::tenant-platform::${chain}mysql:index/grant:Grant::abc-auth-db-grant`,
            ],
        ]);
    });

    test("a clean stack reports nothing", () => {
        expect(validate("data-resources-protected", [resource("mysql:index/database:Database", "abc-auth-db", {}, { protect: true })])).toEqual([]);
    });

    test("tenant-region-residency, without config, takes the region from the stack the URNs name (Pulumi.apac.yaml)", () => {
        const urn = "urn:pulumi:apac::tenant-platform::collectverything:tenant:Tenant$kubernetes:core/v1:Namespace::abc-namespace";
        const tenant = {
            ...resource("collectverything:tenant:Tenant", "abc", {}),
            urn: "urn:pulumi:apac::tenant-platform::collectverything:tenant:Tenant::abc",
        };
        const ns = {
            ...resource(
                "kubernetes:core/v1:Namespace",
                "abc-namespace",
                { metadata: { name: "e-commerce-client-abc", labels: { tenant: "client-abc", "collectverything.com/region": "eu-west" } } },
                { parent: tenant.urn },
            ),
            urn,
        };
        const reported = validate("tenant-region-residency", [tenant, ns]);
        expect(reported).toContainEqual([
            'abc-namespace of tenant "abc" is labelled collectverything.com/region=eu-west but this stack is region apac: data never leaves its region.',
            urn,
        ]);
    });

    test("tenant-region-residency reads the region from the pack's config", () => {
        const ns = resource("kubernetes:core/v1:Namespace", "abc-namespace", {
            metadata: { name: "e-commerce-client-abc", labels: { tenant: "client-abc", "collectverything.com/region": "eu-west" } },
        });
        const chain = "collectverything:tenant:Tenant$";
        const tenantNs = {
            ...ns,
            urn: URN("kubernetes:core/v1:Namespace", "abc-namespace", chain),
            opts: { ...ns.opts, parent: URN("collectverything:tenant:Tenant", "abc") },
        } as PolicyResource;
        const reported = validate("tenant-region-residency", [resource("collectverything:tenant:Tenant", "abc", {}), tenantNs], { region: "us-east" });
        expect(reported.map(([, urn]) => urn)).toContain(tenantNs.urn);
        expect(reported.map(([message]) => message)).toContain(
            'abc-namespace of tenant "abc" is labelled collectverything.com/region=eu-west but this stack is region us-east: data never leaves its region.',
        );
    });
});
