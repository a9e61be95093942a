/**
 * Where a tenant's backups live in the region's archive bucket. Pure: one
 * definition of the key layout for the backup job's shell
 * (components/tenantNamespace.ts), core/archive.ts, restore and export.
 *
 *   tenants/<id>/sets/<stamp>/db/<database>.sql.gz      a daily backup set: one gzipped dump per database
 *   tenants/<id>/sets/<stamp>/objects.json              the versions of the tenant's bucket objects at that time
 *   tenants/<id>/sets/<stamp>/manifest.json             written last: the set is complete
 *   tenants/<id>/objects/<bucket>/<key>                 the bucket mirror, versioned (a version per change)
 *   tenants/<id>/final/<stamp>/...                      the final backup of a cancelled tenant: db/, objects/<bucket>/<key>,
 *                                                       manifest.json, every object under Object Lock (compliance, 7 years)
 */

export function tenantPrefix(tenantId: string): string {
    return `tenants/${tenantId}/`;
}

export function setsPrefix(tenantId: string): string {
    return `${tenantPrefix(tenantId)}sets/`;
}

export function setPrefix(tenantId: string, stamp: string): string {
    return `${setsPrefix(tenantId)}${stamp}/`;
}

export function finalPrefix(tenantId: string, stamp?: string): string {
    return `${tenantPrefix(tenantId)}final/${stamp ? `${stamp}/` : ""}`;
}

export function dumpKey(setOrFinalPrefix: string, database: string): string {
    return `${setOrFinalPrefix}db/${database}.sql.gz`;
}

export function manifestKey(setOrFinalPrefix: string): string {
    return `${setOrFinalPrefix}manifest.json`;
}

export function objectsIndexKey(setOrFinalPrefix: string): string {
    return `${setOrFinalPrefix}objects.json`;
}

export function mirrorPrefix(tenantId: string, bucket?: string): string {
    return `${tenantPrefix(tenantId)}objects/${bucket ? `${bucket}/` : ""}`;
}

/** The bucket and the object key of a mirror key `tenants/<id>/objects/<bucket>/<key>`. */
export function parseMirrorKey(tenantId: string, archiveKey: string): { bucket: string; key: string } {
    const prefix = mirrorPrefix(tenantId);
    if (!archiveKey.startsWith(prefix)) throw new Error(`${archiveKey} is not under ${prefix}`);
    const rest = archiveKey.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash <= 0 || slash === rest.length - 1) throw new Error(`${archiveKey} has no <bucket>/<key> after ${prefix}`);
    return { bucket: rest.slice(0, slash), key: rest.slice(slash + 1) };
}

/** One database dump of a backup set. */
export interface SetDatabase {
    readonly service: string;
    readonly database: string;
    readonly key: string;
    readonly bytes: number;
    /** Bytes of SQL before compression. */
    readonly sqlBytes: number;
    /** SHA-256 of the gzipped dump as stored. */
    readonly sha256: string;
}

/** One bucket object a backup set refers to: a version of the mirror (daily) or a copy under the final prefix. */
export interface SetObject {
    /** Archive key of the object's data. */
    readonly key: string;
    readonly versionId?: string;
    readonly size: number;
    readonly etag: string;
}

export interface SetManifest {
    readonly tenant: string;
    readonly stamp: string;
    readonly kind: "daily" | "final";
    /** ISO instants. */
    readonly startedAt: string;
    readonly finishedAt: string;
    readonly databases: readonly SetDatabase[];
    readonly objectCount: number;
    readonly objectBytes: number;
    /** For a final backup: until when Object Lock retains it. */
    readonly retainUntil?: string;
}

/** The image the backup jobs run: this repository's tenantctl with Node.js and the mariadb-client tools (Dockerfile.tenantctl). */
export const DEFAULT_BACKUP_IMAGE = "ghcr.io/collectverything/tenantctl:0.1.0";

/**
 * The resources of the backup container (daily and final): explicit, so the
 * tenant's LimitRange defaults do not apply. The tier catalog leaves room for
 * two such pods at the HPA minimum (lib/tiers.ts, README "Tiers").
 */
export const BACKUP_POD_RESOURCES = {
    requests: { cpu: "100m", memory: "256Mi" },
    limits: { cpu: "500m", memory: "512Mi" },
} as const;

/** Secret in each tenant namespace with the archive credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), limited to tenants/<id>/. */
export const ARCHIVE_CREDENTIALS_SECRET = "archive-credentials";

/** The region's archive bucket: S3 API, in the region (data residency). */
export interface BackupArchive {
    readonly bucket: string;
    /** S3 region of the bucket. */
    readonly region: string;
    /** An S3-compatible endpoint instead of AWS S3. */
    readonly endpoint?: string;
}

export function archiveBucketName(region: string): string {
    return `collectverything-archive-${region}`;
}
