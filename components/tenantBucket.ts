import * as k8s from "@pulumi/kubernetes";
import * as minio from "@pulumi/minio";
import * as pulumi from "@pulumi/pulumi";
import { COMPONENT_TOKENS } from "../lib/tokens";
import * as random from "@pulumi/random";
import { SLOTS, activeSlot, passwordKeepers, type CredentialState } from "../lib/rotation";
import { BUCKET_CREDENTIALS_SECRET, BUCKET_PURPOSES, bucketName, bucketPolicyName, bucketUser } from "../lib/naming";
import { BUCKET_BACKUP_CREDENTIALS_SECRET, bucketBackupPolicyDocument, bucketBackupPolicyName, bucketBackupUser } from "../lib/archiveAccess";

export interface TenantBucketArgs {
    readonly tenantId: string;
    /** Namespace that receives the credentials Secret. */
    readonly namespace: pulumi.Input<string>;
    /** S3 endpoint the applications use. Default: http://minio.e-commerce-shared.svc.cluster.local:9000. */
    readonly endpoint?: string;
    /** Labels for the Kubernetes objects. */
    readonly labels?: Record<string, string>;
    /** The rotation state of the tenant's object-store credential (lib/rotation.ts); absent: generation 0. */
    readonly credentials?: CredentialState;
}

/** Object actions a tenant's app user may perform, and nothing else. */
export const OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] as const;

/**
 * The identity policy attached to the tenant's app user: Get, Put and Delete
 * on the objects of its own buckets only. No bucket-level action, no list of
 * other buckets. An identity policy rather than the seed's bucket policy with
 * principal `arn:aws:iam::*:user/client-abc-app`, whose `*` account matches a
 * user of that name in any account.
 */
export function bucketPolicyDocument(buckets: readonly string[]) {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "TenantObjectsOnly",
                Effect: "Allow",
                Action: [...OBJECT_ACTIONS],
                Resource: buckets.map((b) => `arn:aws:s3:::${b}/*`),
            },
        ],
    };
}

/**
 * The tenant's buckets in MinIO (products, sav, newsletters), two app users
 * (rotation slots) with a policy on those buckets' objects only, and the
 * active one's credentials Secret; and the read-only user the backup jobs
 * copy the objects out with (lib/archiveAccess.ts), in its own Secret.
 */
export class TenantBucket extends pulumi.ComponentResource {
    public readonly buckets: string[];
    public readonly userName: string;

    constructor(name: string, args: TenantBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super(COMPONENT_TOKENS.TenantBucket, name, {}, opts);
        const child = { parent: this };
        this.buckets = BUCKET_PURPOSES.map((p) => bucketName(args.tenantId, p));

        const bucketResources = BUCKET_PURPOSES.map(
            (purpose) =>
                new minio.S3Bucket(
                    `${name}-${purpose}`,
                    { bucket: bucketName(args.tenantId, purpose), acl: "private", forceDestroy: false },
                    { ...child, protect: true },
                ),
        );
        const policy = new minio.IamPolicy(
            `${name}-app-objects`,
            { name: bucketPolicyName(args.tenantId), policy: JSON.stringify(bucketPolicyDocument(this.buckets)) },
            { ...child, dependsOn: bucketResources },
        );
        // Two app users with the same policy (rotation slots a and b, lib/rotation.ts); slot a keeps the names every tenant had.
        const active = activeSlot(args.credentials);
        const slots = SLOTS.map((slot) => {
            const suffix = slot === "a" ? "" : "-b";
            const keepers = passwordKeepers(args.credentials, slot);
            const secretKey = new random.RandomPassword(`${name}-app-secret${suffix}`, { length: 40, special: false, ...(keepers ? { keepers } : {}) }, child);
            const user = new minio.IamUser(
                `${name}-app${suffix}`,
                { name: bucketUser(args.tenantId, slot), secret: secretKey.result, forceDestroy: false },
                child,
            );
            const attachment = new minio.IamUserPolicyAttachment(`${name}-app-objects${suffix}`, { userName: user.name, policyName: policy.name }, child);
            return { slot, userName: bucketUser(args.tenantId, slot), secretKey, ready: [user, attachment] };
        });
        const current = slots.find((s) => s.slot === active)!;
        this.userName = current.userName;
        const secretKey = current.secretKey;

        const endpoint = args.endpoint ?? "http://minio.e-commerce-shared.svc.cluster.local:9000";
        const bucketKeys = Object.fromEntries(BUCKET_PURPOSES.map((p) => [`S3_BUCKET_${p.toUpperCase()}`, bucketName(args.tenantId, p)]));
        new k8s.core.v1.Secret(
            `${name}-storage-credentials`,
            {
                metadata: { name: BUCKET_CREDENTIALS_SECRET, namespace: args.namespace, labels: args.labels },
                type: "Opaque",
                stringData: { S3_ENDPOINT: endpoint, S3_ACCESS_KEY_ID: this.userName, S3_SECRET_ACCESS_KEY: secretKey.result, ...bucketKeys },
            },
            // The Secret names a user only once that user has the key and the policy.
            { ...child, dependsOn: current.ready },
        );

        // The bucket backups' identity: list and read these buckets, nothing else (the app user cannot list).
        const backupKey = new random.RandomPassword(`${name}-backup-secret`, { length: 40, special: false }, child);
        const backupUser = new minio.IamUser(`${name}-backup`, { name: bucketBackupUser(args.tenantId), secret: backupKey.result, forceDestroy: false }, child);
        const backupPolicy = new minio.IamPolicy(
            `${name}-backup-read`,
            { name: bucketBackupPolicyName(args.tenantId), policy: JSON.stringify(bucketBackupPolicyDocument(this.buckets)) },
            { ...child, dependsOn: bucketResources },
        );
        const backupAttachment = new minio.IamUserPolicyAttachment(`${name}-backup-read`, { userName: backupUser.name, policyName: backupPolicy.name }, child);
        new k8s.core.v1.Secret(
            `${name}-backup-credentials`,
            {
                metadata: { name: BUCKET_BACKUP_CREDENTIALS_SECRET, namespace: args.namespace, labels: args.labels },
                type: "Opaque",
                stringData: { S3_ENDPOINT: endpoint, S3_ACCESS_KEY_ID: bucketBackupUser(args.tenantId), S3_SECRET_ACCESS_KEY: backupKey.result },
            },
            { ...child, dependsOn: [backupUser, backupAttachment] },
        );
        this.registerOutputs({ buckets: this.buckets, userName: this.userName });
    }
}
