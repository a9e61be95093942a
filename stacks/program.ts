/**
 * The region program's building blocks: reading typed config, loading the
 * manifest, creating the providers and the per-tenant arguments. index.ts
 * wires them; the synth recorder and the tests call the same functions.
 */
import { archiveBucketName } from "../lib/archiveLayout";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as minio from "@pulumi/minio";
import * as mysql from "@pulumi/mysql";
import * as pulumi from "@pulumi/pulumi";
import * as rabbitmq from "@pulumi/rabbitmq";
import * as path from "node:path";
import type { SharedRegionArgs } from "../components/sharedRegion";
import type { TenantArgs } from "../components/tenant";
import { ManifestError, type Manifest, type TenantSpec } from "../lib/manifest";
import type { Rotations } from "../lib/rotation";
import { loadManifest } from "../core/manifestSource";
import { residencyConflicts } from "../lib/residency";
import { assignShards, shardStackName } from "../lib/shards";
import { projectValues, stackRole, type StackRole } from "../core/stackFile";
import { CONFIG_NAMESPACE, SECRET_KEYS, StackConfigError, namespacedConfig, parseStackConfig, requiredSecrets, type StackConfig } from "./config";

export type StackSecrets = Partial<Record<keyof typeof SECRET_KEYS, pulumi.Output<string>>>;

/** Reads and validates this stack's `tenant-platform:*` config, and its secrets as Pulumi secrets. */
export function readStackConfig(stack: string, projectDir: string): { config: StackConfig; secrets: StackSecrets; role: StackRole } {
    const role = stackRole(stack, { projectDir });
    const own = namespacedConfig(pulumi.runtime.allConfig());
    const source = role.kind === "shard" ? role.regionStack : stack;
    const raw = role.kind === "shard" ? shardConfig(role, projectValues(role.regionStack, { projectDir }), projectValues(stack, { projectDir }), own) : own;
    const config = parseStackConfig(source, raw);
    if (role.kind === "shard" && (config.shards === 1 || role.index >= config.shards)) {
        throw new StackConfigError(stack, [
            `stack ${stack} is not a shard of ${role.regionStack}: ${CONFIG_NAMESPACE}:shards is ${config.shards} in Pulumi.${role.regionStack}.yaml, so its shard stacks are ${config.shards === 1 ? "none (the region stack deploys every tenant)" : `${shardStackName(role.regionStack, 0)} … ${shardStackName(role.regionStack, config.shards - 1)}`}. Fix: select one of those stacks, or change the count with tenantctl reshard`,
        ]);
    }
    const pulumiConfig = new pulumi.Config(CONFIG_NAMESPACE);
    const secrets: StackSecrets = {};
    const missing: string[] = [];
    for (const key of requiredSecrets(config)) {
        const value = pulumiConfig.getSecret(key);
        if (value === undefined) missing.push(key);
        else secrets[key] = value;
    }
    if (missing.length > 0) {
        throw new StackConfigError(
            stack,
            missing.map(
                (key) => `${CONFIG_NAMESPACE}:${key} is not set. Fix: pulumi config set --secret --stack ${stack} ${CONFIG_NAMESPACE}:${key} <password>`,
            ),
        );
    }
    return { config, secrets, role };
}

/** Keys a shard stack's own config may set: its secrets, and the manifest (the service deploys its own copy). */
const SHARD_OWN_KEYS = new Set<string>([...Object.keys(SECRET_KEYS), "manifest"]);

/**
 * A shard's configuration: its region's settings file, under the config the
 * engine gave the run (the shard's secrets; the service's and synth's
 * overrides). The shard's own settings file may hold its secrets and a
 * manifest override, and nothing else that differs from the region's file:
 * the region's file is the one description of the region.
 */
export function shardConfig(
    role: Extract<StackRole, { kind: "shard" }>,
    region: Record<string, unknown>,
    shardFile: Record<string, unknown>,
    runtime: Record<string, unknown>,
): Record<string, unknown> {
    const problems: string[] = [];
    for (const [key, value] of Object.entries(shardFile)) {
        if (SHARD_OWN_KEYS.has(key) || JSON.stringify(value) === JSON.stringify(region[key])) continue;
        problems.push(
            `${CONFIG_NAMESPACE}:${key} is set in Pulumi.${role.stack}.yaml (${JSON.stringify(value)}) but differs from Pulumi.${role.regionStack}.yaml (${JSON.stringify(region[key]) ?? "unset"}). Fix: a shard takes its settings from its region's file; remove it from the shard (pulumi config rm --stack ${role.stack} ${CONFIG_NAMESPACE}:${key}) and set it in Pulumi.${role.regionStack}.yaml`,
        );
    }
    if (problems.length > 0) throw new StackConfigError(role.stack, problems);
    return { ...region, ...runtime };
}

export function loadStackManifest(config: StackConfig, projectDir: string): Manifest {
    return loadManifest(path.resolve(projectDir, config.manifest), { services: config.services });
}

/** The tenants this stack deploys: those of its own region, in manifest order. */
export function regionTenants(manifest: Manifest, config: StackConfig): TenantSpec[] {
    return manifest.tenants.filter((t) => t.region === config.region);
}

