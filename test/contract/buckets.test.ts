/**
 * Bucket isolation, evaluated with an IAM policy simulator.
 *
 * MinIO cannot run here, so the declared minio.IamPolicy documents (synth
 * recorder: the exact `policy` input the provider sends to MinIO), attached
 * to each tenant's app user through the declared IamUserPolicyAttachments,
 * are evaluated with @cloud-copilot/iam-simulate under AWS IAM semantics,
 * which MinIO's policy engine follows for these elements (Allow, Action,
 * Resource with `*`).
 */
import { runSimulation, type Simulation } from "@cloud-copilot/iam-simulate";
import type { SynthResource } from "../../core/synth";
import { TENANT_A, TENANT_B, declaredResources, input, ofType } from "../support/contract";

jest.setTimeout(60_000);

const BUCKET = "minio:index/s3Bucket:S3Bucket";
const IAM_USER = "minio:index/iamUser:IamUser";
const IAM_POLICY = "minio:index/iamPolicy:IamPolicy";
const ATTACHMENT = "minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment";

const TENANTS = [TENANT_A, TENANT_B] as const;
/** MinIO has no accounts; the simulator needs one. */
const ACCOUNT = "000000000000";

const OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"];
/** Bucket-level and account-level actions no tenant app may perform, on its own buckets or anywhere. */
const BUCKET_ADMIN_ACTIONS = [
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
    "s3:GetBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketNotification",
    "s3:ListBucket",
    "s3:ListBucketVersions",
];
/** Object-level actions outside the tenant's three. */
const OTHER_OBJECT_ACTIONS = ["s3:PutObjectAcl", "s3:GetObjectAcl", "s3:PutObjectRetention", "s3:BypassGovernanceRetention", "s3:DeleteObjectVersion"];

interface TenantStorage {
    readonly user: string;
    readonly buckets: string[];
    readonly policies: { name: string; policy: unknown }[];
}

let resources: SynthResource[];
const storage = new Map<string, TenantStorage>();

beforeAll(async () => {
    resources = await declaredResources();
    for (const tenant of TENANTS) {
        const [user] = ofType(resources, IAM_USER, tenant);
        const userName = input(user, "name");
        const policies = resources
            .filter((r) => r.type === ATTACHMENT && input(r, "userName") === userName)
            .map((attachment) => {
                const policyName = input(attachment, "policyName");
                const policy = resources.find((r) => r.type === IAM_POLICY && input(r, "name") === policyName);
                if (!policy) throw new Error(`${attachment.urn}: attaches policy ${policyName}, which no minio.IamPolicy declares`);
                return { name: policyName, policy: JSON.parse(input(policy, "policy")) as unknown };
            });
        storage.set(tenant, { user: userName, buckets: ofType(resources, BUCKET, tenant).map((b) => input(b, "bucket")), policies });
    }
});

type Decision = "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied";

/** The simulator's decision for `tenant`'s app user doing `action` on `resource`; a validation error fails the test. */
async function decide(tenant: string, action: string, resource: string): Promise<Decision> {
    const s = storage.get(tenant)!;
    const simulation: Simulation = {
        identityPolicies: s.policies,
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: undefined,
        request: {
            action,
            principal: `arn:aws:iam::${ACCOUNT}:user/${s.user}`,
            resource: { accountId: ACCOUNT, resource },
            contextVariables: {},
        },
    };
    const result = await runSimulation(simulation, {});
    if (result.resultType === "error") throw new Error(`simulation of ${action} on ${resource} is invalid: ${JSON.stringify(result.errors)}`);
    return result.overallResult;
}

const other = (tenant: string) => (tenant === TENANT_A ? TENANT_B : TENANT_A);
const objectArn = (bucket: string, key = "catalog/item-1.json") => `arn:aws:s3:::${bucket}/${key}`;

describe("declarations (synth of the contract manifest, stack eu-west)", () => {
    test.each(TENANTS)("tenant %s: three private buckets, one app user, exactly one attached policy naming only its own buckets", (tenant) => {
        const s = storage.get(tenant)!;
        expect(s.buckets.sort()).toEqual([`client-${tenant}-newsletters`, `client-${tenant}-products`, `client-${tenant}-sav`]);
        for (const b of ofType(resources, BUCKET, tenant))
            expect({ urn: b.urn, acl: b.inputs.acl, protect: b.protect }).toEqual({ urn: b.urn, acl: "private", protect: true });
        expect(s.user).toBe(`client-${tenant}-app`);
        expect(s.policies.map((p) => p.name)).toEqual([`client-${tenant}-app-objects`]);
        const resourcesNamed = JSON.stringify(s.policies[0].policy).match(/arn:aws:s3:::[^"]+/g) ?? [];
        expect(resourcesNamed.sort()).toEqual(s.buckets.map((b) => `arn:aws:s3:::${b}/*`).sort());
    });
});

describe.each(TENANTS)("tenant %s's app user (simulated)", (tenant) => {
    test("is allowed Get, Put and Delete on the objects of each of its own buckets", async () => {
        for (const bucket of storage.get(tenant)!.buckets) {
            for (const action of OBJECT_ACTIONS) {
                for (const key of ["x.txt", "catalog/2025/item-1.json"]) {
                    expect({ action, resource: objectArn(bucket, key), decision: await decide(tenant, action, objectArn(bucket, key)) }).toEqual({
                        action,
                        resource: objectArn(bucket, key),
                        decision: "Allowed",
                    });
                }
            }
        }
    });

    test("is denied every object action on the other tenant's buckets", async () => {
        for (const bucket of storage.get(other(tenant))!.buckets) {
            for (const action of [...OBJECT_ACTIONS, ...OTHER_OBJECT_ACTIONS]) {
                const decision = await decide(tenant, action, objectArn(bucket));
                expect({ action, bucket, decision }).toEqual({ action, bucket, decision: "ImplicitlyDenied" });
            }
        }
    });

    test("is denied bucket-level administration, on its own buckets and the other tenant's", async () => {
        for (const bucket of [...storage.get(tenant)!.buckets, ...storage.get(other(tenant))!.buckets]) {
            for (const action of BUCKET_ADMIN_ACTIONS) {
                const decision = await decide(tenant, action, `arn:aws:s3:::${bucket}`);
                expect({ action, bucket, decision }).toEqual({ action, bucket, decision: "ImplicitlyDenied" });
            }
        }
    });

    test("is denied object ACL, retention and version changes on its own objects", async () => {
        for (const bucket of storage.get(tenant)!.buckets) {
            for (const action of OTHER_OBJECT_ACTIONS) {
                const decision = await decide(tenant, action, objectArn(bucket));
                expect({ action, bucket, decision }).toEqual({ action, bucket, decision: "ImplicitlyDenied" });
            }
        }
    });

    test("is denied s3:ListAllMyBuckets", async () => {
        expect(await decide(tenant, "s3:ListAllMyBuckets", "*")).toBe("ImplicitlyDenied");
    });

    test("is denied on a bucket whose name only extends its own (no prefix match)", async () => {
        for (const bucket of storage.get(tenant)!.buckets) {
            expect(await decide(tenant, "s3:GetObject", objectArn(`${bucket}-archive`))).toBe("ImplicitlyDenied");
        }
    });
});
