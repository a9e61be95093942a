/**
 * A tenant's backups in the region's archive bucket: take a backup set
 * (every database dumped with mariadb-dump, every bucket object versioned
 * into the mirror), take the final backup of a cancelled tenant under S3
 * Object Lock, prune by grandfather-father-son retention, plan and run a
 * restore, and write a portable export. Key layout: lib/archiveLayout.ts;
 * retention rules: lib/retention.ts.
 *
 * Databases are read and written with the Debian mariadb-client tools that
 * scripts/local-up.sh installs (`mariadb-dump`, `mariadb`), the password in
 * MYSQL_PWD only (never on a command line).
 */
import { DeleteObjectsCommand, ListObjectVersionsCommand, type S3Client } from "@aws-sdk/client-s3";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { PassThrough, Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import {
    dumpKey,
    finalPrefix,
    manifestKey,
    mirrorPrefix,
    objectsIndexKey,
    parseMirrorKey,
    setPrefix,
    setsPrefix,
    type SetDatabase,
    type SetManifest,
    type SetObject,
} from "../lib/archiveLayout";
import { BUCKET_PURPOSES, DEFAULT_SERVICES, bucketName, databaseName } from "../lib/naming";
import {
    FINAL_BACKUP_RETENTION_YEARS,
    GFS_RETENTION,
    expiredStamps,
    formatStamp,
    localSetsToKeep,
    restorePoint,
    selectRetained,
    type LocalSet,
    type RetentionPolicy,
} from "../lib/retention";
import {
    bucketExists,
    deleteAllVersions,
    ensureBucket,
    getBuffer,
    getObject,
    listAll,
    listPrefixes,
    putObject,
    s3Client,
    type ObjectStoreEnv,
} from "./objectStore";

export interface DbConnection {
    readonly host: string;
    readonly port: number;
    readonly user: string;
    readonly password: string;
}

/** The region's MySQL admin connection from the environment (CV_MYSQL_HOST, _PORT, _ADMIN_USER, _ADMIN_PASSWORD_FILE). */
export function dbConnectionEnv(env: NodeJS.ProcessEnv = process.env): DbConnection {
    const need = (key: string): string => {
        const v = env[key];
        if (!v)
            throw new Error(
                `${key} is not set. Fix: source .work/local.env after \`make local-up\`, or export the region's MySQL admin settings (README, "Backups").`,
            );
        return v;
    };
    return {
        host: need("CV_MYSQL_HOST"),
        port: Number(need("CV_MYSQL_PORT")),
        user: need("CV_MYSQL_ADMIN_USER"),
        password: fs.readFileSync(need("CV_MYSQL_ADMIN_PASSWORD_FILE"), "utf8").trim(),
    };
}

/** What belongs to a tenant: its databases (per service) and its buckets. */
export interface TenantData {
    readonly tenantId: string;
    readonly databases: readonly { service: string; database: string }[];
    readonly buckets: readonly string[];
}

export function tenantData(tenantId: string, services: readonly string[] = DEFAULT_SERVICES): TenantData {
    return {
        tenantId,
        databases: services.map((service) => ({ service, database: databaseName(tenantId, service) })),
        buckets: BUCKET_PURPOSES.map((p) => bucketName(tenantId, p)),
    };
}

export interface ArchiveContext {
    /** The admin connection (restore, export, and backups without per-service credentials). */
    readonly db: DbConnection;
    /** A service's own connection, when the backup runs with the service credentials (in the tenant's namespace). */
    readonly dbFor?: (service: string) => DbConnection;
    readonly archive: S3Client;
    readonly archiveBucket: string;
    /** The tenant buckets' server. */
    readonly buckets: S3Client;
}

export function archiveContext(store: ObjectStoreEnv, db: DbConnection, dbFor?: (service: string) => DbConnection): ArchiveContext {
    const archive = s3Client(store.archive);
    return { db, dbFor, archive, archiveBucket: store.archiveBucket, buckets: store.buckets === store.archive ? archive : s3Client(store.buckets) };
}

/**
 * Per-service connections from mounted credentials Secrets: `<dir>/<service>/DB_HOST`,
 * `DB_PORT`, `DB_USERNAME`, `DB_PASSWORD` (the `<service>-db-credentials` Secret the backup pod mounts).
 */
export function credentialsDirConnections(dir: string): (service: string) => DbConnection {
    return (service) => {
        const read = (key: string) => {
            const file = path.join(dir, service, key);
            try {
                return fs.readFileSync(file, "utf8").trim();
            } catch {
                throw new Error(`${file} cannot be read. Fix: mount the ${service}-db-credentials Secret at ${path.join(dir, service)}.`);
            }
        };
        return { host: read("DB_HOST"), port: Number(read("DB_PORT")), user: read("DB_USERNAME"), password: read("DB_PASSWORD") };
    };
}

/**
 * The archive bucket exists, with Object Lock enabled (which turns versioning on).
 * A tenant's archive identity (lib/archiveAccess.ts) may not look at the bucket
 * itself: HeadBucket is s3:ListBucket without a prefix, refused with 403. The
 * bucket is then the operator's, created once per region (README, "Backups");
 * if it is missing, the first write fails with NoSuchBucket.
 */
export async function ensureArchiveBucket(ctx: ArchiveContext): Promise<void> {
    try {
        await ensureBucket(ctx.archive, ctx.archiveBucket, { objectLock: true });
    } catch (err) {
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403) return;
        throw err;
    }
}

