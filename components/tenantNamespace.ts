import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { COMPONENT_TOKENS } from "../lib/tokens";
import { CANCELLED_AT_ANNOTATION, namespaceAnnotations, namespaceLabels, podLabels, tenantLabels } from "../lib/labels";
import type { TenantSpec } from "../lib/manifest";
import { externalEgressRules, type ExternalDestination } from "../lib/egress";
import { OTEL_COLLECTOR, OTEL_CONFIGMAP, otelConfigMapData } from "../lib/monitoring";
import { ARCHIVE_CREDENTIALS_SECRET, BACKUP_POD_RESOURCES, DEFAULT_BACKUP_IMAGE, archiveBucketName, type BackupArchive } from "../lib/archiveLayout";
import { BUCKET_BACKUP_CREDENTIALS_SECRET } from "../lib/archiveAccess";
import {
    APP_SERVICE_ACCOUNT,
    BACKUP_PVC,
    CLIENT_ADMIN_ROLE,
    DEFAULT_SERVICES,
    SHARED_NAMESPACE,
    adminGroup,
    dbCredentialsSecretName,
    namespaceName,
} from "../lib/naming";
import type { Region } from "../lib/regions";
import { tierSpec, type TierSpec } from "../lib/tiers";

export interface TenantNamespaceArgs {
    readonly tenant: TenantSpec;
    /** The tracing context ConfigMap and the OTLP egress to the collector. Default: true. */
    readonly tracing?: boolean;
    readonly region: Region;
    /** Value of the `environment` label. */
    readonly environment: string;
    /** Services with a database (backed up) and a `<service>-service` Deployment (autoscaled). Default: auth, products, orders. */
    readonly services?: readonly string[];
    /** Namespace of the ingress controller allowed to reach the tenant's pods. Default: ingress-nginx. */
    readonly ingressControllerNamespace?: string;
    /** Image of the backup jobs: tenantctl with the mariadb-client tools, run as a non-root user. Default: DEFAULT_BACKUP_IMAGE. */
    readonly backupImage?: string;
    /** UID the backup container runs as (Pod Security `restricted` needs non-root). Default: 999. */
    readonly backupUid?: number;
    /** The region's archive bucket. Default: collectverything-archive-<region> in the S3 region named like the region. */
    readonly backupArchive?: BackupArchive;
    /** The tenant has buckets (their objects are backed up too, read with the bucket-backup-credentials Secret). Default: true. */
    readonly backupBuckets?: boolean;
    /** Storage class of the backup PVC. Default: the cluster's default class. */
    readonly backupStorageClass?: string;
    /** The region's external egress allow-list and the cluster ranges cut out of it (stack config `network`). Default: none. */
    readonly network?: RegionNetwork;
}

/** Stack config `network` (lib/egress.ts). */
export interface RegionNetwork {
    readonly clusterCidrs: readonly string[];
    readonly externalEgress: readonly ExternalDestination[];
}

/** The Deployments of a tenant that get an HPA: the API gateway and one per service. */
export function autoscaledWorkloads(services: readonly string[]): string[] {
    return ["api-gateway", ...services.map((s) => `${s}-service`)];
}

/** HPA replica range: the tier's, pinned to one replica while the tenant is suspended or cancelled. */
export function replicaRange(t: TenantSpec, tier: TierSpec = tierSpec(t.tier)): { min: number; max: number } {
    return t.status === "active" ? { ...tier.replicas } : { min: 1, max: 1 };
}

/**
 * The isolation NetworkPolicy: the seed's rules with its bugs fixed.
 * - Namespaces are selected by the automatic `kubernetes.io/metadata.name`
 *   label; the seed's hand-set `name` label exists on no namespace, so its
 *   DNS and RabbitMQ egress matched nothing.
 * - DNS is allowed over UDP as well as TCP.
 * - Pods may reach each other inside the namespace (egress too), and the
 *   shared services they need: RabbitMQ 5672, MySQL 3306, MinIO 9000.
 * - Traces and metrics reach the OpenTelemetry collector's pods in the shared
 *   namespace on OTLP (gRPC 4317, HTTP 4318), and no other pod there on those ports.
 * - Destinations outside the cluster: only the region's allow-list
 *   (`network.externalEgress`), each on its protocol and ports.
 */