/**
 * The tenants a stack declares: with one shard, the region stack declares the
 * region's every tenant; with more, the region stack declares none (only the
 * shared resources) and each shard stack exactly its own.
 */
export function stackTenants(manifest: Manifest, config: StackConfig, role: StackRole): TenantSpec[] {
    const region = regionTenants(manifest, config);
    if (config.shards === 1) return region;
    let assignment: string[][];
    try {
        assignment = assignShards(region, config.shards);
    } catch (err) {
        throw new StackConfigError(role.stack, [
            `${err instanceof Error ? err.message : String(err)}. Fix: change the shard count only with tenantctl reshard, which moves the tenants and rewrites their shard`,
        ]);
    }
    if (role.kind === "region") return [];
    const assigned = new Set(assignment[role.index]);
    return region.filter((t) => assigned.has(t.id));
}

/** Whether this stack declares the region's shared resources (the e-commerce-shared namespace, the secret store). */
export function declaresSharedRegion(role: StackRole): boolean {
    return role.kind === "region";
}

/**
 * The other stacks that may hold tenants this stack must not declare: the
 * peer regions, and the region's own other stacks (its region stack and its
 * other shards), so that neither a region move nor a shard change made by
 * editing config instead of `tenantctl reshard` can declare a tenant twice.
 */
export function holderStacks(config: StackConfig, role: StackRole, qualify: (stack: string) => string): string[] {
    const regionStack = role.kind === "shard" ? role.regionStack : role.stack;
    const own: string[] = [];
    if (config.shards > 1) {
        if (role.kind === "shard") own.push(regionStack);
        for (let i = 0; i < config.shards; i++) if (role.kind !== "shard" || i !== role.index) own.push(shardStackName(regionStack, i));
    }
    return [...config.peerStacks, ...own.map(qualify)];
}

/**
 * Explicit provider instances, one per backend the stack enables. Their
 * logical names are fixed: renaming a provider would replace every resource.
 */
export function createProviders(config: StackConfig, secrets: StackSecrets, projectDir: string): pulumi.ProviderResource[] {
    const providers: pulumi.ProviderResource[] = [
        new k8s.Provider("kubernetes", {
            kubeconfig: config.kubernetes.kubeconfig ? path.resolve(projectDir, config.kubernetes.kubeconfig) : undefined,
            context: config.kubernetes.context,
        }),
    ];
    if (config.features.databases && config.mysql) {
        providers.push(
            new mysql.Provider("mysql", {
                endpoint: config.mysql.endpoint,
                username: config.mysql.username,
                password: secrets.mysqlPassword,
                tls: config.mysql.tls,
            }),
        );
    }
    if (config.features.buckets && config.minio) {
        providers.push(
            new minio.Provider("minio", {
                minioServer: config.minio.server,
                minioUser: config.minio.user,
                minioPassword: secrets.minioPassword,
                minioSsl: config.minio.ssl,
            }),
        );
    }
    if (config.features.vhosts && config.rabbitmq) {
        providers.push(
            new rabbitmq.Provider("rabbitmq", {
                endpoint: config.rabbitmq.endpoint,
                username: config.rabbitmq.username,
                password: secrets.rabbitmqPassword ?? pulumi.secret(""),
            }),
        );
    }
    if (usesAws(config) && config.aws) {
        providers.push(new aws.Provider("aws", { region: config.aws.region as aws.Region }));
    }
    return providers;
}

/** Whether the stack declares AWS resources: the database secrets (aws-secrets-manager backend) or the tenants' archive identities. */
export function usesAws(config: StackConfig): boolean {
    return secretsInAws(config) || config.features.archiveIdentity;
}

/** Whether tenant credentials are delivered from AWS Secrets Manager (the database passwords, the archive keys). */
function secretsInAws(config: StackConfig): boolean {
    return config.credentialsBackend === "aws-secrets-manager" && (config.features.databases || config.features.archiveIdentity);
}

/** The arguments of the region's shared component. */
export function sharedRegionArgs(config: StackConfig): SharedRegionArgs {
    const awsStore = secretsInAws(config) && config.aws;
    return {
        region: config.region,
        environment: config.environment,
        awsSecretStore: awsStore ? { awsRegion: awsStore.region, serviceAccount: awsStore.secretStoreServiceAccount } : undefined,
        monitoring: config.features.monitoring,
    };
}