// ---------------------------------------------------------------------------
// Database dump and load

function dbArgs(db: DbConnection): string[] {
    return ["--no-defaults", "--protocol=TCP", `--host=${db.host}`, `--port=${db.port}`, `--user=${db.user}`];
}

function run(cmd: string, args: string[], db: DbConnection, stdin: "pipe" | "ignore") {
    const child = spawn(cmd, args, { env: { ...process.env, MYSQL_PWD: db.password }, stdio: [stdin, "pipe", "pipe"] }) as ChildProcessByStdio<
        Writable | null,
        Readable,
        Readable
    >;
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
        stderr += c.toString();
    });
    const exited = new Promise<void>((resolve, reject) => {
        child.on("error", reject);
        child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${stderr.trim().slice(0, 500)}`))));
    });
    return { child, exited };
}

/** Counts bytes and hashes a stream as it passes. */
function meter(): { stream: Transform; bytes: () => number; sha256: () => string } {
    const hash = createHash("sha256");
    let bytes = 0;
    const stream = new Transform({
        transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            bytes += chunk.length;
            cb(null, chunk);
        },
    });
    let digest: string | undefined;
    return { stream, bytes: () => bytes, sha256: () => (digest ??= hash.digest("hex")) };
}

/**
 * The mariadb-dump arguments of one database, runnable as the service's own
 * user (components/tenantDatabase.ts SERVICE_PRIVILEGES, nothing server-wide):
 * a consistent snapshot (`--single-transaction`, no global lock), tables,
 * views, routines and triggers, not events (no EVENT privilege), and
 * `--no-tablespaces`: dumping tablespaces reads INFORMATION_SCHEMA.FILES,
 * which MySQL 8.0.21 and later refuse without the global PROCESS privilege.
 */
export function dumpArgs(db: DbConnection, database: string): string[] {
    return [...dbArgs(db), "--single-transaction", "--quick", "--no-tablespaces", "--routines", "--triggers", "--hex-blob", database];
}

/** A consistent gzipped dump of one database (dumpArgs). */
function dumpStream(db: DbConnection, database: string) {
    const dump = run("mariadb-dump", dumpArgs(db, database), db, "ignore");
    const gz = zlib.createGzip({ level: 6 });
    const plain = meter();
    dump.child.stdout.pipe(plain.stream).pipe(gz);
    return { stream: gz, exited: dump.exited, sqlBytes: plain.bytes };
}

/** Runs SQL as the admin. */
export async function sql(db: DbConnection, statements: string): Promise<string> {
    const p = run("mariadb", [...dbArgs(db), "--batch", "--skip-column-names", "-e", statements], db, "ignore");
    let out = "";
    p.child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
    });
    await p.exited;
    return out;
}

const ident = (name: string) => `\`${name.replace(/`/g, "``")}\``;

/**
 * Replaces `database` with the content of a gzipped dump: the database is
 * dropped and created again with its character set and collation (its grants
 * live in mysql.db and stay), then the dump is loaded.
 */
