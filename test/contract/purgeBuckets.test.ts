/**
 * Purge of a tenant with buckets (issue 12), through the synth and the
 * contract path (the MinIO provider cannot run here):
 *   - the program, buckets enabled (stack eu-west), declares the tenant's
 *     three buckets with forceDestroy: false while it is live, and nothing at
 *     all once its entry is a tombstone: the purge's `up` deletes them;
 *   - against the real S3 server of `make local-up` (standing in for MinIO and
 *     holding a fresh archive bucket with Object Lock): DeleteBucket, the call
 *     the provider makes for a bucket with forceDestroy: false, is refused
 *     while the bucket holds objects; purge's bucket step refuses while the
 *     final backup does not hold every object as it is now, then, once it
 *     does, empties the buckets; then DeleteBucket succeeds, and the objects
 *     are still in the archive with their checksums, under Object Lock.
 */
import { DeleteBucketCommand, GetObjectRetentionCommand } from "@aws-sdk/client-s3";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { archiveContext, backupTenant, ensureArchiveBucket, type ArchiveContext } from "../../core/archive";
import { deleteAllVersions, ensureBucket, getBuffer, listAll, objectStoreEnv, putObject } from "../../core/objectStore";
import { coverageProblem, emptyBuckets, finalBackupCoverage } from "../../core/purgeBuckets";
import type { SynthRecord } from "../../core/synthProcess";
import { finalPrefix } from "../../lib/archiveLayout";
import { REPO_ROOT, localServices, readLocalEnv } from "../support/contract";

jest.setTimeout(180_000);

const TENANT = "purgb";
const S3_BUCKET = "minio:index/s3Bucket:S3Bucket";
const work = fs.mkdtempSync(path.join(os.tmpdir(), "cv-purge-buckets-"));
let ctx: ArchiveContext;
let declaredBuckets: string[] = [];
let tombstoned: SynthRecord["resources"] = [];

function manifest(status: "cancelled" | "deleted"): string {
    return [
        "tenants:",
        `  - id: ${TENANT}`,
        "    websiteId: 9401",
        "    name: Purge contract tenant",
        `    domain: client-${TENANT}.collectverything.com`,
        "    customDomains: []",
        "    tier: standard",
        "    region: eu-west",
        "    billingId: sub_contract_purgb",
        "    costCenter: CC-CONTRACT",
        "    department: contract-tests",
        "    createdDate: 2025-01-15",
        `    status: ${status}`,
        "    cancelledAt: 2025-10-01",
        ...(status === "deleted" ? ["    deletedAt: 2025-11-05"] : []),
        "  - id: keep",
        "    websiteId: 9402",
        "    name: Another tenant",
        "    domain: client-keep.collectverything.com",
        "    customDomains: []",
        "    tier: standard",
        "    region: eu-west",
        "    billingId: sub_contract_keep",
        "    costCenter: CC-CONTRACT",
        "    department: contract-tests",
        "    createdDate: 2025-01-15",
        "    status: active",
        "",
    ].join("\n");
}

