/**
 * Typed stack configuration. `pulumi.Config.requireObject<T>()` is an
 * unchecked cast, so every value is parsed with a runtime schema and every
 * problem is reported at once, naming the config key and the fix.
 */
import { DEFAULT_BACKUP_IMAGE } from "../lib/archiveLayout";
import { EGRESS_PROTOCOLS, cidrProblem, externalEgressProblems } from "../lib/egress";
import { z } from "zod";
import { DEFAULT_QUEUES, DEFAULT_SERVICES, SERVICE_NAME_PATTERN, maxTenantIdLength } from "../lib/naming";
import { REGIONS, isRegion } from "../lib/regions";
import { MAX_SHARDS } from "../lib/shards";

/** The config namespace: the project name in Pulumi.yaml. */
export const CONFIG_NAMESPACE = "tenant-platform";

const endpointHost = z.string().min(1);

/** A CIDR in canonical form (lib/egress.ts cidrProblem says what is wrong and how to write it). */
const cidr = z.string().superRefine((value, ctx) => {
    const problem = cidrProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** The region's network settings: its cluster's own ranges and the external egress allow-list (lib/egress.ts). */
const networkSchema = z
    .object({
        /** The cluster's pod and Service CIDRs: never reachable through an allow-list entry. Required with any entry. */
        clusterCidrs: z.array(cidr).default([]),
        /** Destinations outside the cluster every tenant's pods may reach. Default: none. */
        externalEgress: z
            .array(
                z
                    .object({
                        name: z
                            .string()
                            .regex(/^[a-z][a-z0-9-]{0,62}$/, "must be lower-case letters, digits and dashes, starting with a letter (e.g. payment-gateway)"),
                        cidr,
                        protocol: z.enum(EGRESS_PROTOCOLS, { error: "must be TCP or UDP" }),
                        ports: z
                            .array(
                                z
                                    .number({ error: "must be a port number" })
                                    .int("must be a whole port number")
                                    .min(1, "must be a port from 1 to 65535")
                                    .max(65535, "must be a port from 1 to 65535"),
                            )
                            .min(1, "lists no port. Fix: list the destination's ports, e.g. [443]"),
                    })
                    .strict(),
            )
            .default([]),
    })
    .strict();

export const stackConfigSchema = z
    .object({
        region: z.enum(REGIONS),
        environment: z
            .string()
            .regex(/^[a-z][a-z0-9-]{0,62}$/)
            .default("production"),
        /** Manifest path, relative to the project directory. */
        manifest: z.string().min(1).default("tenants.yaml"),
        services: z
            .array(z.string().regex(SERVICE_NAME_PATTERN))
            .min(1)
            .default([...DEFAULT_SERVICES]),
        queues: z.array(z.string().regex(SERVICE_NAME_PATTERN)).default([...DEFAULT_QUEUES]),
        features: z
            .object({
                databases: z.boolean().default(true),
                buckets: z.boolean().default(true),
                vhosts: z.boolean().default(true),
                /** The region's scrape-config Secret and PrometheusRule (they need the Prometheus operator's CRDs). */
                monitoring: z.boolean().default(true),
                /** Each tenant's archive identity in AWS IAM (user, prefix policy, access key) and its archive-credentials Secret; needs `aws`. Off: the operator provides that Secret. */
                archiveIdentity: z.boolean().default(false),
            })
            .strict()
            .default({ databases: true, buckets: true, vhosts: true, monitoring: true, archiveIdentity: false }),
        credentialsBackend: z.enum(["kubernetes", "aws-secrets-manager"]).default("kubernetes"),
        kubernetes: z
            .object({
                /** Path to a kubeconfig file; default: the ambient KUBECONFIG / ~/.kube/config. */
                kubeconfig: z.string().min(1).optional(),
                context: z.string().min(1).optional(),
                awaitIngress: z.boolean().default(true),
                ingressControllerNamespace: z.string().default("ingress-nginx"),
                ingressClassName: z.string().default("nginx"),
                clusterIssuer: z.string().default("letsencrypt-prod"),
                backupStorageClass: z.string().optional(),
            })
            .strict()
            .default({ awaitIngress: true, ingressControllerNamespace: "ingress-nginx", ingressClassName: "nginx", clusterIssuer: "letsencrypt-prod" }),
        mysql: z
            .object({
                /** host:port the Pulumi mysql provider connects to. */
                endpoint: endpointHost,
                username: z.string().min(1),
                /** Host the applications use inside the cluster. */
                clusterHost: z.string().default("mysql.e-commerce-shared.svc.cluster.local"),
                clusterPort: z.number().int().positive().default(3306),
                userHost: z.string().default("%"),
                /** TLS mode of the provider's connection: true, false, skip-verify or preferred. */
                tls: z.union([z.boolean().transform(String), z.enum(["true", "false", "skip-verify", "preferred"])]).default("true"),
            })
            .strict()
            .optional(),
        minio: z
            .object({
                server: endpointHost,
                user: z.string().min(1),
                ssl: z.boolean().default(true),
                clusterEndpoint: z.string().default("http://minio.e-commerce-shared.svc.cluster.local:9000"),
            })
            .strict()
            .optional(),
        rabbitmq: z
            .object({
                /** Management API URL the Pulumi rabbitmq provider uses. */
                endpoint: z.url(),
                username: z.string().min(1),
                clusterHost: z.string().default("rabbitmq.e-commerce-shared.svc.cluster.local"),
                clusterPort: z.number().int().positive().default(5672),
            })
            .strict()
            .optional(),
        aws: z
            .object({ region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/), secretStoreServiceAccount: z.string().default("external-secrets") })
            .strict()
            .optional(),
        /** Fully qualified names of the other region stacks, checked so that no tenant is deployed in two regions. */
        peerStacks: z.array(z.string().min(1)).default([]),
        network: networkSchema.default({ clusterCidrs: [], externalEgress: [] }),
        /**
         * Shard stacks the region's tenants are spread over (README, "Region shards"). 1: the region
         * stack deploys everything. K > 1: the region stack keeps the shared resources and the tenants
         * live in `<region stack>-s00` … `-s<K-1>`. Change it only with `tenantctl reshard`.
         */
        shards: z.number().int().min(1).max(MAX_SHARDS).default(1),
        backup: z
            .object({
                image: z.string().default(DEFAULT_BACKUP_IMAGE),
                uid: z.number().int().positive().default(999),
                /** The region's archive bucket (S3 API, in the region). Default: collectverything-archive-<region>. */
                archiveBucket: z.string().min(3).optional(),
                /** Its S3 region. Default: aws.region. */
                archiveRegion: z.string().min(1).optional(),
                /** An S3-compatible endpoint instead of AWS S3. */
                archiveEndpoint: z.url().optional(),
            })
            .strict()
            .default({ image: DEFAULT_BACKUP_IMAGE, uid: 999 }),
    })
    .strict();

export type StackConfig = z.infer<typeof stackConfigSchema>;

/** Secret config keys (set with `pulumi config set --secret`), required when their feature is on. */
export const SECRET_KEYS = {
    mysqlPassword: "mysql",
    minioPassword: "minio",
    rabbitmqPassword: "rabbitmq",
} as const;

const FEATURE_NEEDS: Record<"databases" | "buckets" | "vhosts", "mysql" | "minio" | "rabbitmq"> = {
    databases: "mysql",
    buckets: "minio",
    vhosts: "rabbitmq",
};

export class StackConfigError extends Error {
    constructor(
        readonly stack: string,
        readonly problems: readonly string[],
    ) {
        super(
            `stack "${stack}" has ${problems.length} configuration problem${problems.length === 1 ? "" : "s"}; nothing was applied:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
        );
        this.name = "StackConfigError";
    }
}

/**
 * Parses the stack's config object (the `tenant-platform:*` keys without the
 * namespace) and checks it against the stack's name.
 */
export function parseStackConfig(stack: string, raw: Record<string, unknown>): StackConfig {
    const problems: string[] = [];
    const parsed = stackConfigSchema.safeParse(Object.fromEntries(Object.entries(raw).filter(([k]) => !(k in SECRET_KEYS))));
    if (!parsed.success) {
        for (const issue of parsed.error.issues) {
            const key = issue.path.length ? `${CONFIG_NAMESPACE}:${issue.path.join(".")}` : CONFIG_NAMESPACE;
            if (issue.code === "unrecognized_keys") {
                problems.push(
                    `${key}: unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}. Fix: remove it or correct its spelling (see README, "Stack configuration")`,
                );
            } else {
                // A message that names its own fix keeps it; the others get the general one.
                const fix = issue.message.includes("Fix: ") ? "" : `. Fix: correct it in Pulumi.${stack}.yaml (see README, "Stack configuration")`;
                problems.push(`${key}: ${issue.message}${fix}`);
            }
        }
    }
    // The cross-field checks run on the raw values too, so one run reports every problem.
    const view = (parsed.success ? parsed.data : raw) as Partial<StackConfig> & Record<string, unknown>;
    const features = { databases: true, buckets: true, vhosts: true, ...(typeof view.features === "object" && view.features ? view.features : {}) };
    if (isRegion(stack) && typeof view.region === "string" && view.region !== stack) {
        problems.push(
            `${CONFIG_NAMESPACE}:region is ${view.region} but the stack is named ${stack}. Fix: a region stack deploys its own region only; set region: ${stack} in Pulumi.${stack}.yaml`,
        );
    }
    for (const [feature, section] of Object.entries(FEATURE_NEEDS) as [keyof typeof FEATURE_NEEDS, "mysql" | "minio" | "rabbitmq"][]) {
        if (features[feature] !== false && view[section] === undefined) {
            problems.push(
                `${CONFIG_NAMESPACE}:${section} is missing but features.${feature} is on. Fix: add the ${section} endpoint section, or set ${CONFIG_NAMESPACE}:features.${feature}: false to stage this region without ${feature}`,
            );
        }
    }
    const network = typeof view.network === "object" && view.network ? (view.network as Record<string, unknown>) : {};
    for (const p of externalEgressProblems(network.externalEgress, network.clusterCidrs))
        problems.push(`${CONFIG_NAMESPACE}:network.${p.path.join(".")}: ${p.message}`);
    if (features.databases !== false && view.credentialsBackend === "aws-secrets-manager" && view.aws === undefined) {
        problems.push(`${CONFIG_NAMESPACE}:aws is missing but credentialsBackend is aws-secrets-manager. Fix: add aws: { region: <aws region> }`);
    }
    if (features.archiveIdentity === true && view.aws === undefined) {
        problems.push(
            `${CONFIG_NAMESPACE}:aws is missing but features.archiveIdentity is on (each tenant's archive user is an AWS IAM user). Fix: add aws: { region: <aws region> }, or turn features.archiveIdentity off and provide each namespace's archive-credentials Secret yourself`,
        );
    }
    if (parsed.success && maxTenantIdLength(parsed.data.services) < 1) {
        problems.push(
            `${CONFIG_NAMESPACE}:services: a service name is so long that no tenant id keeps its MySQL user within 32 characters. Fix: shorten the service names`,
        );
    }
    if (problems.length > 0 || !parsed.success) throw new StackConfigError(stack, problems);
    return parsed.data;
}

/** Config values arrive as strings; objects, lists, booleans and numbers as JSON. */
export function decodeConfigValue(value: string): unknown {
    try {
        return JSON.parse(value);
    } catch {
        return value;
    }
}

/** The `tenant-platform:*` entries of a full config map, keys without the namespace, values decoded. */
export function namespacedConfig(all: Readonly<Record<string, string>>): Record<string, unknown> {
    const prefix = `${CONFIG_NAMESPACE}:`;
    const raw: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(all)) {
        if (key.startsWith(prefix)) raw[key.slice(prefix.length)] = decodeConfigValue(value);
    }
    return raw;
}

/** The secret keys this configuration needs. */
export function requiredSecrets(cfg: StackConfig): (keyof typeof SECRET_KEYS)[] {
    const needed: (keyof typeof SECRET_KEYS)[] = [];
    if (cfg.features.databases) needed.push("mysqlPassword");
    if (cfg.features.buckets) needed.push("minioPassword");
    if (cfg.features.vhosts) needed.push("rabbitmqPassword");
    return needed;
}
