/**
 * The backup identities' policies (lib/archiveAccess.ts): the exact documents,
 * and their decisions under AWS IAM semantics (@cloud-copilot/iam-simulate),
 * which AWS IAM (the archive) and MinIO (the tenant buckets) both follow for
 * these elements. The live proof on a real S3 server is
 * test/contract/archiveAccess.test.ts.
 */
import { runSimulation, type Simulation } from "@cloud-copilot/iam-simulate";
import {
    archiveAwsSecretPath,
    archivePolicyDocument,
    archiveUserName,
    bucketBackupPolicyDocument,
    bucketBackupPolicyName,
    bucketBackupUser,
} from "../../../lib/archiveAccess";
import { ABC_ARCHIVE_POLICY } from "../../support/archivePolicy";

const ACCOUNT = "123456789012";
const BUCKET = "collectverything-archive-eu-west";

type Decision = "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied";

async function decide(policy: unknown, user: string, action: string, resource: string, context: Record<string, string> = {}): Promise<Decision> {
    const simulation: Simulation = {
        identityPolicies: [{ name: "p", policy }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: undefined,
        request: { action, principal: `arn:aws:iam::${ACCOUNT}:user/${user}`, resource: { accountId: ACCOUNT, resource }, contextVariables: context },
    };
    const result = await runSimulation(simulation, {});
    if (result.resultType === "error") throw new Error(`simulation of ${action} on ${resource} is invalid: ${JSON.stringify(result.errors)}`);
    return result.overallResult;
}

describe("names", () => {
    test("the archive user, its AWS secret, the bucket backup user and its policy", () => {
        expect(archiveUserName("abc")).toBe("cv-archive-abc");
        expect(archiveAwsSecretPath("abc")).toBe("/e-commerce/client-abc/archive-credentials");
        expect(bucketBackupUser("abc")).toBe("client-abc-backup");
        expect(bucketBackupPolicyName("abc")).toBe("client-abc-backup-read");
    });
});

describe("archive identity policy", () => {
    test("is exactly: object actions under tenants/<id>/, listing only with a prefix under it", () => {
        expect(archivePolicyDocument(BUCKET, "abc")).toEqual(ABC_ARCHIVE_POLICY);
    });

    const policy = archivePolicyDocument(BUCKET, "abc");
    const obj = (key: string) => `arn:aws:s3:::${BUCKET}/${key}`;
    const OWN_KEYS = [
        "tenants/abc/sets/20261201T020000Z/db/client_abc_auth_db.sql.gz",
        "tenants/abc/objects/client-abc-sav/a/b.pdf",
        "tenants/abc/final/x/manifest.json",
    ];
    const OTHER_KEYS = [
        "tenants/abcd/sets/s/manifest.json",
        "tenants/ab/sets/s/manifest.json",
        "tenants/xyz/final/x/db/d.sql.gz",
        "tenants/abc",
        "manifest.json",
    ];
    const OBJECT_ACTIONS = ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention"];

    test("allows every object action the backup job needs on its own keys", async () => {
        for (const key of OWN_KEYS)
            for (const action of OBJECT_ACTIONS)
                expect([action, key, await decide(policy, "cv-archive-abc", action, obj(key))]).toEqual([action, key, "Allowed"]);
    });

    test("denies them on another tenant's keys (abcd and ab included), the bare prefix and the bucket root", async () => {
        for (const key of OTHER_KEYS) {
            for (const action of OBJECT_ACTIONS)
                expect([action, key, await decide(policy, "cv-archive-abc", action, obj(key))]).toEqual([action, key, "ImplicitlyDenied"]);
        }
    });

    test("allows listing (objects and versions) only with a prefix under tenants/abc/", async () => {
        const bucket = `arn:aws:s3:::${BUCKET}`;
        for (const action of ["s3:ListBucket", "s3:ListBucketVersions"]) {
            for (const prefix of ["tenants/abc/", "tenants/abc/sets/", "tenants/abc/objects/client-abc-sav/"])
                expect([action, prefix, await decide(policy, "cv-archive-abc", action, bucket, { "s3:prefix": prefix })]).toEqual([action, prefix, "Allowed"]);
            for (const prefix of ["", "tenants/", "tenants/ab", "tenants/abc", "tenants/abcd/", "tenants/xyz/"])
                expect([action, prefix, await decide(policy, "cv-archive-abc", action, bucket, { "s3:prefix": prefix })]).toEqual([
                    action,
                    prefix,
                    "ImplicitlyDenied",
                ]);
            expect(await decide(policy, "cv-archive-abc", action, bucket)).toBe("ImplicitlyDenied");
        }
    });

    test("denies bypassing a governance retention, legal holds and every bucket-level change", async () => {
        expect(await decide(policy, "cv-archive-abc", "s3:BypassGovernanceRetention", obj(OWN_KEYS[2]))).toBe("ImplicitlyDenied");
        expect(await decide(policy, "cv-archive-abc", "s3:PutObjectLegalHold", obj(OWN_KEYS[2]))).toBe("ImplicitlyDenied");
        for (const action of [
            "s3:DeleteBucket",
            "s3:PutBucketPolicy",
            "s3:PutBucketVersioning",
            "s3:PutBucketObjectLockConfiguration",
            "s3:PutLifecycleConfiguration",
        ])
            expect([action, await decide(policy, "cv-archive-abc", action, `arn:aws:s3:::${BUCKET}`)]).toEqual([action, "ImplicitlyDenied"]);
        expect(await decide(policy, "cv-archive-abc", "s3:ListAllMyBuckets", "*")).toBe("ImplicitlyDenied");
    });

    test("names its own bucket only: another region's archive is denied", async () => {
        expect(await decide(policy, "cv-archive-abc", "s3:PutObject", "arn:aws:s3:::collectverything-archive-us-east/tenants/abc/x")).toBe("ImplicitlyDenied");
    });
});

describe("bucket backup identity policy", () => {
    const buckets = ["client-abc-products", "client-abc-sav", "client-abc-newsletters"];
    const policy = bucketBackupPolicyDocument(buckets);

    test("is exactly: list and locate the tenant's three buckets, get their objects", () => {
        expect(policy).toEqual({
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

    test("reads its own buckets and writes nothing", async () => {
        for (const b of buckets) {
            expect(await decide(policy, "client-abc-backup", "s3:ListBucket", `arn:aws:s3:::${b}`)).toBe("Allowed");
            expect(await decide(policy, "client-abc-backup", "s3:GetObject", `arn:aws:s3:::${b}/catalog/1.json`)).toBe("Allowed");
            for (const action of ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl", "s3:GetObjectVersion"])
                expect([action, b, await decide(policy, "client-abc-backup", action, `arn:aws:s3:::${b}/catalog/1.json`)]).toEqual([
                    action,
                    b,
                    "ImplicitlyDenied",
                ]);
            for (const action of ["s3:DeleteBucket", "s3:PutBucketPolicy"])
                expect([action, b, await decide(policy, "client-abc-backup", action, `arn:aws:s3:::${b}`)]).toEqual([action, b, "ImplicitlyDenied"]);
        }
    });

    test("reads no other tenant's bucket, nor one whose name only extends its own", async () => {
        for (const b of ["client-abd-products", "client-abc-products-archive", "client-ab-sav"]) {
            expect([b, await decide(policy, "client-abc-backup", "s3:ListBucket", `arn:aws:s3:::${b}`)]).toEqual([b, "ImplicitlyDenied"]);
            expect([b, await decide(policy, "client-abc-backup", "s3:GetObject", `arn:aws:s3:::${b}/x`)]).toEqual([b, "ImplicitlyDenied"]);
        }
    });
});
