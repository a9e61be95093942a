/**
 * The backup identities (lib/archiveAccess.ts) on a real S3 server with
 * identity policies: versitygw v1.8.0's standalone IAM service (the AWS IAM
 * API: CreateUser, PutUserPolicy, CreateAccessKey) behind a posix gateway
 * with versioning and Object Lock, started by this test on loopback
 * (test/support/versitygw.ts). The gateway evaluates each request against the
 * user's inline policy, as AWS S3 does for the production archive.
 *
 * Each of two tenants gets the archive identity (the policy the program
 * declares as its aws.iam.UserPolicy) and the read-only bucket backup
 * identity (the policy the program declares as its minio.IamPolicy; here the
 * tenant buckets live on the same gateway). Then the real backup code
 * (core/archive.ts: a daily set, a second one, GFS pruning, the final backup
 * under compliance lock) runs with exactly those credentials, and every
 * reach outside the tenant's prefix or buckets is refused. The tenant ids
 * `acc-a` and `acc-ab` share a prefix on purpose.
 */
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from "@aws-sdk/client-iam";
import {
    DeleteBucketCommand,
    DeleteObjectCommand,
    GetObjectCommand,
    ListObjectVersionsCommand,
    ListObjectsV2Command,
    PutBucketPolicyCommand,
    PutBucketVersioningCommand,
    PutObjectCommand,
    type S3Client,
} from "@aws-sdk/client-s3";
import { backupTenant, listFinals, listSets, pruneTenant, type ArchiveContext, type TenantData } from "../../core/archive";
import { ensureBucket, getBuffer, listAll, putObject, s3Client } from "../../core/objectStore";
import { archivePolicyDocument, archiveUserName, bucketBackupPolicyDocument, bucketBackupUser } from "../../lib/archiveAccess";
import { finalPrefix, manifestKey, setPrefix } from "../../lib/archiveLayout";
import { BUCKET_PURPOSES, bucketName } from "../../lib/naming";
import { REGION, startVersitygw, type Instance } from "../support/versitygw";

jest.setTimeout(180_000);

const ARCHIVE = "cv-archive-eu-west";
const A = "acc-a";
const B = "acc-ab";
const TENANTS = [A, B] as const;

let vgw: Instance;
let root: S3Client;
const archive = new Map<string, S3Client>();
const bucketReader = new Map<string, S3Client>();
const dataOf = (t: string): TenantData => ({ tenantId: t, databases: [], buckets: BUCKET_PURPOSES.map((p) => bucketName(t, p)) });
const ctxOf = (t: string): ArchiveContext => ({
    // No database here: the dumps' keys are written like the objects' (the archive contract test covers the dumps).
    db: { host: "127.0.0.1", port: 1, user: "unused", password: "unused" },
    archive: archive.get(t)!,
    archiveBucket: ARCHIVE,
    buckets: bucketReader.get(t)!,
});

/** The HTTP status and error name of a refused request; a request that succeeds fails the test. */
async function refusal(p: Promise<unknown>): Promise<{ status?: number; name: string }> {
    try {
        await p;
    } catch (err) {
        return { status: (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, name: (err as Error).name };
    }
    throw new Error("the request succeeded");
}
const DENIED = { status: 403, name: "AccessDenied" };

async function identity(iam: IAMClient, user: string, policy: unknown): Promise<S3Client> {
    await iam.send(new CreateUserCommand({ UserName: user }));
    await iam.send(new PutUserPolicyCommand({ UserName: user, PolicyName: "p", PolicyDocument: JSON.stringify(policy) }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: user }))).AccessKey!;
    return s3Client({ endpoint: vgw.s3, region: REGION, accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! });
}

