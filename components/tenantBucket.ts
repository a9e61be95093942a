import * as k8s from "@pulumi/kubernetes";
import * as minio from "@pulumi/minio";
import * as pulumi from "@pulumi/pulumi";
import { COMPONENT_TOKENS } from "../lib/tokens";
import * as random from "@pulumi/random";
import { BUCKET_CREDENTIALS_SECRET, BUCKET_PURPOSES, bucketName, bucketPolicyName, bucketUser } from "../lib/naming";

export interface TenantBucketArgs {
    readonly tenantId: string;
    /** Namespace that receives the credentials Secret. */
    readonly namespace: pulumi.Input<string>;
    /** S3 endpoint the applications use. Default: http://minio.e-commerce-shared.svc.cluster.local:9000. */
    readonly endpoint?: string;
    /** Labels for the Kubernetes objects. */
    readonly labels?: Record<string, string>;
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
 * The tenant's buckets in MinIO (products, sav, newsletters), an app user
 * with a policy on those buckets' objects only, and its credentials Secret.
 */
export class TenantBucket extends pulumi.ComponentResource {
    public readonly buckets: string[];
    public readonly userName: string;

    constructor(name: string, args: TenantBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super(COMPONENT_TOKENS.TenantBucket, name, {}, opts);
        const child = { parent: this };
        this.buckets = BUCKET_PURPOSES.map((p) => bucketName(args.tenantId, p));
        this.userName = bucketUser(args.tenantId);

        const bucketResources = BUCKET_PURPOSES.map(
            (purpose) =>
                new minio.S3Bucket(
                    `${name}-${purpose}`,
                    { bucket: bucketName(args.tenantId, purpose), acl: "private", forceDestroy: false },
                    { ...child, protect: true },
                ),
        );
        const secretKey = new random.RandomPassword(`${name}-app-secret`, { length: 40, special: false }, child);
        const user = new minio.IamUser(`${name}-app`, { name: this.userName, secret: secretKey.result, forceDestroy: false }, child);
        const policy = new minio.IamPolicy(
            `${name}-app-objects`,
            { name: bucketPolicyName(args.tenantId), policy: JSON.stringify(bucketPolicyDocument(this.buckets)) },
            { ...child, dependsOn: bucketResources },
        );
        new minio.IamUserPolicyAttachment(`${name}-app-objects`, { userName: user.name, policyName: policy.name }, child);

        const endpoint = args.endpoint ?? "http://minio.e-commerce-shared.svc.cluster.local:9000";
        const bucketKeys = Object.fromEntries(BUCKET_PURPOSES.map((p) => [`S3_BUCKET_${p.toUpperCase()}`, bucketName(args.tenantId, p)]));
        new k8s.core.v1.Secret(
            `${name}-storage-credentials`,
            {
                metadata: { name: BUCKET_CREDENTIALS_SECRET, namespace: args.namespace, labels: args.labels },
                type: "Opaque",
                stringData: { S3_ENDPOINT: endpoint, S3_ACCESS_KEY_ID: this.userName, S3_SECRET_ACCESS_KEY: secretKey.result, ...bucketKeys },
            },
            child,
        );
        this.registerOutputs({ buckets: this.buckets, userName: this.userName });
    }
}
