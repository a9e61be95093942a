import type { BackupArchive } from "../lib/archiveLayout";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
    DASHBOARD_CONFIGMAP_KEY,
    DASHBOARD_LABEL,
    FOLDER_ANNOTATION,
    TENANT_DASHBOARD_CONFIGMAP,
    tenantDashboard,
    tenantDashboardFolder,
} from "../lib/dashboards";
import { COMPONENT_TOKENS } from "../lib/tokens";
import { tenantLabels } from "../lib/labels";
import type { TenantSpec } from "../lib/manifest";
import { DEFAULT_QUEUES, DEFAULT_SERVICES } from "../lib/naming";
import type { Region } from "../lib/regions";
import { ARCHIVE_CREDENTIAL, RABBITMQ_CREDENTIAL, STORAGE_CREDENTIAL, type TenantRotations } from "../lib/rotation";
import { archiveBucketName } from "../lib/archiveLayout";
import { TenantArchiveAccess } from "./tenantArchive";
import { TenantBucket } from "./tenantBucket";
import { TenantDatabase, type CredentialsBackend } from "./tenantDatabase";
import { TenantIngress } from "./tenantIngress";
import { TenantNamespace, type RegionNetwork } from "./tenantNamespace";
import { TenantVhost } from "./tenantVhost";

/** Which data components a stack deploys: a per-region switch for staged rollouts. */
export interface TenantFeatures {
    /** MySQL databases, users and grants. Default: true. */
    readonly databases?: boolean;
    /** MinIO buckets, app user and policy. Default: true. */
    readonly buckets?: boolean;
    /** RabbitMQ vhost, user, exchange and queues. Default: true. */
    readonly vhosts?: boolean;
    /** The tenant's dashboard, tracing context and OTLP egress (the region's monitoring stack). Default: true. */
    readonly monitoring?: boolean;
    /** The tenant's archive identity (AWS IAM user, prefix policy, access key) and its `archive-credentials` Secret (needs the aws provider). Default: false. */
    readonly archiveIdentity?: boolean;
}

/** Cluster-internal addresses the tenant's applications use for the shared services. */
export interface ServiceEndpoints {
    /** Default: mysql.e-commerce-shared.svc.cluster.local. */
    readonly mysqlHost?: string;
    /** Default: 3306. */
    readonly mysqlPort?: number;
    /** Default: http://minio.e-commerce-shared.svc.cluster.local:9000. */
    readonly s3Endpoint?: string;
    /** Default: rabbitmq.e-commerce-shared.svc.cluster.local. */
    readonly amqpHost?: string;
    /** Default: 5672. */
    readonly amqpPort?: number;
}

export interface TenantArgs {
    /** The tenant's validated manifest entry. */
    readonly tenant: TenantSpec;
    /** The stack's region; must equal the tenant's. */
    readonly region: Region;
    /** Value of the `environment` label. */
    readonly environment: string;
    /** Default: every feature on. */
    readonly features?: TenantFeatures;
    /** Services with a database, HPA and backup. Default: auth, products, orders. */
    readonly services?: readonly string[];
    /** Services with a queue on the tenant's vhost. Default: auth, orders. */
    readonly queues?: readonly string[];
    /** Default: kubernetes. */
    readonly credentialsBackend?: CredentialsBackend;
    /** The tenant's credential rotation states, from the manifest's `rotations:` block (lib/rotation.ts). */
    readonly credentials?: TenantRotations;
    readonly endpoints?: ServiceEndpoints;
    /** Host part of the MySQL accounts. Default: "%". */
    readonly mysqlUserHost?: string;
    readonly ingress?: {
        /** Default: letsencrypt-prod. */
        readonly clusterIssuer?: string;
        /** Default: nginx. */
        readonly className?: string;
        /** Namespace of the ingress controller. Default: ingress-nginx. */
        readonly controllerNamespace?: string;
        /** Default: true. */
        readonly awaitLoadBalancer?: boolean;
    };
    readonly backup?: {
        /** Default: DEFAULT_BACKUP_IMAGE (lib/archiveLayout.ts). */
        readonly image?: string;
        /** Default: 999. */
        readonly uid?: number;
        /** Default: the cluster's default StorageClass. */
        readonly storageClass?: string;
        /** The region's archive bucket the backups are copied to. */
        readonly archive?: BackupArchive;
    };
    /** The region's external egress allow-list and cluster ranges (stack config `network`). Default: no external destination. */
    readonly network?: RegionNetwork;
}

/** Whether a tenant in this status is served (has an Ingress). */
export function isServed(t: TenantSpec): boolean {
    return t.status === "active";
}

/**
 * The tenant's Grafana dashboard as the sidecar collects it (seed onboarding
 * step 7): labelled `grafana_dashboard: "1"`, filed in a folder named after
 * the tenant. It lives in the tenant's namespace (the sidecar searches every
 * namespace), so it goes with the tenant and no tenant object sits elsewhere.
 */
