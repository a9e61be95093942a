/**
 * What the program declares for the backup jobs to reach the archive and the
 * tenant buckets (issue 12): the archive identity (TenantArchiveAccess: AWS
 * IAM user, prefix policy, access key, the `archive-credentials` Secret) and
 * the read-only bucket backup user (TenantBucket), wired into the backup
 * pods' environment. The policies' decisions are test/unit/lib/archiveAccess.test.ts;
 * the live proof is test/contract/archiveAccess.test.ts.
 */
import { parseStackConfig, StackConfigError } from "../../../stacks/config";
import {
    T,
    at,
    isSerializedSecret,
    one,
    recordComponent,
    synth,
    unwrapSecret,
    type RecordedRegistration,
    type SynthResource,
    type SynthResult,
} from "../../support/synth";
import { ABC_ARCHIVE_POLICY } from "../../support/archivePolicy";

jest.setTimeout(120_000);

let euWest: SynthResult;
let apac: SynthResult;
let abc: SynthResource[];

beforeAll(async () => {
    euWest = await synth({ stack: "eu-west" });
    apac = await synth({ stack: "apac" });
    abc = euWest.resources.filter((r) => r.tenant === "abc");
}, 240_000);

const deps = (r: SynthResource) => (r.options.dependencies ?? []).map((u) => u.split("::").pop());

describe("eu-west (features.archiveIdentity on, aws-secrets-manager backend): the archive identity of abc", () => {
    test("an IAM user cv-archive-abc under /collectverything/archive/", () => {
        const user = one(abc, T.AwsIamUser, "abc-archive");
        expect({ name: user.inputs.name, path: user.inputs.path }).toEqual({ name: "cv-archive-abc", path: "/collectverything/archive/" });
        expect(at(user.inputs, "tags", "tenant")).toBe("client-abc");
    });

    test("its only policy: objects under tenants/abc/ of collectverything-archive-eu-west, listing only with that prefix", () => {
        const policy = one(abc, T.AwsIamUserPolicy, "abc-archive-prefix");
        expect({ name: policy.inputs.name, user: policy.inputs.user }).toEqual({ name: "tenant-prefix-only", user: "cv-archive-abc" });
        expect(JSON.parse(policy.inputs.policy as string)).toEqual(ABC_ARCHIVE_POLICY);
        expect(abc.filter((r) => r.type === T.AwsIamUserPolicy)).toHaveLength(1);
    });

    test("one access key; its secret reaches AWS Secrets Manager as a Pulumi secret, after the policy", () => {
        expect(one(abc, T.AwsAccessKey, "abc-archive-key").inputs).toEqual({ user: "cv-archive-abc" });
        expect(one(abc, T.AwsSecret, "abc-archive-credentials").inputs.name).toBe("/e-commerce/client-abc/archive-credentials");
        const version = one(abc, T.AwsSecretVersion, "abc-archive-credentials");
        expect(version.inputs.secretString).toBe("[secret]");
        expect(deps(version)).toEqual(expect.arrayContaining(["abc-archive-key", "abc-archive-prefix"]));
    });

    test("the ExternalSecret renders archive-credentials in the tenant's namespace with the two keys the backup pods read", () => {
        const es = one(abc, T.ExternalSecret, "abc-archive-credentials");
        expect(at(es.inputs, "metadata", "name")).toBe("archive-credentials");
        expect(at(es.inputs, "metadata", "namespace")).toBe("e-commerce-client-abc");
        expect(at(es.inputs, "spec")).toEqual({
            refreshInterval: "1h",
            secretStoreRef: { name: "aws-secrets-manager", kind: "ClusterSecretStore" },
            target: { name: "archive-credentials", creationPolicy: "Owner" },
            data: [
                { secretKey: "AWS_ACCESS_KEY_ID", remoteRef: { key: "/e-commerce/client-abc/archive-credentials", property: "AWS_ACCESS_KEY_ID" } },
                { secretKey: "AWS_SECRET_ACCESS_KEY", remoteRef: { key: "/e-commerce/client-abc/archive-credentials", property: "AWS_SECRET_ACCESS_KEY" } },
            ],
        });
        const env = at(one(abc, T.CronJob).inputs, "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "env") as {
            name: string;
            valueFrom?: { secretKeyRef: { name: string; key: string } };
        }[];
        const fromSecret = (secret: string) => env.filter((e) => e.valueFrom?.secretKeyRef.name === secret).map((e) => [e.name, e.valueFrom!.secretKeyRef.key]);
        expect(fromSecret("archive-credentials")).toEqual([
            ["CV_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"],
            ["CV_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"],
        ]);
        expect(fromSecret("bucket-backup-credentials")).toEqual([
            ["CV_BUCKETS_S3_ENDPOINT", "S3_ENDPOINT"],
            ["CV_BUCKETS_S3_ACCESS_KEY_ID", "S3_ACCESS_KEY_ID"],
            ["CV_BUCKETS_S3_SECRET_ACCESS_KEY", "S3_SECRET_ACCESS_KEY"],
        ]);
        expect(fromSecret("object-storage-credentials")).toEqual([]);
    });

    test("every tenant of the region has its own user", () => {
        const users = euWest.resources.filter((r) => r.type === T.AwsIamUser).map((r) => [r.tenant, r.inputs.name]);
        expect(users.sort()).toEqual(
            [...new Set(euWest.resources.filter((r) => r.type === T.Tenant).map((r) => r.name))].sort().map((t) => [t, `cv-archive-${t}`]),
        );
    });
});