beforeAll(async () => {
    vgw = await startVersitygw("standalone");
    root = s3Client({ endpoint: vgw.s3, region: REGION, ...vgw.root });
    const iam = new IAMClient({ endpoint: vgw.iam, region: "us-east-1", credentials: vgw.root });
    await ensureBucket(root, ARCHIVE, { objectLock: true });
    for (const t of TENANTS) {
        for (const b of dataOf(t).buckets) {
            await ensureBucket(root, b);
            await putObject(root, b, `catalog/${t}-1.json`, Buffer.from(JSON.stringify({ tenant: t, bucket: b })), { contentType: "application/json" });
        }
        archive.set(t, await identity(iam, archiveUserName(t), archivePolicyDocument(ARCHIVE, t)));
        bucketReader.set(t, await identity(iam, bucketBackupUser(t), bucketBackupPolicyDocument(dataOf(t).buckets)));
    }
});

afterAll(async () => {
    if (vgw) await vgw.stop();
});

describe("each tenant's identities run its whole backup", () => {
    test.each(TENANTS)("%s: two daily sets, GFS pruning down to one, then the final backup under compliance lock", async (t) => {
        const day1 = await backupTenant(ctxOf(t), dataOf(t), { now: new Date("2026-11-30T02:00:00Z") });
        await putObject(root, dataOf(t).buckets[0], `catalog/${t}-2.json`, Buffer.from("changed"), { contentType: "application/json" });
        const day2 = await backupTenant(ctxOf(t), dataOf(t), { now: new Date("2026-12-01T02:00:00Z") });
        expect([day1.objectCount, day2.objectCount]).toEqual([3, 4]);
        expect(await listSets(ctxOf(t), t)).toEqual([day1.stamp, day2.stamp]);
        const pruned = await pruneTenant(ctxOf(t), t, { daily: 1, weekly: 0, monthly: 0 });
        expect({ kept: pruned.kept, deleted: pruned.deleted }).toEqual({ kept: [day2.stamp], deleted: [day1.stamp] });
        const final = await backupTenant(ctxOf(t), dataOf(t), { now: new Date("2026-12-01T03:00:00Z"), final: true });
        expect(await listFinals(ctxOf(t), t)).toEqual([final.stamp]);
        // As the root account sees the archive: only this tenant's keys were written, under its prefix.
        const keys = (await listAll(root, ARCHIVE, `tenants/${t}/`)).map((o) => o.key);
        expect(keys).toContain(manifestKey(setPrefix(t, day2.stamp)));
        expect(keys).toContain(manifestKey(finalPrefix(t, final.stamp)));
        expect(keys.filter((k) => k.startsWith(setPrefix(t, day1.stamp)))).toEqual([]);
        expect(keys.filter((k) => k.startsWith(`${finalPrefix(t, final.stamp)}objects/`)).length).toBe(4);
    });
});

