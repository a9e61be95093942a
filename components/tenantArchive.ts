import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ARCHIVE_IAM_PATH, ARCHIVE_POLICY_NAME, archiveAwsSecretPath, archivePolicyDocument, archiveUserName } from "../lib/archiveAccess";
import { ARCHIVE_CREDENTIALS_SECRET } from "../lib/archiveLayout";
import type { CredentialsBackend } from "../lib/credentials";
import { SLOTS, activeSlot, archiveKeyExists, archiveKeyResourceName, type CredentialState } from "../lib/rotation";
import { COMPONENT_TOKENS } from "../lib/tokens";

export interface TenantArchiveAccessArgs {
    readonly tenantId: string;
    /** The region's archive bucket. */
    readonly bucket: string;
    /** Namespace that receives the `archive-credentials` Secret. */
    readonly namespace: pulumi.Input<string>;
    /** How the key reaches the namespace, like the database credentials. Default: kubernetes. */
    readonly credentialsBackend?: CredentialsBackend;
    /** Name of the ClusterSecretStore used with aws-secrets-manager. Default: aws-secrets-manager. */
    readonly secretStoreName?: string;
    /** Labels for the Kubernetes objects and tags for the AWS ones. */
    readonly labels?: Record<string, string>;
    /** The rotation state of the archive credential (lib/rotation.ts, key `archive`); absent: generation 0. */
    readonly credentials?: CredentialState;
}

/** The keys of the `archive-credentials` Secret (what the backup pod's CV_S3_ACCESS_KEY_ID / CV_S3_SECRET_ACCESS_KEY read). */
export const ARCHIVE_SECRET_KEYS = { accessKeyId: "AWS_ACCESS_KEY_ID", secretAccessKey: "AWS_SECRET_ACCESS_KEY" } as const;

/**
 * The tenant's identity in the archive's IAM (AWS IAM, through the stack's
 * aws provider): a user under ARCHIVE_IAM_PATH whose only policy
 * (lib/archiveAccess.ts) is its own `tenants/<id>/` prefix of the region's
 * archive bucket, its access keys (rotation slots a and b: lib/rotation.ts
 * archiveKeyExists; generation 0 is the one key every tenant always had), and
 * the active slot's key delivered to the tenant's namespace as
 * `archive-credentials` (a Kubernetes Secret, or an AWS secret rendered by an
 * ExternalSecret), only once that key exists. The secret key is a Pulumi secret.
 */
export class TenantArchiveAccess extends pulumi.ComponentResource {
    public readonly userName: string;

    constructor(name: string, args: TenantArchiveAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super(COMPONENT_TOKENS.TenantArchiveAccess, name, {}, opts);
        const child = { parent: this };
        this.userName = archiveUserName(args.tenantId);
        const user = new aws.iam.User(`${name}-archive`, { name: this.userName, path: ARCHIVE_IAM_PATH, tags: args.labels }, child);
        const policy = new aws.iam.UserPolicy(
            `${name}-archive-prefix`,
            { name: ARCHIVE_POLICY_NAME, user: user.name, policy: JSON.stringify(archivePolicyDocument(args.bucket, args.tenantId)) },
            child,
        );
        // Slot a's key keeps the name the one key always had; slot b's exists from the first switch; a retired slot's key is deleted.
        const keys = SLOTS.filter((slot) => archiveKeyExists(args.credentials, slot)).map(
            (slot) => [slot, new aws.iam.AccessKey(archiveKeyResourceName(name, slot), { user: user.name }, child)] as const,
        );
        const key = keys.find(([slot]) => slot === activeSlot(args.credentials))![1];
        // The Secret names a key only once it exists and its user has the policy.
        const ready = { parent: this, dependsOn: [key, policy] };
        const data = { [ARCHIVE_SECRET_KEYS.accessKeyId]: key.id, [ARCHIVE_SECRET_KEYS.secretAccessKey]: pulumi.secret(key.secret) };
        const meta = { name: ARCHIVE_CREDENTIALS_SECRET, namespace: args.namespace, labels: args.labels };
        if ((args.credentialsBackend ?? "kubernetes") === "kubernetes") {
            new k8s.core.v1.Secret(`${name}-archive-credentials`, { metadata: meta, type: "Opaque", stringData: data }, ready);
        } else {
            const remote = new aws.secretsmanager.Secret(
                `${name}-archive-credentials`,
                {
                    name: archiveAwsSecretPath(args.tenantId),
                    description: `Archive key of ${this.userName} (tenants/${args.tenantId}/ only)`,
                    tags: args.labels,
                },
                child,
            );
            const version = new aws.secretsmanager.SecretVersion(
                `${name}-archive-credentials`,
                { secretId: remote.id, secretString: pulumi.secret(pulumi.jsonStringify(data)) },
                ready,
            );
            new k8s.apiextensions.CustomResource(
                `${name}-archive-credentials`,
                {
                    apiVersion: "external-secrets.io/v1",
                    kind: "ExternalSecret",
                    metadata: meta,
                    spec: {
                        refreshInterval: "1h",
                        secretStoreRef: { name: args.secretStoreName ?? "aws-secrets-manager", kind: "ClusterSecretStore" },
                        target: { name: ARCHIVE_CREDENTIALS_SECRET, creationPolicy: "Owner" },
                        data: Object.values(ARCHIVE_SECRET_KEYS).map((k) => ({
                            secretKey: k,
                            remoteRef: { key: archiveAwsSecretPath(args.tenantId), property: k },
                        })),
                    },
                },
                { parent: this, dependsOn: [remote, version] },
            );
        }
        this.registerOutputs({ userName: this.userName });
    }
}
