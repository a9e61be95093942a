/**
 * Who may reach a tenant's backups (issue 12): the identities the backup jobs
 * run as, and their IAM policy documents. Pure: no I/O, no Pulumi SDK.
 *
 * - The **archive identity** (one per tenant, in the archive's IAM: AWS IAM in
 *   production) may list, read, write and delete under `tenants/<id>/` of the
 *   region's archive bucket, and put an Object Lock retention there (the final
 *   backup), and nothing else: no other tenant's prefix, no bucket-level
 *   action, no bypass of a governance retention (compliance cannot be bypassed
 *   by anyone). Its access key reaches the namespace as the Secret
 *   `archive-credentials` (ARCHIVE_CREDENTIALS_SECRET).
 * - The **bucket backup identity** (one per tenant, a MinIO user) may list and
 *   read the tenant's own buckets and nothing else: the backup job copies
 *   objects out, it never writes them (restore runs as the operator). Its
 *   key reaches the namespace as `bucket-backup-credentials`.
 */
import { tenantPrefix } from "./archiveLayout";
import { tenantSlug } from "./naming";

/** IAM path of the archive identities, so an operator can list (and an SCP can fence) them apart. */
export const ARCHIVE_IAM_PATH = "/collectverything/archive/";

/** The tenant's archive IAM user: `cv-archive-<id>` (IAM user names allow 64 characters; tenant ids are far shorter). */
export function archiveUserName(tenantId: string): string {
    return `cv-archive-${tenantId}`;
}

/** Name of the inline policy on the archive user. */
export const ARCHIVE_POLICY_NAME = "tenant-prefix-only";

/** Object actions the backup job performs under its own prefix: set and mirror writes, reads of its last set, GFS pruning, the final backup's lock. */
export const ARCHIVE_OBJECT_ACTIONS = [
    "s3:PutObject",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
] as const;

/** Listing actions, allowed on the bucket only with an `s3:prefix` inside the tenant's prefix. */
export const ARCHIVE_LIST_ACTIONS = ["s3:ListBucket", "s3:ListBucketVersions"] as const;

/**
 * The archive identity's policy: object actions on `arn:aws:s3:::<bucket>/tenants/<id>/*`,
 * listing only with a prefix under `tenants/<id>/`. The trailing slash keeps
 * tenant `ab` out of tenant `abc`'s keys.
 */
export function archivePolicyDocument(bucket: string, tenantId: string) {
    const prefix = tenantPrefix(tenantId);
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "OwnPrefixObjects",
                Effect: "Allow",
                Action: [...ARCHIVE_OBJECT_ACTIONS],
                Resource: [`arn:aws:s3:::${bucket}/${prefix}*`],
            },
            {
                Sid: "ListOwnPrefix",
                Effect: "Allow",
                Action: [...ARCHIVE_LIST_ACTIONS],
                Resource: [`arn:aws:s3:::${bucket}`],
                Condition: { StringLike: { "s3:prefix": [prefix, `${prefix}*`] } },
            },
        ],
    };
}

/** Secret in each tenant namespace with the bucket backup identity's key (S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY). */
export const BUCKET_BACKUP_CREDENTIALS_SECRET = "bucket-backup-credentials";

/** The tenant's read-only MinIO user for the bucket backups. */
export function bucketBackupUser(tenantId: string): string {
    return `${tenantSlug(tenantId)}-backup`;
}

export function bucketBackupPolicyName(tenantId: string): string {
    return `${tenantSlug(tenantId)}-backup-read`;
}

/** Read-only on the tenant's buckets: list them (HeadBucket is ListBucket) and get their objects. */
export const BUCKET_BACKUP_ACTIONS = { bucket: ["s3:ListBucket", "s3:GetBucketLocation"], object: ["s3:GetObject"] } as const;

export function bucketBackupPolicyDocument(buckets: readonly string[]) {
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "ListOwnBuckets", Effect: "Allow", Action: [...BUCKET_BACKUP_ACTIONS.bucket], Resource: buckets.map((b) => `arn:aws:s3:::${b}`) },
            { Sid: "ReadOwnObjects", Effect: "Allow", Action: [...BUCKET_BACKUP_ACTIONS.object], Resource: buckets.map((b) => `arn:aws:s3:::${b}/*`) },
        ],
    };
}

/** The AWS Secrets Manager secret holding the archive identity's key (aws-secrets-manager backend). */
export function archiveAwsSecretPath(tenantId: string): string {
    return `/e-commerce/${tenantSlug(tenantId)}/archive-credentials`;
}