async function loadDump(db: DbConnection, database: string, gzipped: Readable): Promise<void> {
    const charset = (
        await sql(
            db,
            `SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${database.replace(/'/g, "''")}'`,
        )
    )
        .trim()
        .split("\t");
    const [cs, coll] = charset.length === 2 ? charset : ["utf8mb4", "utf8mb4_unicode_ci"];
    await sql(db, `DROP DATABASE IF EXISTS ${ident(database)}; CREATE DATABASE ${ident(database)} CHARACTER SET ${cs} COLLATE ${coll}`);
    const load = run("mariadb", [...dbArgs(db), database], db, "pipe");
    await Promise.all([pipeline(gzipped, zlib.createGunzip(), load.child.stdin as Writable), load.exited]);
}

// ---------------------------------------------------------------------------
// Backup

export interface BackupOptions {
    readonly now?: Date;
    /**
     * Also keep the dumps on this local volume (the tenant's backup PVC), under
     * sets/<stamp>/, pruned to what fits its measured capacity (localSetsToKeep).
     */
    readonly localDir?: string;
    /** The final backup of a cancelled tenant: everything copied under final/ with Object Lock (compliance). */
    readonly final?: boolean;
}

async function latestObjects(ctx: ArchiveContext, tenantId: string): Promise<Map<string, SetObject & { sourceEtag?: string }>> {
    const stamps = await listSets(ctx, tenantId);
    const last = stamps.at(-1);
    if (!last) return new Map();
    const index = JSON.parse((await getBuffer(ctx.archive, ctx.archiveBucket, objectsIndexKey(setPrefix(tenantId, last)))).toString("utf8")) as {
        objects: (SetObject & { sourceEtag?: string })[];
    };
    return new Map(index.objects.map((o) => [o.key, o]));
}

/**
 * Takes one backup set of a tenant into the archive and returns its manifest.
 * A daily set versions each bucket object into the mirror only when it
 * changed since the last set; a final set copies everything under final/
 * with Object Lock in compliance mode for FINAL_BACKUP_RETENTION_YEARS.
 */
export async function backupTenant(ctx: ArchiveContext, data: TenantData, opts: BackupOptions = {}): Promise<SetManifest> {
    const started = opts.now ?? new Date();
    const stamp = formatStamp(started);
    const final = opts.final ?? false;
    const prefix = final ? finalPrefix(data.tenantId, stamp) : setPrefix(data.tenantId, stamp);
    const retainUntil = new Date(started);
    retainUntil.setUTCFullYear(retainUntil.getUTCFullYear() + FINAL_BACKUP_RETENTION_YEARS);
    const lock = final ? { mode: "COMPLIANCE" as const, retainUntil } : undefined;
    await ensureArchiveBucket(ctx);

    const databases: SetDatabase[] = [];
    const localSet = opts.localDir ? path.join(opts.localDir, "sets", stamp) : undefined;
    if (localSet) fs.mkdirSync(localSet, { recursive: true });
    for (const { service, database } of data.databases) {
        const dump = dumpStream(ctx.dbFor?.(service) ?? ctx.db, database);
        const m = meter();
        const key = dumpKey(prefix, database);
        const local = localSet ? pipeline(dump.stream, fs.createWriteStream(path.join(localSet, `${database}.sql.gz`))) : Promise.resolve();
        await Promise.all([
            putObject(ctx.archive, ctx.archiveBucket, key, dump.stream.pipe(m.stream), { contentType: "application/gzip", lock }),
            dump.exited,
            local,
        ]);
        databases.push({ service, database, key, bytes: m.bytes(), sqlBytes: dump.sqlBytes(), sha256: m.sha256() });
    }

    const previous = final ? new Map<string, SetObject & { sourceEtag?: string }>() : await latestObjects(ctx, data.tenantId);
    const objects: (SetObject & { sourceEtag: string })[] = [];
    for (const bucket of data.buckets) {
        if (!(await bucketExists(ctx.buckets, bucket))) continue;
        for (const o of await listAll(ctx.buckets, bucket)) {
            const key = final ? `${prefix}objects/${bucket}/${o.key}` : `${mirrorPrefix(data.tenantId, bucket)}${o.key}`;
            const before = previous.get(key);
            if (before && before.sourceEtag === o.etag && before.size === o.size) {
                objects.push({ ...before, sourceEtag: o.etag });
                continue;
            }
            const src = await getObject(ctx.buckets, bucket, o.key);
            const versionId = await putObject(ctx.archive, ctx.archiveBucket, key, src.stream, { contentType: src.contentType, metadata: src.metadata, lock });
            objects.push({ key, versionId, size: o.size, etag: o.etag, sourceEtag: o.etag });
        }
    }
    await putObject(ctx.archive, ctx.archiveBucket, objectsIndexKey(prefix), JSON.stringify({ objects }, null, 1), { contentType: "application/json", lock });
    const manifest: SetManifest = {
        tenant: data.tenantId,
        stamp,
        kind: final ? "final" : "daily",
        startedAt: started.toISOString(),
        finishedAt: new Date().toISOString(),
        databases,
        objectCount: objects.length,
        objectBytes: objects.reduce((n, o) => n + o.size, 0),
        retainUntil: final ? retainUntil.toISOString() : undefined,
    };
    await putObject(ctx.archive, ctx.archiveBucket, manifestKey(prefix), JSON.stringify(manifest, null, 2), { contentType: "application/json", lock });
    if (opts.localDir && !final) pruneLocal(opts.localDir);
    return manifest;
}