export function isolationPolicySpec(ingressControllerNamespace: string, tracing = true, network: RegionNetwork = { clusterCidrs: [], externalEgress: [] }) {
    const ns = (name: string) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } } });
    return {
        podSelector: {},
        policyTypes: ["Ingress", "Egress"],
        ingress: [
            { from: [ns(ingressControllerNamespace)] },
            { from: [{ podSelector: {} }] },
            {
                from: [{ ...ns(SHARED_NAMESPACE), podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } } }],
            },
        ],
        egress: [
            { to: [{ podSelector: {} }] },
            {
                to: [ns(SHARED_NAMESPACE)],
                ports: [
                    { protocol: "TCP", port: 5672 },
                    { protocol: "TCP", port: 3306 },
                    { protocol: "TCP", port: 9000 },
                ],
            },
            {
                to: [ns("kube-system")],
                ports: [
                    { protocol: "UDP", port: 53 },
                    { protocol: "TCP", port: 53 },
                ],
            },
            ...(tracing
                ? [
                      {
                          to: [{ ...ns(SHARED_NAMESPACE), podSelector: { matchLabels: { ...OTEL_COLLECTOR.podLabels } } }],
                          ports: [
                              { protocol: "TCP", port: OTEL_COLLECTOR.grpcPort },
                              { protocol: "TCP", port: OTEL_COLLECTOR.httpPort },
                          ],
                      },
                  ]
                : []),
            ...externalEgressRules(network.externalEgress, network.clusterCidrs),
        ],
    };
}

/** The seed's read-only client-admin rules. */
export function clientAdminRules() {
    return [
        { apiGroups: [""], resources: ["pods", "pods/log", "services", "configmaps"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["apps"], resources: ["deployments", "replicasets"], verbs: ["get", "list", "watch"] },
    ];
}

/** Pod and container security settings that satisfy Pod Security `restricted`. */
export function restrictedSecurity(uid: number) {
    return {
        pod: { runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, fsGroup: uid, seccompProfile: { type: "RuntimeDefault" } },
        container: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
    };
}

/**
 * The backup command: `tenantctl backup` (cli/backup.ts, core/archive.ts)
 * dumps every database with its service's own credentials (mounted
 * read-only; passwords reach mariadb-dump in MYSQL_PWD, never on a command
 * line), copies the dumps and the changed bucket objects to the region's
 * archive bucket, then applies the GFS retention (lib/retention.ts) to the
 * archive. The daily run also keeps as many recent sets on the backup volume
 * as fit the capacity it measures there; the final run (a cancelled tenant)
 * writes everything under Object Lock, compliance mode, for 7 years.
 */
export function backupCommand(tenantId: string, services: readonly string[], label: "daily" | "final"): string[] {
    return [
        "tenantctl",
        "backup",
        "--tenant",
        tenantId,
        "--services",
        services.join(","),
        "--credentials-dir",
        "/credentials",
        ...(label === "final" ? ["--final"] : ["--local-dir", "/backup", "--prune"]),
    ];
}

/**
 * The backup container's environment: the archive (the tenant's archive identity, limited to tenants/<id>/,
 * components/tenantArchive.ts) and, with buckets, the tenant's object storage read with its read-only backup user
 * (components/tenantBucket.ts; the app user cannot list).
 */
export function backupEnv(archive: BackupArchive, buckets: boolean) {
    const fromSecret = (name: string, secret: string, key: string) => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });
    return [
        { name: "CV_S3_REGION", value: archive.region },
        { name: "CV_ARCHIVE_BUCKET", value: archive.bucket },
        ...(archive.endpoint ? [{ name: "CV_S3_ENDPOINT", value: archive.endpoint }] : []),
        fromSecret("CV_S3_ACCESS_KEY_ID", ARCHIVE_CREDENTIALS_SECRET, "AWS_ACCESS_KEY_ID"),
        fromSecret("CV_S3_SECRET_ACCESS_KEY", ARCHIVE_CREDENTIALS_SECRET, "AWS_SECRET_ACCESS_KEY"),
        ...(buckets
            ? [
                  fromSecret("CV_BUCKETS_S3_ENDPOINT", BUCKET_BACKUP_CREDENTIALS_SECRET, "S3_ENDPOINT"),
                  fromSecret("CV_BUCKETS_S3_ACCESS_KEY_ID", BUCKET_BACKUP_CREDENTIALS_SECRET, "S3_ACCESS_KEY_ID"),
                  fromSecret("CV_BUCKETS_S3_SECRET_ACCESS_KEY", BUCKET_BACKUP_CREDENTIALS_SECRET, "S3_SECRET_ACCESS_KEY"),
              ]
            : []),
    ];
}