async function synth(label: string, source: string): Promise<SynthRecord> {
    const file = path.join(work, `${label}.yaml`);
    const out = path.join(work, `${label}.json`);
    fs.writeFileSync(file, source);
    await promisify(execFile)(
        process.execPath,
        ["--import", "tsx", path.join(REPO_ROOT, "core", "synthProcess.ts"), "--stack", "eu-west", "--manifest", file, "--out", out, "--full"],
        { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 },
    );
    return JSON.parse(fs.readFileSync(out, "utf8")) as SynthRecord;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const OBJECTS: Record<string, Record<string, Buffer>> = {};

beforeAll(async () => {
    const [live, dead] = await Promise.all([synth("live", manifest("cancelled")), synth("tombstone", manifest("deleted"))]);
    declaredBuckets = live.resources.filter((r) => r.type === S3_BUCKET && r.tenant === TENANT).map((r) => r.inputs.bucket as string);
    for (const r of live.resources.filter((x) => x.type === S3_BUCKET && x.tenant === TENANT)) expect(r.inputs.forceDestroy).toBe(false);
    tombstoned = dead.resources;

    const env = readLocalEnv();
    const store = objectStoreEnv({ ...env, CV_ARCHIVE_BUCKET: `cv-archive-purge-${randomBytes(4).toString("hex")}` });
    const s = localServices();
    ctx = archiveContext(store, { host: s.mysql.host, port: s.mysql.port, user: s.mysql.user, password: s.mysql.password });
    // The region's archive bucket exists before any tenant is purged (local-up and the region's set-up create it).
    await ensureArchiveBucket(ctx);
    for (const bucket of declaredBuckets) {
        await ensureBucket(ctx.buckets, bucket);
        await deleteAllVersions(ctx.buckets, bucket, "");
        OBJECTS[bucket] = { "a.txt": randomBytes(1000), "deep/b/c.bin": randomBytes(70_000) };
        for (const [key, body] of Object.entries(OBJECTS[bucket])) await putObject(ctx.buckets, bucket, key, body);
    }
});

afterAll(async () => {
    if (ctx) {
        for (const bucket of declaredBuckets) {
            await deleteAllVersions(ctx.buckets, bucket, "").catch(() => undefined);
            await ctx.buckets.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
        }
        // Everything but the final backup's locked objects goes.
        await deleteAllVersions(ctx.archive, ctx.archiveBucket, "").catch(() => undefined);
    }
    fs.rmSync(work, { recursive: true, force: true });
});

test("the program, buckets on: three buckets with forceDestroy false while the tenant is live, nothing once it is a tombstone", () => {
    expect(declaredBuckets.sort()).toEqual([`client-${TENANT}-newsletters`, `client-${TENANT}-products`, `client-${TENANT}-sav`]);
    expect(tombstoned.filter((r) => r.tenant === TENANT)).toEqual([]);
    // The other tenant is unaffected (its buckets still declared).
    expect(tombstoned.filter((r) => r.type === S3_BUCKET && r.tenant === "keep")).toHaveLength(3);
});

test("objects to the archive first, then the buckets emptied, then deleted", async () => {
    const bucket = declaredBuckets[0];
    // What blocked purge before: the provider's DeleteBucket on a non-empty bucket is refused.
    await expect(ctx.buckets.send(new DeleteBucketCommand({ Bucket: bucket }))).rejects.toMatchObject({ name: "BucketNotEmpty" });

    // No final backup yet: refused, with the fix.
    const none = await finalBackupCoverage(ctx, TENANT, declaredBuckets);
    expect(none).toEqual({ stamp: undefined, objects: 6, bytes: 3 * 71_000, missing: expect.any(Array) as unknown });
    expect(coverageProblem(TENANT, none)).toBe(
        `tenant "${TENANT}" has no final backup in the archive, and its buckets hold 6 object(s). Fix: run the final backup (tenantctl backup --tenant ${TENANT} --final, which the final-backup Job runs), then purge`,
    );

    // The final backup (what the final-backup Job runs), then an object changed after it: refused, naming the object.
    const first = await backupTenant(ctx, { tenantId: TENANT, databases: [], buckets: declaredBuckets }, { final: true, now: new Date(Date.now() - 2000) });
    OBJECTS[bucket]["a.txt"] = randomBytes(1000);
    await putObject(ctx.buckets, bucket, "a.txt", OBJECTS[bucket]["a.txt"]);
    const stale = await finalBackupCoverage(ctx, TENANT, declaredBuckets);
    expect(stale.stamp).toBe(first.stamp);
    expect(stale.missing).toEqual([`${bucket}/a.txt`]);
    expect(coverageProblem(TENANT, stale)).toBe(
        `the final backup ${first.stamp} of tenant "${TENANT}" does not hold 1 of the 6 object(s) as they are now (${bucket}/a.txt). Fix: take the final backup again (tenantctl backup --tenant ${TENANT} --final), then purge`,
    );

    // Taken again: covered; the buckets are emptied (every version) and DeleteBucket now succeeds.
    const final = await backupTenant(ctx, { tenantId: TENANT, databases: [], buckets: declaredBuckets }, { final: true });
    const covered = await finalBackupCoverage(ctx, TENANT, declaredBuckets);
    expect(covered).toEqual({ stamp: final.stamp, objects: 6, bytes: 3 * 71_000, missing: [] });
    expect(coverageProblem(TENANT, covered)).toBeUndefined();
    const emptied = await emptyBuckets(ctx.buckets, declaredBuckets);
    expect(emptied.map((e) => e.bucket)).toEqual(declaredBuckets);
    for (const b of declaredBuckets) {
        expect(await listAll(ctx.buckets, b)).toEqual([]);
        await ctx.buckets.send(new DeleteBucketCommand({ Bucket: b }));
    }

    // The archive still holds each object, byte for byte, under Object Lock in compliance mode.
    const prefix = finalPrefix(TENANT, final.stamp);
    for (const b of declaredBuckets) {
        for (const [key, body] of Object.entries(OBJECTS[b])) {
            const archivedKey = `${prefix}objects/${b}/${key}`;
            expect(sha256(await getBuffer(ctx.archive, ctx.archiveBucket, archivedKey))).toBe(sha256(body));
            const r = await ctx.archive.send(new GetObjectRetentionCommand({ Bucket: ctx.archiveBucket, Key: archivedKey }));
            expect(r.Retention?.Mode).toBe("COMPLIANCE");
        }
    }
    // A bucket already gone (a purge re-run after a failure) is skipped.
    expect(await emptyBuckets(ctx.buckets, declaredBuckets)).toEqual([]);
});