/**
 * Keeps the newest local sets that fit the volume holding `localDir`
 * (capacity from statfs: the size the volume really has, whatever the tier
 * asks for), deletes the others; returns the stamps kept.
 */
export function pruneLocal(localDir: string, capacityBytes?: number): string[] {
    const root = path.join(localDir, "sets");
    const stat = fs.statfsSync(localDir);
    const capacity = capacityBytes ?? stat.blocks * stat.bsize;
    const sets: LocalSet[] = fs
        .readdirSync(root)
        .filter((d) => /^[0-9]{8}-[0-9]{6}$/.test(d))
        .map((stamp) => ({
            stamp,
            bytes: fs.readdirSync(path.join(root, stamp)).reduce((n, f) => n + fs.statSync(path.join(root, stamp, f)).size, 0),
        }));
    const keep = new Set(localSetsToKeep(sets, capacity));
    for (const s of sets) if (!keep.has(s.stamp)) fs.rmSync(path.join(root, s.stamp), { recursive: true, force: true });
    return [...keep].sort();
}

/** Stamps (`YYYYMMDD-HHMMSS`) of the complete sets under `prefix` (those with a manifest, written last), oldest first. */
async function completeStamps(ctx: ArchiveContext, prefix: string): Promise<string[]> {
    const keys = await listAll(ctx.archive, ctx.archiveBucket, prefix);
    return keys
        .map((o) => o.key.slice(prefix.length))
        .filter((k) => /^[0-9]{8}-[0-9]{6}\/manifest\.json$/.test(k))
        .map((k) => k.slice(0, 15))
        .sort();
}

/** Stamps of the tenant's complete daily sets (those with a manifest), oldest first. */
export function listSets(ctx: ArchiveContext, tenantId: string): Promise<string[]> {
    return completeStamps(ctx, setsPrefix(tenantId));
}

/** Stamps of the tenant's final backups, oldest first. */
export function listFinals(ctx: ArchiveContext, tenantId: string): Promise<string[]> {
    return completeStamps(ctx, finalPrefix(tenantId));
}

export interface PruneReport {
    readonly kept: readonly string[];
    readonly deleted: readonly string[];
    /** Sets without a manifest (a run that failed) older than the newest complete set, deleted. */
    readonly incomplete: readonly string[];
    /** Mirror versions no retained set refers to, deleted. */
    readonly versionsDeleted: number;
}

/** Applies GFS retention to a tenant's daily sets, then deletes the mirror versions no kept set refers to. */
export async function pruneTenant(ctx: ArchiveContext, tenantId: string, policy: RetentionPolicy = GFS_RETENTION): Promise<PruneReport> {
    const stamps = await listSets(ctx, tenantId);
    const expired = expiredStamps(stamps, policy);
    for (const stamp of expired) await deleteAllVersions(ctx.archive, ctx.archiveBucket, setPrefix(tenantId, stamp));
    const newest = stamps.at(-1);
    const incomplete = newest
        ? (await listPrefixes(ctx.archive, ctx.archiveBucket, setsPrefix(tenantId))).filter((p) => !stamps.includes(p) && p < newest)
        : [];
    for (const stamp of incomplete) await deleteAllVersions(ctx.archive, ctx.archiveBucket, setPrefix(tenantId, stamp));
    const kept = [...selectRetained(stamps, policy).keys()].sort();
    const referenced = new Set<string>();
    for (const stamp of kept) {
        const index = JSON.parse((await getBuffer(ctx.archive, ctx.archiveBucket, objectsIndexKey(setPrefix(tenantId, stamp)))).toString("utf8")) as {
            objects: SetObject[];
        };
        for (const o of index.objects) referenced.add(`${o.key}\0${o.versionId ?? ""}`);
    }
    let versionsDeleted = 0;
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
        const page = await ctx.archive.send(
            new ListObjectVersionsCommand({ Bucket: ctx.archiveBucket, Prefix: mirrorPrefix(tenantId), KeyMarker: keyMarker, VersionIdMarker: versionMarker }),
        );
        const unused = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]
            .filter((v) => !referenced.has(`${v.Key ?? ""}\0${v.VersionId ?? ""}`))
            .map((v) => ({ Key: v.Key ?? "", VersionId: v.VersionId }));
        for (let i = 0; i < unused.length; i += 1000) {
            const res = await ctx.archive.send(
                new DeleteObjectsCommand({ Bucket: ctx.archiveBucket, Delete: { Objects: unused.slice(i, i + 1000), Quiet: false } }),
            );
            versionsDeleted += res.Deleted?.length ?? 0;
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
    } while (keyMarker);
    return { kept, deleted: expired, incomplete, versionsDeleted };
}

