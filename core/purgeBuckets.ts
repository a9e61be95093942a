/**
 * The bucket step of `tenantctl purge` (issue 12): the tenant's objects go to
 * the archive first, then its buckets are emptied, then the `up` deletes
 * them (empty: `forceDestroy` stays false, so no other path can ever delete
 * a bucket that still holds objects).
 *
 * "In the archive" is checked, not assumed: the newest final backup of the
 * tenant (core/archive.ts, `tenantctl backup --final`, run by the
 * final-backup Job when the tenant is cancelled; under Object Lock in
 * compliance mode for 7 years) must list every object the buckets hold now,
 * with the same size and ETag, and each copy must be in the archive. An
 * object written or changed since that backup refuses the purge, with the
 * fix (take the final backup again). Only then is every version of every
 * object deleted.
 *
 * S3 API only: MinIO for the tenant buckets in production, any S3-compatible
 * archive; the contract test runs it against the local S3 server.
 */
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { finalPrefix, objectsIndexKey, type SetObject } from "../lib/archiveLayout";
import { listFinals, type ArchiveContext } from "./archive";
import { bucketExists, deleteAllVersions, getBuffer, listAll } from "./objectStore";

export interface BucketStores {
    /** Where the tenant's buckets are (MinIO). */
    readonly buckets: S3Client;
    /** The region's archive. */
    readonly archive: S3Client;
    readonly archiveBucket: string;
}

export interface Coverage {
    /** The newest final backup's stamp; undefined when the tenant has none. */
    readonly stamp?: string;
    /** Objects in the buckets now. */
    readonly objects: number;
    readonly bytes: number;
    /** `bucket/key` of the objects that final backup does not hold as they are now. */
    readonly missing: readonly string[];
}

/** Whether the tenant's newest final backup holds every object of `buckets` as it is now. */
export async function finalBackupCoverage(stores: BucketStores, tenantId: string, buckets: readonly string[]): Promise<Coverage> {
    // listFinals reads the archive only. No archive bucket: no final backup.
    const stamps = (await bucketExists(stores.archive, stores.archiveBucket))
        ? await listFinals({ archive: stores.archive, archiveBucket: stores.archiveBucket } as ArchiveContext, tenantId)
        : [];
    const stamp = stamps.at(-1);
    const index = new Map<string, SetObject & { sourceEtag?: string }>();
    if (stamp) {
        const body = await getBuffer(stores.archive, stores.archiveBucket, objectsIndexKey(finalPrefix(tenantId, stamp)));
        for (const o of (JSON.parse(body.toString("utf8")) as { objects: (SetObject & { sourceEtag?: string })[] }).objects) index.set(o.key, o);
    }
    const missing: string[] = [];
    let objects = 0;
    let bytes = 0;
    for (const bucket of buckets) {
        if (!(await bucketExists(stores.buckets, bucket))) continue;
        for (const o of await listAll(stores.buckets, bucket)) {
            objects++;
            bytes += o.size;
            const copy = stamp ? index.get(`${finalPrefix(tenantId, stamp)}objects/${bucket}/${o.key}`) : undefined;
            if (!copy || copy.size !== o.size || (copy.sourceEtag ?? copy.etag) !== o.etag || !(await archived(stores, copy)))
                missing.push(`${bucket}/${o.key}`);
        }
    }
    return { stamp, objects, bytes, missing };
}

async function archived(stores: BucketStores, copy: SetObject): Promise<boolean> {
    try {
        const head = await stores.archive.send(new HeadObjectCommand({ Bucket: stores.archiveBucket, Key: copy.key, VersionId: copy.versionId }));
        return head.ContentLength === copy.size;
    } catch {
        return false;
    }
}

export class BucketPurgeError extends Error {}

/** Deletes every version of every object of `buckets` (absent buckets are skipped); throws naming the refused versions. */
export async function emptyBuckets(s3: S3Client, buckets: readonly string[]): Promise<{ bucket: string; deleted: number }[]> {
    const out: { bucket: string; deleted: number }[] = [];
    for (const bucket of buckets) {
        if (!(await bucketExists(s3, bucket))) continue;
        const { deleted, refused } = await deleteAllVersions(s3, bucket, "");
        if (refused.length > 0) {
            throw new BucketPurgeError(
                `bucket ${bucket}: ${refused.length} object version(s) could not be deleted (${refused.slice(0, 5).join(", ")}). Fix: remove their retention or legal hold, then run the purge again`,
            );
        }
        out.push({ bucket, deleted });
    }
    return out;
}

/** The purge's refusal when the final backup does not cover the buckets (empty when it does). */
export function coverageProblem(tenantId: string, c: Coverage): string | undefined {
    if (c.objects === 0) return undefined;
    if (!c.stamp)
        return `tenant "${tenantId}" has no final backup in the archive, and its buckets hold ${c.objects} object(s). Fix: run the final backup (tenantctl backup --tenant ${tenantId} --final, which the final-backup Job runs), then purge`;
    if (c.missing.length === 0) return undefined;
    return `the final backup ${c.stamp} of tenant "${tenantId}" does not hold ${c.missing.length} of the ${c.objects} object(s) as they are now (${c.missing.slice(0, 5).join(", ")}${c.missing.length > 5 ? ", ..." : ""}). Fix: take the final backup again (tenantctl backup --tenant ${tenantId} --final), then purge`;
}