describe("the archive identity of acc-a", () => {
    const own = () => archive.get(A)!;
    let otherManifest: string;
    beforeAll(async () => {
        otherManifest = manifestKey(setPrefix(B, (await listSets(ctxOf(B), B))[0]));
    });

    test("reads its own set, and nothing of acc-ab's (whose id extends its own)", async () => {
        expect((await getBuffer(own(), ARCHIVE, manifestKey(setPrefix(A, (await listSets(ctxOf(A), A))[0])))).length).toBeGreaterThan(0);
        expect(await refusal(own().send(new GetObjectCommand({ Bucket: ARCHIVE, Key: otherManifest })))).toEqual(DENIED);
    });

    test("cannot write, overwrite or delete under another prefix, nor at the bucket root", async () => {
        for (const key of [`tenants/${B}/sets/x/manifest.json`, otherManifest, "tenants/acc-a", "tenants/zzz/x", "x.json"]) {
            expect([key, await refusal(own().send(new PutObjectCommand({ Bucket: ARCHIVE, Key: key, Body: "x" })))]).toEqual([key, DENIED]);
        }
        expect(await refusal(own().send(new DeleteObjectCommand({ Bucket: ARCHIVE, Key: otherManifest })))).toEqual(DENIED);
        // Still there, as root sees it.
        expect((await getBuffer(root, ARCHIVE, otherManifest)).length).toBeGreaterThan(0);
    });

    test("lists and lists versions only with a prefix under tenants/acc-a/", async () => {
        const listed = await own().send(new ListObjectsV2Command({ Bucket: ARCHIVE, Prefix: `tenants/${A}/` }));
        expect((listed.Contents ?? []).every((o) => o.Key?.startsWith(`tenants/${A}/`))).toBe(true);
        expect((listed.Contents ?? []).length).toBeGreaterThan(0);
        for (const prefix of [undefined, "tenants/", `tenants/${B}/`, "tenants/acc-a"]) {
            expect([prefix, await refusal(own().send(new ListObjectsV2Command({ Bucket: ARCHIVE, Prefix: prefix })))]).toEqual([prefix, DENIED]);
            expect([prefix, await refusal(own().send(new ListObjectVersionsCommand({ Bucket: ARCHIVE, Prefix: prefix })))]).toEqual([prefix, DENIED]);
        }
    });

    test("cannot change or delete the bucket, its policy or its versioning", async () => {
        expect(await refusal(own().send(new DeleteBucketCommand({ Bucket: ARCHIVE })))).toEqual(DENIED);
        const policy = JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${ARCHIVE}/*` }],
        });
        expect(await refusal(own().send(new PutBucketPolicyCommand({ Bucket: ARCHIVE, Policy: policy })))).toEqual(DENIED);
        expect(await refusal(own().send(new PutBucketVersioningCommand({ Bucket: ARCHIVE, VersioningConfiguration: { Status: "Suspended" } })))).toEqual(
            DENIED,
        );
    });

    test("cannot delete its own final backup: the compliance lock holds even for the identity allowed to delete versions", async () => {
        const stamp = (await listFinals(ctxOf(A), A))[0];
        const versions = await own().send(new ListObjectVersionsCommand({ Bucket: ARCHIVE, Prefix: finalPrefix(A, stamp) }));
        const locked = versions.Versions![0];
        expect(await refusal(own().send(new DeleteObjectCommand({ Bucket: ARCHIVE, Key: locked.Key, VersionId: locked.VersionId })))).toEqual(DENIED);
        expect(
            await refusal(
                own().send(new DeleteObjectCommand({ Bucket: ARCHIVE, Key: locked.Key, VersionId: locked.VersionId, BypassGovernanceRetention: true })),
            ),
        ).toEqual(DENIED);
    });
});

describe("the bucket backup identity of acc-a", () => {
    const reader = () => bucketReader.get(A)!;

    test("lists and reads its own buckets", async () => {
        for (const b of dataOf(A).buckets) {
            expect((await listAll(reader(), b)).map((o) => o.key)).toContain(`catalog/${A}-1.json`);
            expect(JSON.parse((await getBuffer(reader(), b, `catalog/${A}-1.json`)).toString())).toEqual({ tenant: A, bucket: b });
        }
    });

    test("writes and deletes nothing, even in its own buckets", async () => {
        for (const b of dataOf(A).buckets) {
            expect([b, await refusal(reader().send(new PutObjectCommand({ Bucket: b, Key: "x.json", Body: "x" })))]).toEqual([b, DENIED]);
            expect([b, await refusal(reader().send(new DeleteObjectCommand({ Bucket: b, Key: `catalog/${A}-1.json` })))]).toEqual([b, DENIED]);
        }
    });

    test("reads nothing of acc-ab's buckets, nor the archive", async () => {
        for (const b of dataOf(B).buckets) {
            expect([b, await refusal(reader().send(new ListObjectsV2Command({ Bucket: b })))]).toEqual([b, DENIED]);
            expect([b, await refusal(reader().send(new GetObjectCommand({ Bucket: b, Key: `catalog/${B}-1.json` })))]).toEqual([b, DENIED]);
        }
        expect(await refusal(reader().send(new ListObjectsV2Command({ Bucket: ARCHIVE, Prefix: `tenants/${A}/` })))).toEqual(DENIED);
    });
});