// ---------------------------------------------------------------------------
// Restore

export interface RestorePlan {
    readonly tenantId: string;
    readonly stamp: string;
    readonly kind: "daily" | "final";
    readonly prefix: string;
    readonly databases: readonly SetDatabase[];
    /** Per bucket: the objects the bucket will hold afterwards. */
    readonly buckets: readonly { bucket: string; objects: readonly (SetObject & { objectKey: string })[] }[];
}

/**
 * What a restore would do: the set chosen by `from` (latest, a date, a stamp;
 * a tenant without daily sets falls back to its final backups), limited to
 * one service's database, or to the buckets with `service: "buckets"`.
 */
export async function planRestore(ctx: ArchiveContext, data: TenantData, from: string, service?: string): Promise<RestorePlan> {
    const dailies = await listSets(ctx, data.tenantId);
    const finals = dailies.length === 0 ? await listFinals(ctx, data.tenantId) : [];
    const kind = dailies.length > 0 ? ("daily" as const) : ("final" as const);
    const stamps = kind === "daily" ? dailies : finals;
    const stamp = restorePoint(stamps, from);
    if (!stamp) {
        throw new Error(
            stamps.length === 0
                ? `no backup of tenant ${data.tenantId} in s3://${ctx.archiveBucket}/${setsPrefix(data.tenantId)}. Fix: check --tenant and the archive settings (CV_ARCHIVE_BUCKET).`
                : `no backup of tenant ${data.tenantId} taken on or before ${from}; the oldest is ${stamps[0]}. Fix: choose --from ${stamps[0].slice(0, 4)}-${stamps[0].slice(4, 6)}-${stamps[0].slice(6, 8)} or later, or latest.`,
        );
    }
    const prefix = kind === "daily" ? setPrefix(data.tenantId, stamp) : finalPrefix(data.tenantId, stamp);
    const manifest = JSON.parse((await getBuffer(ctx.archive, ctx.archiveBucket, manifestKey(prefix))).toString("utf8")) as SetManifest;
    const index = JSON.parse((await getBuffer(ctx.archive, ctx.archiveBucket, objectsIndexKey(prefix))).toString("utf8")) as { objects: SetObject[] };
    const known = new Set([...data.databases.map((d) => d.service), "buckets"]);
    if (service !== undefined && !known.has(service)) {
        throw new Error(`--service ${service}: not a service of tenant ${data.tenantId}. Fix: use one of ${[...known].join(", ")}.`);
    }
    const databases = service === undefined ? manifest.databases : manifest.databases.filter((d) => d.service === service);
    const byBucket = new Map<string, (SetObject & { objectKey: string })[]>(data.buckets.map((b) => [b, []]));
    if (service === undefined || service === "buckets") {
        for (const o of index.objects) {
            const { bucket, key } =
                kind === "daily"
                    ? parseMirrorKey(data.tenantId, o.key)
                    : {
                          bucket: o.key.slice(`${prefix}objects/`.length).split("/")[0],
                          key: o.key.slice(`${prefix}objects/`.length).split("/").slice(1).join("/"),
                      };
            byBucket.get(bucket)?.push({ ...o, objectKey: key });
        }
    }
    const buckets = service === undefined || service === "buckets" ? [...byBucket].map(([bucket, objects]) => ({ bucket, objects })) : [];
    return { tenantId: data.tenantId, stamp, kind, prefix, databases, buckets };
}

