/**
 * The region program's building blocks: reading typed config, loading the
 * manifest, creating the providers and the per-tenant arguments. index.ts
 * wires them; the synth recorder and the tests call the same functions.
 */
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
import { loadManifest } from "../core/manifestSource";
import { residencyConflicts } from "../lib/residency";
import { CONFIG_NAMESPACE, SECRET_KEYS, StackConfigError, namespacedConfig, parseStackConfig, requiredSecrets, type StackConfig } from "./config";

export type StackSecrets = Partial<Record<keyof typeof SECRET_KEYS, pulumi.Output<string>>>;

/** Reads and validates this stack's `tenant-platform:*` config, and its secrets as Pulumi secrets. */
export function readStackConfig(stack: string): { config: StackConfig; secrets: StackSecrets } {
    const config = parseStackConfig(stack, namespacedConfig(pulumi.runtime.allConfig()));
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
            missing.map((key) => `${CONFIG_NAMESPACE}:${key} is not set. Fix: pulumi config set --secret --stack ${stack} ${CONFIG_NAMESPACE}:${key} <password>`),
        );
    }
    return { config, secrets };
}

/** The manifest, validated with this stack's service list. Paths are relative to the project directory. */
export function loadStackManifest(config: StackConfig, projectDir: string): Manifest {
    return loadManifest(path.resolve(projectDir, config.manifest), { services: config.services });
}

/** The tenants this stack deploys: those of its own region, in manifest order. */
export function regionTenants(manifest: Manifest, config: StackConfig): TenantSpec[] {
    return manifest.tenants.filter((t) => t.region === config.region);
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
    if (config.features.databases && config.credentialsBackend === "aws-secrets-manager" && config.aws) {
        providers.push(new aws.Provider("aws", { region: config.aws.region as aws.Region }));
    }
    return providers;
}

/** The arguments of the region's shared component. */
export function sharedRegionArgs(config: StackConfig): SharedRegionArgs {
    const awsStore = config.features.databases && config.credentialsBackend === "aws-secrets-manager" && config.aws;
    return {
        region: config.region,
        environment: config.environment,
        awsSecretStore: awsStore ? { awsRegion: awsStore.region, serviceAccount: awsStore.secretStoreServiceAccount } : undefined,
    };
}

/** The arguments of one tenant's component under this stack's configuration. */
export function tenantArgs(tenant: TenantSpec, config: StackConfig): TenantArgs {
    return {
        tenant,
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
        backup: { image: config.backup.image, uid: config.backup.uid, storageClass: config.kubernetes.backupStorageClass },
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
 * Refuses, before any tenant resource is declared, to deploy a tenant that a
 * peer region stack still holds (a region move). Reads each peer's `tenants`
 * output through a StackReference.
 */
export async function checkResidency(config: StackConfig, tenants: readonly TenantSpec[]): Promise<void> {
    if (config.peerStacks.length === 0) return;
    const peers = await Promise.all(
        config.peerStacks.map(async (name) => {
            const ref = new pulumi.StackReference(`peer-${name.split("/").pop()}`, { name });
            const details = await ref.getOutputDetails("tenants");
            return { stack: name, tenants: (details.value ?? undefined) as Record<string, unknown> | undefined };
        }),
    );
    const problems = residencyConflicts(config.region, tenants, peers);
    if (problems.length > 0) throw new pulumi.RunError(`data residency: ${problems.length} tenant(s) refused; nothing was applied:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
}
