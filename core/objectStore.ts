/**
 * The S3 API of the region's archive bucket (and of the tenant buckets when
 * they are read for a backup or an export): one client definition, the
 * connection read from the environment, and the few operations the archive
 * needs. Any S3-compatible server: versitygw on the local stack
 * (scripts/lib/objectstore.sh), the region's S3 or MinIO in production.
 *
 * Environment (written by scripts/local-up.sh into .work/local.env):
 *   CV_S3_ENDPOINT                      e.g. http://127.0.0.1:17070 (unset: the AWS endpoint of CV_S3_REGION)
 *   CV_S3_REGION                        the archive's region (data residency: the tenant's region)
 *   CV_S3_ACCESS_KEY_ID, CV_S3_SECRET_ACCESS_KEY_FILE (or CV_S3_SECRET_ACCESS_KEY)
 *   CV_ARCHIVE_BUCKET                   the region's archive bucket
 *   CV_BUCKETS_S3_ENDPOINT, CV_BUCKETS_S3_ACCESS_KEY_ID, CV_BUCKETS_S3_SECRET_ACCESS_KEY_FILE
 *                                       the tenant buckets' server (MinIO); default: the archive's
 */
import {
    CreateBucketCommand,
    DeleteObjectsCommand,
    GetObjectCommand,
    HeadBucketCommand,
    ListObjectVersionsCommand,
    ListObjectsV2Command,
    PutObjectCommand,
    S3Client,
    type ObjectLockMode,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import * as fs from "node:fs";
import { Readable } from "node:stream";

export interface S3Connection {
    readonly endpoint?: string;
    readonly region: string;
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
}

export interface ObjectStoreEnv {
    readonly archive: S3Connection;
    readonly archiveBucket: string;
    readonly buckets: S3Connection;
}

function secretFrom(env: NodeJS.ProcessEnv, prefix: string): string | undefined {
    const file = env[`${prefix}_SECRET_ACCESS_KEY_FILE`];
    if (file) return fs.readFileSync(file, "utf8").trim();
    return env[`${prefix}_SECRET_ACCESS_KEY`];
}

/** The archive and bucket connections from the environment; throws naming the variable and the fix. */
export function objectStoreEnv(env: NodeJS.ProcessEnv = process.env): ObjectStoreEnv {
    const need = (key: string): string => {
        const v = env[key];
        if (!v)
            throw new Error(
                `${key} is not set. Fix: source .work/local.env after \`make local-up\`, or export the region archive's S3 settings (README, "Backups").`,
            );
        return v;
    };
    const region = need("CV_S3_REGION");
    const archiveSecret = secretFrom(env, "CV_S3");
    if (!archiveSecret)
        throw new Error("CV_S3_SECRET_ACCESS_KEY_FILE (or CV_S3_SECRET_ACCESS_KEY) is not set. Fix: source .work/local.env after `make local-up`.");
    const archive: S3Connection = {
        endpoint: env.CV_S3_ENDPOINT || undefined,
        region,
        accessKeyId: need("CV_S3_ACCESS_KEY_ID"),
        secretAccessKey: archiveSecret,
    };
    const buckets: S3Connection = env.CV_BUCKETS_S3_ENDPOINT
        ? {
              endpoint: env.CV_BUCKETS_S3_ENDPOINT,
              region,
              accessKeyId: need("CV_BUCKETS_S3_ACCESS_KEY_ID"),
              secretAccessKey: secretFrom(env, "CV_BUCKETS_S3") ?? need("CV_BUCKETS_S3_SECRET_ACCESS_KEY_FILE"),
          }
        : archive;
    return { archive, archiveBucket: need("CV_ARCHIVE_BUCKET"), buckets };
}

export function s3Client(c: S3Connection): S3Client {
    return new S3Client({
        region: c.region,
        endpoint: c.endpoint,
        // Path-style addressing: S3-compatible servers on one host name (versitygw, MinIO).
        forcePathStyle: c.endpoint !== undefined,
        credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
    });
}

export interface ListedObject {
    readonly key: string;
    readonly size: number;
    readonly etag: string;
}

/** Every object under `prefix`, in key order. */
export async function listAll(s3: S3Client, bucket: string, prefix = ""): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    let token: string | undefined;
    do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) out.push({ key: o.Key ?? "", size: o.Size ?? 0, etag: (o.ETag ?? "").replace(/"/g, "") });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
}

/** The "directories" directly under `prefix` (CommonPrefixes with `/`), without the prefix and the slash. */
export async function listPrefixes(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: "/", ContinuationToken: token }));
        for (const p of page.CommonPrefixes ?? []) if (p.Prefix) out.push(p.Prefix.slice(prefix.length).replace(/\/$/, ""));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
}