export function describePlan(plan: RestorePlan, archiveBucket: string): string {
    const lines = [`restore tenant ${plan.tenantId} from the ${plan.kind} backup ${plan.stamp} (s3://${archiveBucket}/${plan.prefix}):`];
    for (const d of plan.databases)
        lines.push(`  database ${d.database}: drop, create and load ${d.key} (${d.bytes} bytes gzipped, sha256 ${d.sha256.slice(0, 12)}…)`);
    for (const b of plan.buckets) {
        const bytes = b.objects.reduce((n, o) => n + o.size, 0);
        lines.push(`  bucket ${b.bucket}: make it hold exactly the ${b.objects.length} objects of the backup (${bytes} bytes); other objects are deleted`);
    }
    return lines.join("\n");
}

export interface RestoreReport {
    readonly databases: number;
    readonly dumpBytes: number;
    readonly objectsWritten: number;
    readonly objectsDeleted: number;
    readonly objectBytes: number;
}

/** Runs a plan: verifies each dump's SHA-256 before loading it, then makes each bucket hold the backup's objects. */
export async function restore(ctx: ArchiveContext, plan: RestorePlan): Promise<RestoreReport> {
    let dumpBytes = 0;
    for (const d of plan.databases) {
        // Verify first (a corrupt dump must not replace a live database), from a local temporary copy.
        const tmp = fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "cv-restore-"));
        try {
            const file = path.join(tmp, "dump.sql.gz");
            const m = meter();
            await pipeline((await getObject(ctx.archive, ctx.archiveBucket, d.key)).stream, m.stream, fs.createWriteStream(file));
            if (m.sha256() !== d.sha256)
                throw new Error(`${d.key}: SHA-256 ${m.sha256()} differs from the backup manifest's ${d.sha256}; the database was not touched.`);
            await loadDump(ctx.db, d.database, fs.createReadStream(file));
            dumpBytes += m.bytes();
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }
    let objectsWritten = 0;
    let objectsDeleted = 0;
    let objectBytes = 0;
    for (const b of plan.buckets) {
        await ensureBucket(ctx.buckets, b.bucket);
        const current = new Map((await listAll(ctx.buckets, b.bucket)).map((o) => [o.key, o]));
        const wanted = new Set(b.objects.map((o) => o.objectKey));
        for (const o of b.objects) {
            const now = current.get(o.objectKey);
            if (now && now.etag === o.etag && now.size === o.size) continue;
            const src = await getObject(ctx.archive, ctx.archiveBucket, o.key, o.versionId);
            await putObject(ctx.buckets, b.bucket, o.objectKey, src.stream, { contentType: src.contentType, metadata: src.metadata });
            objectsWritten++;
            objectBytes += o.size;
        }
        const extra = [...current.keys()].filter((k) => !wanted.has(k));
        for (let i = 0; i < extra.length; i += 1000) {
            await ctx.buckets.send(
                new DeleteObjectsCommand({ Bucket: b.bucket, Delete: { Objects: extra.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }),
            );
        }
        objectsDeleted += extra.length;
    }
    return { databases: plan.databases.length, dumpBytes, objectsWritten, objectsDeleted, objectBytes };
}

// ---------------------------------------------------------------------------
// Export (data portability)

export interface ExportSources {
    readonly rabbitmq: { readonly mgmtUrl: string; readonly user: string; readonly password: string };
}

/** The RabbitMQ management connection from the environment (CV_RABBITMQ_MGMT_URL, _ADMIN_USER, _ADMIN_PASSWORD_FILE). */
export function rabbitmqEnv(env: NodeJS.ProcessEnv = process.env): ExportSources["rabbitmq"] {
    const need = (key: string): string => {
        const v = env[key];
        if (!v) throw new Error(`${key} is not set. Fix: source .work/local.env after \`make local-up\`, or export the region's RabbitMQ management settings.`);
        return v;
    };
    return {
        mgmtUrl: need("CV_RABBITMQ_MGMT_URL").replace(/\/$/, ""),
        user: need("CV_RABBITMQ_ADMIN_USER"),
        password: fs.readFileSync(need("CV_RABBITMQ_ADMIN_PASSWORD_FILE"), "utf8").trim(),
    };
}