describe("the bucket backup identity of abc (MinIO)", () => {
    test("a user client-abc-backup with its own 40-character key, attached to its read-only policy only", () => {
        expect(one(abc, T.IamUser, "abc-backup").inputs).toEqual({ name: "client-abc-backup", secret: "[secret]", forceDestroy: false });
        expect(one(abc, T.RandomPassword, "abc-backup-secret").inputs).toEqual({ length: 40, special: false });
        expect(one(abc, T.IamUserPolicyAttachment, "abc-backup-read").inputs).toEqual({ userName: "client-abc-backup", policyName: "client-abc-backup-read" });
        expect(JSON.parse(one(abc, T.IamPolicy, "abc-backup-read").inputs.policy as string)).toEqual({
            Version: "2012-10-17",
            Statement: [
                {
                    Sid: "ListOwnBuckets",
                    Effect: "Allow",
                    Action: ["s3:ListBucket", "s3:GetBucketLocation"],
                    Resource: ["arn:aws:s3:::client-abc-products", "arn:aws:s3:::client-abc-sav", "arn:aws:s3:::client-abc-newsletters"],
                },
                {
                    Sid: "ReadOwnObjects",
                    Effect: "Allow",
                    Action: ["s3:GetObject"],
                    Resource: ["arn:aws:s3:::client-abc-products/*", "arn:aws:s3:::client-abc-sav/*", "arn:aws:s3:::client-abc-newsletters/*"],
                },
            ],
        });
    });

    test("its Secret bucket-backup-credentials, redacted in the synth (a secret), waits for the user and the attachment", () => {
        const secret = one(abc, T.Secret, "abc-backup-credentials");
        expect(at(secret.inputs, "metadata", "name")).toBe("bucket-backup-credentials");
        expect(at(secret.inputs, "stringData")).toBe("[secret]");
        expect(deps(secret)).toEqual(expect.arrayContaining(["abc-backup", "abc-backup-read"]));
    });

    test("that Secret names the backup user with its generated key (component mocks)", async () => {
        const recorded = await recordComponent(
            () => {
                const { TenantBucket } = require("../../../components") as typeof import("../../../components");
                new TenantBucket("kiwi", { tenantId: "kiwi", namespace: "e-commerce-client-kiwi" });
            },
            (type, name, inputs) => (type === T.RandomPassword ? { ...inputs, result: `generated-${name}` } : inputs),
        );
        const secret = recorded.find((r) => r.type === T.Secret && r.name === "kiwi-backup-credentials")!;
        expect(isSerializedSecret(secret.serialized.stringData)).toBe(true);
        expect(unwrapSecret(secret.serialized.stringData)).toEqual({
            S3_ENDPOINT: "http://minio.e-commerce-shared.svc.cluster.local:9000",
            S3_ACCESS_KEY_ID: "client-kiwi-backup",
            S3_SECRET_ACCESS_KEY: "generated-kiwi-backup-secret",
        });
    });
});

describe("apac (features.archiveIdentity off: no AWS account there)", () => {
    test("declares no archive identity and no AWS resource; the bucket backup user is still declared", () => {
        expect(apac.resources.filter((r) => r.type === T.TenantArchiveAccess || r.type.startsWith("aws:"))).toEqual([]);
        expect(apac.resources.filter((r) => r.type === T.IamUser && String(r.inputs.name).endsWith("-backup")).length).toBeGreaterThan(0);
    });

    test("the config refuses archiveIdentity without an aws section, naming the fix", () => {
        const raw = {
            region: "apac",
            features: { databases: false, buckets: false, vhosts: false, archiveIdentity: true },
            kubernetes: { context: "x" },
        };
        expect(() => parseStackConfig("apac", raw)).toThrow(StackConfigError);
        expect(() => parseStackConfig("apac", raw)).toThrow(
            "tenant-platform:aws is missing but features.archiveIdentity is on (each tenant's archive user is an AWS IAM user). Fix: add aws: { region: <aws region> }, or turn features.archiveIdentity off and provide each namespace's archive-credentials Secret yourself",
        );
    });
});

describe("TenantArchiveAccess with the kubernetes backend", () => {
    let recorded: RecordedRegistration[];
    beforeAll(async () => {
        recorded = await recordComponent(
            () => {
                const { TenantArchiveAccess } = require("../../../components") as typeof import("../../../components");
                new TenantArchiveAccess("kiwi", { tenantId: "kiwi", bucket: "collectverything-archive-apac", namespace: "e-commerce-client-kiwi" });
            },
            (type, name, inputs) => (type === T.AwsAccessKey ? { ...inputs, secret: `generated-${name}` } : inputs),
        );
    });

    test("a Kubernetes Secret archive-credentials with the key id and the secret key, the whole data a Pulumi secret", () => {
        const secret = recorded.find((r) => r.type === T.Secret && r.name === "kiwi-archive-credentials")!;
        expect(at(secret.serialized, "metadata", "name")).toBe("archive-credentials");
        expect(at(secret.serialized, "metadata", "namespace")).toBe("e-commerce-client-kiwi");
        expect(isSerializedSecret(secret.serialized.stringData)).toBe(true);
        expect(unwrapSecret(secret.serialized.stringData)).toEqual({
            AWS_ACCESS_KEY_ID: "kiwi-archive-key-id",
            AWS_SECRET_ACCESS_KEY: "generated-kiwi-archive-key",
        });
        expect(recorded.filter((r) => r.type.startsWith("aws:secretsmanager") || r.type === T.ExternalSecret)).toEqual([]);
    });
});