export async function bucketExists(s3: S3Client, bucket: string): Promise<boolean> {
    try {
        await s3.send(new HeadBucketCommand({ Bucket: bucket }));
        return true;
    } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 404 || (err as Error).name === "NotFound" || (err as Error).name === "NoSuchBucket") return false;
        throw err;
    }
}

/** Creates `bucket` when it does not exist; `objectLock` creates it with Object Lock enabled (and so versioning). */
export async function ensureBucket(s3: S3Client, bucket: string, opts: { objectLock?: boolean } = {}): Promise<void> {
    if (await bucketExists(s3, bucket)) return;
    await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: opts.objectLock ? true : undefined }));
}

export interface PutOptions {
    readonly contentType?: string;
    readonly metadata?: Record<string, string>;
    readonly lock?: { readonly mode: ObjectLockMode; readonly retainUntil: Date };
}

/** Uploads a stream or buffer (multipart above 8 MiB); resolves with the new version's id on a versioned bucket. */
export async function putObject(
    s3: S3Client,
    bucket: string,
    key: string,
    body: Readable | Buffer | string,
    opts: PutOptions = {},
): Promise<string | undefined> {
    const params = {
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: opts.contentType,
        Metadata: opts.metadata,
        ObjectLockMode: opts.lock?.mode,
        ObjectLockRetainUntilDate: opts.lock?.retainUntil,
        // Object Lock puts need an integrity checksum header.
        ChecksumAlgorithm: opts.lock ? ("SHA256" as const) : undefined,
    };
    if (!(body instanceof Readable)) return (await s3.send(new PutObjectCommand(params))).VersionId;
    const done = await new Upload({ client: s3, params, queueSize: 4, partSize: 8 * 1024 * 1024 }).done();
    return done.VersionId;
}

export interface ObjectBody {
    readonly stream: Readable;
    readonly contentType?: string;
    readonly metadata: Record<string, string>;
}

export async function getObject(s3: S3Client, bucket: string, key: string, versionId?: string): Promise<ObjectBody> {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
    if (!res.Body) throw new Error(`s3://${bucket}/${key}: empty response body`);
    return { stream: res.Body as Readable, contentType: res.ContentType, metadata: res.Metadata ?? {} };
}

export async function getBuffer(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
    const { stream } = await getObject(s3, bucket, key);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
}

/**
 * Deletes every version (and delete marker) of the keys under `prefix`. A
 * version under Object Lock retention is refused by the server: those are
 * returned, not thrown.
 */
export async function deleteAllVersions(s3: S3Client, bucket: string, prefix: string): Promise<{ deleted: number; refused: string[] }> {
    let deleted = 0;
    const refused: string[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
        const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
        const ids = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => ({ Key: v.Key ?? "", VersionId: v.VersionId }));
        for (let i = 0; i < ids.length; i += 1000) {
            const res = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: ids.slice(i, i + 1000), Quiet: false } }));
            deleted += res.Deleted?.length ?? 0;
            for (const e of res.Errors ?? []) refused.push(`${e.Key ?? "?"} (${e.Code ?? "error"})`);
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
    } while (keyMarker);
    return { deleted, refused };
}