export function dashboardConfigMapArgs(tenantId: string, labels: Record<string, string>) {
    return {
        metadata: {
            name: TENANT_DASHBOARD_CONFIGMAP,
            labels: { ...labels, ...DASHBOARD_LABEL },
            annotations: { [FOLDER_ANNOTATION]: tenantDashboardFolder(tenantId) },
        },
        data: { [DASHBOARD_CONFIGMAP_KEY]: JSON.stringify(tenantDashboard(tenantId)) },
    };
}

/**
 * One client's slice of the platform: namespace, databases, buckets, vhost,
 * Ingress and dashboard, composed from one manifest entry. Providers come in through
 * `opts.providers` and reach every child through its parent.
 */
export class Tenant extends pulumi.ComponentResource {
    public readonly namespaceName: pulumi.Output<string>;
    /** The ARNs of the tenant's AWS Secrets Manager secrets, by service (aws-secrets-manager backend; empty otherwise). */
    public readonly awsSecretArns: Record<string, pulumi.Output<string>> = {};

    constructor(name: string, args: TenantArgs, opts?: pulumi.ComponentResourceOptions) {
        super(COMPONENT_TOKENS.Tenant, name, {}, opts);
        const t = args.tenant;
        if (t.region !== args.region) {
            throw new Error(`tenant "${t.id}" belongs to region ${t.region}, not ${args.region}: data never leaves its region`);
        }
        const features = { databases: true, buckets: true, vhosts: true, monitoring: true, archiveIdentity: false, ...args.features };
        const services = args.services ?? DEFAULT_SERVICES;
        const endpoints = args.endpoints ?? {};
        const labels = tenantLabels(t, { environment: args.environment, region: args.region });
        const child = { parent: this };

        const ns = new TenantNamespace(
            t.id,
            {
                tenant: t,
                region: args.region,
                environment: args.environment,
                services,
                ingressControllerNamespace: args.ingress?.controllerNamespace,
                backupImage: args.backup?.image,
                backupUid: args.backup?.uid,
                backupStorageClass: args.backup?.storageClass,
                backupArchive: args.backup?.archive,
                backupBuckets: features.buckets,
                tracing: features.monitoring,
                network: args.network,
            },
            child,
        );
        this.namespaceName = ns.namespaceName;
        const namespace = ns.namespaceName;
        if (features.monitoring) {
            const dashboard = dashboardConfigMapArgs(t.id, labels);
            new k8s.core.v1.ConfigMap(
                `${t.id}-dashboard`,
                { ...dashboard, metadata: { ...dashboard.metadata, namespace } },
                { parent: this, dependsOn: [ns.namespace] },
            );
        }

        if (features.databases) {
            const db = new TenantDatabase(
                t.id,
                {
                    tenantId: t.id,
                    namespace,
                    services,
                    clusterHost: endpoints.mysqlHost,
                    port: endpoints.mysqlPort,
                    userHost: args.mysqlUserHost,
                    credentialsBackend: args.credentialsBackend,
                    labels,
                    credentials: args.credentials,
                },
                child,
            );
            this.awsSecretArns = db.awsSecretArns;
        }
        if (features.buckets) {
            new TenantBucket(
                t.id,
                { tenantId: t.id, namespace, endpoint: endpoints.s3Endpoint, labels, credentials: args.credentials?.[STORAGE_CREDENTIAL] },
                child,
            );
        }
        if (features.archiveIdentity) {
            new TenantArchiveAccess(
                t.id,
                {
                    tenantId: t.id,
                    bucket: args.backup?.archive?.bucket ?? archiveBucketName(args.region),
                    namespace,
                    credentialsBackend: args.credentialsBackend,
                    labels,
                    credentials: args.credentials?.[ARCHIVE_CREDENTIAL],
                },
                { parent: this, dependsOn: [ns.namespace] },
            );
        }
        if (features.vhosts) {
            new TenantVhost(
                t.id,
                {
                    tenantId: t.id,
                    namespace,
                    queues: args.queues ?? DEFAULT_QUEUES,
                    amqpHost: endpoints.amqpHost,
                    amqpPort: endpoints.amqpPort,
                    labels,
                    credentials: args.credentials?.[RABBITMQ_CREDENTIAL],
                },
                child,
            );
        }
        if (isServed(t)) {
            new TenantIngress(
                t.id,
                {
                    tenantId: t.id,
                    namespace,
                    domain: t.domain,
                    customDomains: t.customDomains,
                    clusterIssuer: args.ingress?.clusterIssuer,
                    ingressClassName: args.ingress?.className,
                    awaitLoadBalancer: args.ingress?.awaitLoadBalancer,
                    labels,
                },
                child,
            );
        }
        this.registerOutputs({ namespaceName: this.namespaceName });
    }
}