/** Where an export goes: a local directory or s3://bucket/prefix on the archive's server. */
export type ExportTarget = { readonly kind: "dir"; readonly dir: string } | { readonly kind: "s3"; readonly bucket: string; readonly prefix: string };

export function parseExportTarget(out: string): ExportTarget {
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(out);
    if (out.startsWith("s3://")) {
        if (!m) throw new Error(`--out ${out}: not s3://<bucket>[/<prefix>] with a valid bucket name. Fix: e.g. s3://exports/client-abc`);
        const prefix = (m[2] ?? "").replace(/^\/+|\/+$/g, "");
        return { kind: "s3", bucket: m[1], prefix: prefix ? `${prefix}/` : "" };
    }
    return { kind: "dir", dir: path.resolve(out) };
}

export interface ExportEntry {
    readonly path: string;
    readonly bytes: number;
    readonly sha256: string;
}

export interface ExportReport {
    readonly root: string;
    readonly entries: readonly ExportEntry[];
    readonly bytes: number;
}

/**
 * Writes a portable archive of a tenant's live data: `databases/<db>.sql.gz`
 * (mariadb-dump), `buckets/<bucket>/<key>`, `rabbitmq/definitions.json` (the
 * vhost's definitions from the management API), `tenant.json` (the manifest
 * entry) and `SHA256SUMS` (`sha256sum -c` format) over every other file.
 */
export async function exportTenant(
    ctx: ArchiveContext,
    data: TenantData,
    entry: unknown,
    vhost: string,
    mq: ExportSources["rabbitmq"],
    target: ExportTarget,
    now: Date = new Date(),
): Promise<ExportReport> {
    const root = `${data.tenantId}-export-${formatStamp(now)}`;
    const entries: ExportEntry[] = [];
    const write = async (rel: string, body: Readable | Buffer | string, contentType?: string): Promise<void> => {
        const m = meter();
        const src = body instanceof Readable ? body : Readable.from([typeof body === "string" ? Buffer.from(body) : body]);
        if (target.kind === "dir") {
            const base = path.join(target.dir, root);
            const file = path.resolve(base, rel);
            if (!file.startsWith(`${base}${path.sep}`)) throw new Error(`export: ${rel} would be written outside ${base} (an object key with ".."); refused.`);
            fs.mkdirSync(path.dirname(file), { recursive: true });
            await pipeline(src, m.stream, fs.createWriteStream(file));
        } else {
            const pass = new PassThrough();
            await Promise.all([putObject(ctx.archive, target.bucket, `${target.prefix}${root}/${rel}`, pass, { contentType }), pipeline(src, m.stream, pass)]);
        }
        entries.push({ path: rel, bytes: m.bytes(), sha256: m.sha256() });
    };
    if (target.kind === "s3") await ensureBucket(ctx.archive, target.bucket);

    for (const { database } of data.databases) {
        const dump = dumpStream(ctx.db, database);
        await Promise.all([write(`databases/${database}.sql.gz`, dump.stream, "application/gzip"), dump.exited]);
    }
    for (const bucket of data.buckets) {
        if (!(await bucketExists(ctx.buckets, bucket))) continue;
        for (const o of await listAll(ctx.buckets, bucket)) {
            const src = await getObject(ctx.buckets, bucket, o.key);
            await write(`buckets/${bucket}/${o.key}`, src.stream, src.contentType);
        }
    }
    const res = await fetch(`${mq.mgmtUrl}/api/definitions/${encodeURIComponent(vhost)}`, {
        headers: { authorization: `Basic ${Buffer.from(`${mq.user}:${mq.password}`).toString("base64")}` },
    });
    if (!res.ok)
        throw new Error(
            `RabbitMQ management API: GET /api/definitions/${vhost} answered ${res.status}. Fix: check that the vhost exists and CV_RABBITMQ_ADMIN_USER may read it.`,
        );
    await write("rabbitmq/definitions.json", `${JSON.stringify(await res.json(), null, 2)}\n`, "application/json");
    await write("tenant.json", `${JSON.stringify(entry, null, 2)}\n`, "application/json");
    const sums = entries.map((e) => `${e.sha256}  ${e.path}\n`).join("");
    await write("SHA256SUMS", sums, "text/plain");
    return {
        root: target.kind === "dir" ? path.join(target.dir, root) : `s3://${target.bucket}/${target.prefix}${root}`,
        entries,
        bytes: entries.reduce((n, e) => n + e.bytes, 0),
    };
}
