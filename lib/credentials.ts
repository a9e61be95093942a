/**
 * Where a tenant's access credentials are (seed onboarding step 8, "client
 * receives access credentials"): the Kubernetes Secrets the components
 * create in the tenant's namespace, the keys each holds, and the AWS Secrets
 * Manager secrets behind them where that backend is used. Names only, from
 * lib/naming.ts: never a value. Not reported: the backup jobs' own
 * identities (bucket-backup-credentials, archive-credentials,
 * lib/archiveAccess.ts), which are the platform's, not the client's. Pure: no I/O.
 */
import { z } from "zod";
import { activeSlot, type TenantRotations } from "./rotation";
import { BUCKET_CREDENTIALS_SECRET, BUCKET_PURPOSES, RABBITMQ_CREDENTIALS_SECRET, awsSecretPath, dbCredentialsSecretName, namespaceName } from "./naming";

/** How database credentials reach the tenant's namespace. */
export const CREDENTIALS_BACKENDS = ["kubernetes", "aws-secrets-manager"] as const;
export type CredentialsBackend = (typeof CREDENTIALS_BACKENDS)[number];

/** The keys of a `<service>-db-credentials` Secret (components/tenantDatabase.ts). */
export const DB_CREDENTIAL_KEYS = ["DB_HOST", "DB_PORT", "DB_DATABASE", "DB_USERNAME", "DB_PASSWORD"] as const;
/** The key of a database Secret that the AWS secret supplies, with the aws-secrets-manager backend. */
export const AWS_SUPPLIED_KEY = "DB_PASSWORD";
/** The keys of the object-storage Secret (components/tenantBucket.ts). */
export const OBJECT_STORAGE_KEYS = ["S3_ENDPOINT", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", ...BUCKET_PURPOSES.map((p) => `S3_BUCKET_${p.toUpperCase()}`)];
/** The keys of the RabbitMQ Secret (components/tenantVhost.ts). */
export const AMQP_CREDENTIAL_KEYS = ["AMQP_HOST", "AMQP_PORT", "AMQP_VHOST", "AMQP_USERNAME", "AMQP_PASSWORD", "AMQP_EXCHANGE", "AMQP_URL"] as const;

/** What a region deploys for its tenants' credentials: a region stack's configuration, as far as credentials go. */
export interface CredentialsConfig {
    /** The services with a database. */
    readonly services: readonly string[];
    readonly features: { readonly databases: boolean; readonly buckets: boolean; readonly vhosts: boolean };
    readonly backend: CredentialsBackend;
    /** The AWS region of the secrets (aws-secrets-manager). */
    readonly awsRegion?: string;
}

export const kubernetesSecretLocation = z.object({
    name: z.string().describe("The Secret's name in the tenant's namespace."),
    holds: z.enum(["database", "object-storage", "rabbitmq"]),
    service: z.string().optional().describe("The service whose database it opens (database Secrets)."),
    keys: z.array(z.string()).describe("The keys it holds (their values are never reported)."),
    source: z
        .enum(CREDENTIALS_BACKENDS)
        .describe("kubernetes: the platform writes it; aws-secrets-manager: an ExternalSecret syncs it, its DB_PASSWORD from the AWS secret."),
});

export const awsSecretLocation = z.object({
    name: z.string().describe("The secret's name: a SecretId every AWS API and CLI call accepts."),
    arn: z.string().nullable().describe("Its ARN, from the stack's outputs; null until an update reported it."),
    region: z.string().nullable().describe("The AWS region it lives in."),
    service: z.string(),
    kubernetesSecret: z.string().describe("The Kubernetes Secret it is synced into."),
    key: z.literal(AWS_SUPPLIED_KEY).describe("The key of that Secret it supplies."),
});

/** Where a tenant's credentials are: names, never values. The service's responses and events publish this schema. */
export const credentialLocationsSchema = z.object({
    namespace: z.string(),
    kubernetesSecrets: z.array(kubernetesSecretLocation),
    awsSecrets: z.array(awsSecretLocation),
});

export type KubernetesSecretLocation = z.infer<typeof kubernetesSecretLocation>;
export type AwsSecretLocation = z.infer<typeof awsSecretLocation>;
export type CredentialLocations = z.infer<typeof credentialLocationsSchema>;

/** The secret name an ARN of Secrets Manager carries: the part after `secret:`, without the 6 characters AWS appends (`-AbCdEf`). */
export function secretNameOfArn(arn: string): string | undefined {
    const m = /:secret:(.+)-[A-Za-z0-9]{6}$/.exec(arn);
    return m?.[1];
}

/**
 * Where tenant `id`'s credentials are under `config`. `awsSecretArns`
 * (service -> ARN of the secret the namespace receives) comes from the
 * stack's outputs once an update reported them; an AWS secret without one
 * has `arn: null`. The secret's name is the one its ARN carries (after a
 * credential rotation, the active slot's secret: lib/rotation.ts), else the
 * one of the service's active slot in `rotations` (the manifest's
 * `rotations:` block for this tenant; none: slot a).
 */
export function credentialLocations(
    id: string,
    config: CredentialsConfig,
    awsSecretArns: Readonly<Record<string, string>> = {},
    rotations: TenantRotations = {},
): CredentialLocations {
    const kubernetesSecrets: KubernetesSecretLocation[] = [];
    const awsSecrets: AwsSecretLocation[] = [];
    if (config.features.databases) {
        for (const service of config.services) {
            const name = dbCredentialsSecretName(service);
            kubernetesSecrets.push({ name, holds: "database", service, keys: [...DB_CREDENTIAL_KEYS], source: config.backend });
            if (config.backend === "aws-secrets-manager") {
                const arn = Object.hasOwn(awsSecretArns, service) ? awsSecretArns[service] : null;
                awsSecrets.push({
                    name:
                        (arn === null ? undefined : secretNameOfArn(arn)) ??
                        awsSecretPath(id, service, activeSlot(Object.hasOwn(rotations, service) ? rotations[service] : undefined)),
                    arn,
                    region: config.awsRegion ?? null,
                    service,
                    kubernetesSecret: name,
                    key: AWS_SUPPLIED_KEY,
                });
            }
        }
    }
    if (config.features.buckets)
        kubernetesSecrets.push({ name: BUCKET_CREDENTIALS_SECRET, holds: "object-storage", keys: [...OBJECT_STORAGE_KEYS], source: "kubernetes" });
    if (config.features.vhosts)
        kubernetesSecrets.push({ name: RABBITMQ_CREDENTIALS_SECRET, holds: "rabbitmq", keys: [...AMQP_CREDENTIAL_KEYS], source: "kubernetes" });
    return { namespace: namespaceName(id), kubernetesSecrets, awsSecrets };
}

/** An ARN of AWS Secrets Manager: `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 characters>`. */
const SECRET_ARN = /^arn:aws(?:-[a-z]+)*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/;

/**
 * The AWS secret ARNs of one tenant in a stack's outputs (the program's
 * `tenants.<id>.awsSecretArns`, service -> ARN); {} when the outputs do not
 * carry them. Anything that is not a Secrets Manager ARN is left out.
 */
export function awsSecretArnsOf(outputs: Readonly<Record<string, unknown>> | undefined, id: string): Record<string, string> {
    const tenants = outputs?.tenants;
    if (tenants === null || typeof tenants !== "object" || !Object.hasOwn(tenants, id)) return {};
    const entry = (tenants as Record<string, unknown>)[id];
    const arns = entry !== null && typeof entry === "object" ? (entry as Record<string, unknown>).awsSecretArns : undefined;
    if (arns === null || typeof arns !== "object") return {};
    return Object.fromEntries(Object.entries(arns).filter((kv): kv is [string, string] => typeof kv[1] === "string" && SECRET_ARN.test(kv[1])));
}