/** The pod template shared by the daily CronJob and the final-backup Job. */
export function backupPodSpec(args: {
    tenantId: string;
    services: readonly string[];
    label: "daily" | "final";
    image: string;
    uid: number;
    archive: BackupArchive;
    buckets: boolean;
}) {
    const security = restrictedSecurity(args.uid);
    return {
        serviceAccountName: APP_SERVICE_ACCOUNT,
        automountServiceAccountToken: false,
        restartPolicy: "OnFailure",
        securityContext: security.pod,
        containers: [
            {
                name: "backup",
                image: args.image,
                command: backupCommand(args.tenantId, args.services, args.label),
                env: backupEnv(args.archive, args.buckets),
                securityContext: security.container,
                resources: { requests: { ...BACKUP_POD_RESOURCES.requests }, limits: { ...BACKUP_POD_RESOURCES.limits } },
                volumeMounts: [
                    { name: "backup-storage", mountPath: "/backup" },
                    { name: "tmp", mountPath: "/tmp" },
                    ...args.services.map((s) => ({ name: `${s}-credentials`, mountPath: `/credentials/${s}`, readOnly: true })),
                ],
            },
        ],
        volumes: [
            { name: "backup-storage", persistentVolumeClaim: { claimName: BACKUP_PVC } },
            { name: "tmp", emptyDir: {} },
            ...args.services.map((s) => ({ name: `${s}-credentials`, secret: { secretName: dbCredentialsSecretName(s) } })),
        ],
    };
}

/**
 * A tenant's namespace and everything that isolates and sizes it: Pod
 * Security, quota, limits, network isolation, RBAC, the app ServiceAccount,
 * the tracing context, HPAs and database backups.
 */
export class TenantNamespace extends pulumi.ComponentResource {
    /** The namespace name, e.g. e-commerce-client-abc. */
    public readonly namespaceName: pulumi.Output<string>;
    public readonly namespace: k8s.core.v1.Namespace;

    constructor(name: string, args: TenantNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
        super(COMPONENT_TOKENS.TenantNamespace, name, {}, opts);
        const t = args.tenant;
        const tier = tierSpec(t.tier);
        const services = args.services ?? DEFAULT_SERVICES;
        const ctx = { environment: args.environment, region: args.region };
        const labels = tenantLabels(t, ctx);
        const backupPodLabels = podLabels(t, ctx);
        const ns = namespaceName(t.id);
        const child = { parent: this };

        this.namespace = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            { metadata: { name: ns, labels: namespaceLabels(t, ctx), annotations: namespaceAnnotations(t) } },
            // Deleting a namespace deletes every PVC and Secret in it.
            { ...child, protect: true },
        );
        this.namespaceName = this.namespace.metadata.name;
        const inNs = { parent: this, dependsOn: [this.namespace] };
        const meta = (objectName: string) => ({ name: objectName, namespace: this.namespaceName, labels });