/** The arguments of one tenant's component under this stack's configuration; `rotations`: the manifest's rotation states. */
export function tenantArgs(tenant: TenantSpec, config: StackConfig, rotations?: Rotations): TenantArgs {
    return {
        tenant,
        credentials: rotations?.[tenant.id],
        region: config.region,
        environment: config.environment,
        features: config.features,
        services: config.services,
        queues: config.queues,
        credentialsBackend: config.credentialsBackend,
        endpoints: {
            mysqlHost: config.mysql?.clusterHost,
            mysqlPort: config.mysql?.clusterPort,
            s3Endpoint: config.minio?.clusterEndpoint,
            amqpHost: config.rabbitmq?.clusterHost,
            amqpPort: config.rabbitmq?.clusterPort,
        },
        mysqlUserHost: config.mysql?.userHost,
        ingress: {
            clusterIssuer: config.kubernetes.clusterIssuer,
            className: config.kubernetes.ingressClassName,
            controllerNamespace: config.kubernetes.ingressControllerNamespace,
            awaitLoadBalancer: config.kubernetes.awaitIngress,
        },
        network: config.network,
        backup: {
            image: config.backup.image,
            uid: config.backup.uid,
            storageClass: config.kubernetes.backupStorageClass,
            archive: {
                bucket: config.backup.archiveBucket ?? archiveBucketName(config.region),
                region: config.backup.archiveRegion ?? config.aws?.region ?? config.region,
                endpoint: config.backup.archiveEndpoint,
            },
        },
    };
}

/**
 * Runs `fn`, turning input errors (manifest, stack config) into a
 * pulumi.RunError: Pulumi prints its message without a stack trace.
 */
export function withInputErrors<T>(fn: () => T): T {
    try {
        return fn();
    } catch (err) {
        if (err instanceof ManifestError || err instanceof StackConfigError) throw new pulumi.RunError(err.message);
        throw err;
    }
}

/** Set CV_FULL_STACK_TRACES=1 to keep Node's full stack traces while the program runs. */
export const FULL_STACK_TRACES_ENV = "CV_FULL_STACK_TRACES";

/**
 * Stops Node from capturing a stack trace for every promise the Pulumi SDK
 * creates (it does so for leak diagnostics). At 1,000 tenants that capture
 * was most of the evaluation time and memory (see README, "Performance").
 * Resource source positions are unaffected: the SDK captures them with its
 * own unlimited stack. Errors from tenant construction are re-thrown with the
 * tenant's id by withTenantContext; CV_FULL_STACK_TRACES=1 restores full
 * traces for debugging.
 */
export function leanStackTraces(env: NodeJS.ProcessEnv = process.env): void {
    if (env[FULL_STACK_TRACES_ENV] !== "1") Error.stackTraceLimit = 0;
}

/** Runs a tenant's construction, naming the tenant in any error it throws. */
export function withTenantContext<T>(tenantId: string, fn: () => T): T {
    try {
        return fn();
    } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const hint = Error.stackTraceLimit === 0 ? ` (set ${FULL_STACK_TRACES_ENV}=1 for the full stack trace)` : "";
        const wrapped = new Error(`tenant "${tenantId}": ${message}${hint}`, { cause: err });
        throw wrapped;
    }
}

/**
 * Refuses, before any tenant resource is declared, to deploy a tenant that
 * another stack still holds: a peer region (a region move) or another stack of
 * the region (a shard change made without `tenantctl reshard`). Reads each
 * holder's `tenants` output.
 */
export async function checkResidency(region: string, tenants: readonly TenantSpec[], holders: readonly string[]): Promise<void> {
    if (holders.length === 0 || tenants.length === 0) return;
    const peers = await Promise.all(holders.map(async (name) => ({ stack: name, tenants: await stackTenantsOutput(name) })));
    const problems = residencyConflicts(region, tenants, peers);
    if (problems.length > 0)
        throw new pulumi.RunError(`data residency: ${problems.length} tenant(s) refused; nothing was applied:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
}

/** The engine's builtin function behind StackReference: it reads another stack's outputs. */
export const READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs";

/**
 * Another stack's `tenants` output, or undefined when that stack does not
 * exist yet. A StackReference to a missing stack fails the whole update
 * (pulumi/pulumi#19202), so the first region or shard could never be deployed
 * alone; the same read as an invoke fails with "unknown stack", which is
 * caught: a stack that does not exist holds no tenant. Any other failure
 * (backend unreachable, no permission) is not caught.
 */
async function stackTenantsOutput(name: string): Promise<Record<string, unknown> | undefined> {
    return readTenantsOutput((args) => pulumi.runtime.invoke(READ_STACK_OUTPUTS, args), name);
}

/**
 * `stackTenantsOutput` over a given invoke. A file:// backend's checkpoint
 * read while that stack's own update rewrites it can come back empty
 * ("failed to load checkpoint: EOF"; seen with the service's replicas
 * deploying three shards of a region at once): that read is tried again, up
 * to `attempts` times `delayMs` apart, before it fails the update.
 */
export async function readTenantsOutput(
    invoke: (args: { name: string }) => Promise<unknown>,
    name: string,
    attempts = 10,
    delayMs = 300,
): Promise<Record<string, unknown> | undefined> {
    for (let attempt = 1; ; attempt++) {
        try {
            const result = (await invoke({ name })) as { outputs?: Record<string, unknown> };
            const tenants = result.outputs?.tenants;
            return tenants !== null && typeof tenants === "object" ? (tenants as Record<string, unknown>) : undefined;
        } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            if (/unknown stack/i.test(message)) return undefined;
            if (!/failed to load checkpoint: (unexpected )?EOF/i.test(message) || attempt >= attempts) throw err;
            await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
    }
}