        // The isolation objects are protected too: a `pulumi destroy` that stops at
        // the protected namespace must not leave a live tenant without its quota,
        // limits, network isolation or RBAC.
        const guard = { ...inNs, protect: true };
        const quota = new k8s.core.v1.ResourceQuota(`${name}-quota`, { metadata: meta("client-quota"), spec: { hard: { ...tier.quota } } }, guard);
        const limits = new k8s.core.v1.LimitRange(
            `${name}-limits`,
            { metadata: meta("pod-limits"), spec: { limits: [{ type: "Container", ...tier.containerLimits }] } },
            guard,
        );
        new k8s.networking.v1.NetworkPolicy(
            `${name}-isolation`,
            {
                metadata: meta("client-isolation"),
                spec: isolationPolicySpec(args.ingressControllerNamespace ?? "ingress-nginx", args.tracing ?? true, args.network),
            },
            guard,
        );
        const role = new k8s.rbac.v1.Role(`${name}-client-admin`, { metadata: meta(CLIENT_ADMIN_ROLE), rules: clientAdminRules() }, guard);
        new k8s.rbac.v1.RoleBinding(
            `${name}-client-admin`,
            {
                metadata: meta(CLIENT_ADMIN_ROLE),
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
                subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: adminGroup(t.id) }],
            },
            guard,
        );
        // Storage and pods are created once the quota and limits are in place, so they are counted and defaulted.
        const sized = { parent: this, dependsOn: [this.namespace, quota, limits] };
        new k8s.core.v1.ServiceAccount(`${name}-app`, { metadata: meta(APP_SERVICE_ACCOUNT), automountServiceAccountToken: false }, inNs);
        // The tracing context the services load with envFrom (the seed's Jaeger tags as OpenTelemetry resource attributes).
        if (args.tracing ?? true) new k8s.core.v1.ConfigMap(`${name}-otel`, { metadata: meta(OTEL_CONFIGMAP), data: otelConfigMapData(t) }, inNs);

        const replicas = replicaRange(t, tier);
        for (const workload of autoscaledWorkloads(services)) {
            new k8s.autoscaling.v2.HorizontalPodAutoscaler(
                `${name}-${workload}-hpa`,
                {
                    metadata: meta(`${workload}-hpa`),
                    spec: {
                        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: workload },
                        minReplicas: replicas.min,
                        maxReplicas: replicas.max,
                        metrics: [
                            { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } },
                            { type: "Resource", resource: { name: "memory", target: { type: "Utilization", averageUtilization: 80 } } },
                        ],
                    },
                },
                inNs,
            );
        }

        const pvc = new k8s.core.v1.PersistentVolumeClaim(
            `${name}-backup-pvc`,
            {
                metadata: { ...meta(BACKUP_PVC), annotations: { "pulumi.com/skipAwait": "true" } },
                spec: {
                    accessModes: ["ReadWriteOnce"],
                    storageClassName: args.backupStorageClass,
                    resources: { requests: { storage: `${tier.backupVolumeGiB}Gi` } },
                },
            },
            // The volume is sized once; growing it is an operator action, shrinking is impossible.
            { ...sized, protect: true, ignoreChanges: ["spec.resources"] },
        );
        const image = args.backupImage ?? DEFAULT_BACKUP_IMAGE;
        const uid = args.backupUid ?? 999;
        const archive = args.backupArchive ?? { bucket: archiveBucketName(args.region), region: args.region };
        const pod = (label: "daily" | "final") => backupPodSpec({ tenantId: t.id, services, label, image, uid, archive, buckets: args.backupBuckets ?? true });
        new k8s.batch.v1.CronJob(
            `${name}-db-backup`,
            {
                metadata: meta("db-backup"),
                spec: {
                    schedule: "0 2 * * *",
                    timeZone: "Etc/UTC",
                    concurrencyPolicy: "Forbid",
                    // A cancelled tenant gets one final backup instead.
                    suspend: t.status === "cancelled",
                    successfulJobsHistoryLimit: 3,
                    failedJobsHistoryLimit: 3,
                    jobTemplate: {
                        spec: {
                            backoffLimit: 2,
                            template: {
                                metadata: { labels: backupPodLabels },
                                spec: pod("daily"),
                            },
                        },
                    },
                },
            },
            { ...sized, dependsOn: [...sized.dependsOn, pvc] },
        );
        if (t.status === "cancelled") {
            new k8s.batch.v1.Job(
                `${name}-final-backup`,
                {
                    metadata: {
                        ...meta("final-backup"),
                        annotations: { "pulumi.com/skipAwait": "true", ...(t.cancelledAt ? { [CANCELLED_AT_ANNOTATION]: t.cancelledAt } : {}) },
                    },
                    spec: {
                        backoffLimit: 6,
                        template: {
                            metadata: { labels: backupPodLabels },
                            spec: pod("final"),
                        },
                    },
                },
                // One Job per cancellation: a reactivation deletes it (the final backup itself stays locked in the archive), so
                // cancelling again creates a new one that runs a new final backup; a kept Job would be adopted as it was, already
                // complete, and purge would take a backup older than the last cancellation. ignoreChanges: a Job's pod template is
                // immutable, and a backup that ran is not re-run when the image changes.
                { ...sized, dependsOn: [...sized.dependsOn, pvc], ignoreChanges: ["spec"] },
            );
        }

        this.registerOutputs({ namespaceName: this.namespaceName });
    }
}
