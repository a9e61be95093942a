/**
 * Monitoring of every tenant, as data: the seed's `kubernetes-pods` scrape job
 * with its relabelling, and the region's recording and alerting rules. Pure.
 *
 * Two kinds of series carry a tenant:
 * - what the tenant's own pods expose, scraped by the `kubernetes-pods` job:
 *   the seed's relabelling gives it `tenant_id` (the id, `abc`), `tenant`
 *   (`client-abc`) and `subscription_tier`;
 * - what the exporters publish about the tenant's objects (cAdvisor, kubelet,
 *   kube-state-metrics, ingress-nginx, cert-manager, mysqld_exporter, RabbitMQ,
 *   MinIO). They name a namespace, an Ingress, a certificate, a MySQL user, a
 *   vhost or a bucket, never a tenant; the recording rules derive `tenant_id`
 *   from those names (lib/naming.ts is their one definition).
 */
import { stringify } from "yaml";
import type { TenantSpec } from "./manifest";
import {
    bucketName,
    BUCKET_PURPOSES,
    databaseUser,
    eventTenantId,
    ingressName,
    maxTenantIdLength,
    namespaceName,
    SHARED_NAMESPACE,
    tlsSecretName,
    vhostName,
} from "./naming";

/** One Prometheus relabel_config, in Prometheus' own field names. */
export interface RelabelConfig {
    readonly source_labels?: readonly string[];
    readonly regex?: string;
    readonly target_label?: string;
    readonly replacement?: string;
    readonly action?: "replace" | "keep" | "drop";
    readonly separator?: string;
}

export interface ScrapeJob {
    readonly job_name: string;
    readonly kubernetes_sd_configs: readonly { readonly role: "pod" }[];
    readonly relabel_configs: readonly RelabelConfig[];
}

/** The Secret kube-prometheus-stack reads extra scrape jobs from (`prometheus.prometheusSpec.additionalScrapeConfigsSecret`). */
export const ADDITIONAL_SCRAPE_CONFIGS_SECRET = { name: "prometheus-additional-scrape-configs", key: "additional-scrape-configs.yaml" } as const;
/** Name of the region's PrometheusRule. */
export const PROMETHEUS_RULE_NAME = "collectverything-tenants";
/** Labels the kube-prometheus-stack Prometheus selects rules by (its default `ruleSelector` is `release: <release name>`). */
export const DEFAULT_RULE_SELECTOR_LABELS: Readonly<Record<string, string>> = { release: "kube-prometheus-stack" };

/** The namespace regex of the seed's relabel rule: `e-commerce-client-(.+)`; its group is `prometheusTenantId`. */
export const TENANT_NAMESPACE_REGEX = namespaceName("(.+)");

/**
 * The seed's three relabel rules, exactly: `tenant_id` from the namespace
 * (`e-commerce-client-abc` → `abc`; a namespace that does not match gets no
 * `tenant_id`), `tenant` and `subscription_tier` from the pod's labels.
 */
export function tenantRelabelConfigs(): RelabelConfig[] {
    return [
        { source_labels: ["__meta_kubernetes_namespace"], regex: TENANT_NAMESPACE_REGEX, target_label: "tenant_id" },
        { source_labels: ["__meta_kubernetes_pod_label_tenant"], target_label: "tenant" },
        { source_labels: ["__meta_kubernetes_pod_label_tier"], target_label: "subscription_tier" },
    ];
}

/**
 * The seed's `kubernetes-pods` job. Besides its three rules it keeps only pods
 * annotated `prometheus.io/scrape: "true"` (the seed's job would scrape every
 * declared port of every pod of the cluster, MySQL's and RabbitMQ's included),
 * honours the usual `prometheus.io/path` and `prometheus.io/port`
 * annotations, and names the namespace and pod.
 */
export function kubernetesPodsJob(): ScrapeJob {
    return {
        job_name: "kubernetes-pods",
        kubernetes_sd_configs: [{ role: "pod" }],
        relabel_configs: [
            { source_labels: ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], regex: "true", action: "keep" },
            { source_labels: ["__meta_kubernetes_pod_annotation_prometheus_io_path"], regex: "(.+)", target_label: "__metrics_path__" },
            {
                source_labels: ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
                regex: "([^:]+)(?::\\d+)?;(\\d+)",
                replacement: "$1:$2",
                target_label: "__address__",
            },
            ...tenantRelabelConfigs(),
            { source_labels: ["__meta_kubernetes_namespace"], target_label: "namespace" },
            { source_labels: ["__meta_kubernetes_pod_name"], target_label: "pod" },
        ],
    };
}

/** The content of the additionalScrapeConfigs Secret: a YAML list of scrape jobs. */
export function additionalScrapeConfigsYaml(): string {
    return stringify([kubernetesPodsJob()]);
}

// ---------------------------------------------------------------------------
// Rules.

export interface RecordingRule {
    readonly record: string;
    readonly expr: string;
}
export interface AlertingRule {
    readonly alert: string;
    readonly expr: string;
    readonly for?: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
}
export interface RuleGroup {
    readonly name: string;
    readonly interval?: string;
    readonly rules: readonly (RecordingRule | AlertingRule)[];
}

/** Evaluation interval of the recording rules, in seconds: the showback integrates the recorded gauges over it. */
export const RECORDING_INTERVAL_SECONDS = 60;
/** A certificate this close to its expiry has missed cert-manager's renewal (at two thirds of its life: 30 days before for Let's Encrypt). */
export const CERTIFICATE_WARNING_DAYS = 14;
/** A daily backup older than this is missing (a day plus two hours of slack). */
export const BACKUP_MAX_AGE_HOURS = 26;
/** Share of a quota that warns. */
export const QUOTA_WARNING_RATIO = 0.9;
/** A queue holding more than this many messages while it grows is alerted on. */
export const QUEUE_GROWING_MIN_MESSAGES = 1000;

/** Label selectors of the tenants' objects as the exporters name them. */
export const TENANT_SELECTORS = {
    namespace: `namespace=~"${namespaceName(".+")}"`,
    ingress: `ingress=~"${ingressName(".+")}"`,
    certificate: `name=~"${tlsSecretName(".+")}"`,
    mysqlUser: `user=~"${databaseUser(".+", "[a-z][a-z0-9]*")}"`,
    vhost: `vhost=~"${vhostName(".+")}"`,
    bucket: `bucket=~"${bucketName(".+", ".+")}"`,
} as const;

/**
 * How each exporter label names a tenant: the regex whose group is the tenant
 * id (for MySQL users, with the id's hyphens spelled as underscores).
 */
export const TENANT_ID_REGEX = {
    namespace: TENANT_NAMESPACE_REGEX,
    ingress: ingressName("(.+)"),
    certificate: tlsSecretName("(.+)"),
    vhost: vhostName("(.+)"),
    bucket: bucketName("(.+)", `(?:${BUCKET_PURPOSES.join("|")})`),
    mysqlUser: databaseUser("(.+)", "[a-z][a-z0-9]*"),
} as const;

/** `label_replace` that sets `tenant_id` from the tenant's object name in `label`. */
function tenantFrom(expr: string, label: string, regex: string): string {
    return `label_replace(${expr}, "tenant_id", "$1", "${label}", "${regex}")`;
}

/**
 * The tenant id from a MySQL user name: `client_a_b_auth_user` → `a-b`.
 * SQL names spell the id's hyphens as underscores (ids never hold `_`), so
 * each underscore left in the extracted id is turned back into a hyphen, one
 * `label_replace` per hyphen a valid id can have (5 at 11 characters).
 */
function tenantFromMysqlUser(expr: string): string {
    let out = tenantFrom(expr, "user", TENANT_ID_REGEX.mysqlUser);
    for (let i = 0; i < maxHyphens(); i++) out = `label_replace(${out}, "tenant_id", "$1-$2", "tenant_id", "([^_]+)_(.+)")`;
    return out;
}

/** The most hyphens a valid tenant id holds: single inner hyphens between characters. */
export function maxHyphens(): number {
    return Math.floor((maxTenantIdLength() - 1) / 2);
}

const NS = TENANT_SELECTORS.namespace;
/** `tenant_id` from the `namespace` label (`e-commerce-client-abc` → `abc`), as the seed's relabel rule does. */
export const byNamespace = (expr: string) => tenantFrom(expr, "namespace", TENANT_ID_REGEX.namespace);
/** `tenant_id` from the `ingress` label (`client-abc-ingress` → `abc`). */
export const byIngress = (expr: string) => tenantFrom(expr, "ingress", TENANT_ID_REGEX.ingress);
/** `tenant_id` from the `user` label of a MySQL user (`client_a_b_auth_user` → `a-b`). */
export const byMysqlUser = (expr: string) => tenantFromMysqlUser(expr);

/** Recorded series names, one owner for the rules, the dashboards and the showback. */
export const RECORDED = {
    requests: "tenant_id:http_requests:rate5m",
    errors: "tenant_id:http_errors:rate5m",
    errorRatio: "tenant_id:http_error_ratio:rate5m",
    latencyP50: "tenant_id:http_request_duration_seconds:p50",
    latencyP95: "tenant_id:http_request_duration_seconds:p95",
    latencyP99: "tenant_id:http_request_duration_seconds:p99",
    cpu: "tenant_id:container_cpu_usage_seconds:rate5m",
    memory: "tenant_id:container_memory_working_set_bytes:sum",
    storage: "tenant_id:storage_used_bytes:sum",
    dbConnections: "tenant_id:mysql_connections:sum",
    queueDepth: "tenant_id:rabbitmq_queue_messages:sum",
    quotaUsage: "tenant_id:kube_resourcequota_usage:ratio",
} as const;

/** Each quota resource of each tenant, used / hard (kube-state-metrics). */
function quotaUsage(): string {
    return byNamespace(
        `max by (namespace, resourcequota, resource) (kube_resourcequota{${NS},type="used"}) / (max by (namespace, resourcequota, resource) (kube_resourcequota{${NS},type="hard"}) > 0)`,
    );
}

function latency(quantile: number): string {
    return `histogram_quantile(${quantile}, sum by (tenant_id, le) (${byIngress(
        `sum by (ingress, le) (rate(nginx_ingress_controller_request_duration_seconds_bucket{${TENANT_SELECTORS.ingress}}[5m]))`,
    )}))`;
}

/** The seed's key metrics per tenant, recorded once a minute. */
export function recordingRules(): RecordingRule[] {
    const requests = (filter: string) => `sum by (tenant_id) (${byIngress(`sum by (ingress) (rate(nginx_ingress_controller_requests{${filter}}[5m]))`)})`;
    const all = requests(TENANT_SELECTORS.ingress);
    const errors = requests(`${TENANT_SELECTORS.ingress},status=~"5.."`);
    return [
        // ingress-nginx: requests, 5xx, latency. The Ingress name (client-<id>-ingress) names the tenant.
        // No rule reads another's recorded series, so each can be backfilled on its own (promtool tsdb create-blocks-from rules).
        { record: RECORDED.requests, expr: all },
        // A tenant without errors has an error rate of 0, not no series.
        { record: RECORDED.errors, expr: `${errors} or (0 * ${all})` },
        { record: RECORDED.errorRatio, expr: `(${errors} or (0 * ${all})) / (${all} > 0)` },
        { record: RECORDED.latencyP50, expr: latency(0.5) },
        { record: RECORDED.latencyP95, expr: latency(0.95) },
        { record: RECORDED.latencyP99, expr: latency(0.99) },
        // cAdvisor (through the kubelet): every container of the namespace, not the pause container.
        {
            record: RECORDED.cpu,
            expr: `sum by (tenant_id) (${byNamespace(`sum by (namespace) (rate(container_cpu_usage_seconds_total{${NS},container!="",container!="POD"}[5m]))`)})`,
        },
        {
            record: RECORDED.memory,
            expr: `sum by (tenant_id) (${byNamespace(`sum by (namespace) (container_memory_working_set_bytes{${NS},container!="",container!="POD"})`)})`,
        },
        // Storage: the namespace's volumes (kubelet volume stats) and the tenant's buckets (MinIO; every node reports a bucket, hence max).
        {
            record: RECORDED.storage,
            expr: `sum by (tenant_id) (${byNamespace(`sum by (namespace) (kubelet_volume_stats_used_bytes{${NS}})`)} or ${tenantFrom(
                `max by (bucket) (minio_bucket_usage_total_bytes{${TENANT_SELECTORS.bucket}})`,
                "bucket",
                TENANT_ID_REGEX.bucket,
            )})`,
        },
        // mysqld_exporter's userstat collector (MariaDB `userstat=ON`): open connections per MySQL user.
        {
            record: RECORDED.dbConnections,
            expr: `sum by (tenant_id) (${tenantFromMysqlUser(`mysql_info_schema_user_statistics_concurrent_connections{${TENANT_SELECTORS.mysqlUser}}`)})`,
        },
        // The RabbitMQ Prometheus plugin's per-object metrics (prometheus.return_per_object_metrics = true).
        {
            record: RECORDED.queueDepth,
            expr: `sum by (tenant_id) (${tenantFrom(`rabbitmq_queue_messages{${TENANT_SELECTORS.vhost}}`, "vhost", TENANT_ID_REGEX.vhost)})`,
        },
        // kube-state-metrics: each quota resource, used / hard.
        { record: RECORDED.quotaUsage, expr: quotaUsage() },
    ];
}

/** Alerts a platform team needs, every one labelled with the tenant's `tenant_id`. */
export function alertingRules(): AlertingRule[] {
    const lastSuccess = `max by (namespace) (kube_cronjob_status_last_successful_time{${NS},cronjob="db-backup"})`;
    const created = `max by (namespace) (kube_cronjob_created{${NS},cronjob="db-backup"})`;
    const suspended = `max by (namespace) (kube_cronjob_spec_suspend{${NS},cronjob="db-backup"}) == 1`;
    const maxAge = BACKUP_MAX_AGE_HOURS * 3600;
    return [
        {
            alert: "TenantQuotaNearlyFull",
            expr: `${quotaUsage()} > ${QUOTA_WARNING_RATIO}`,
            for: "15m",
            labels: { severity: "warning" },
            annotations: {
                summary: "Tenant {{ $labels.tenant_id }} has used {{ $value | humanizePercentage }} of its {{ $labels.resource }} quota",
                description:
                    "ResourceQuota {{ $labels.resourcequota }} in {{ $labels.namespace }}: new pods or volumes will be refused once it is full. Upgrade the tier or size the workloads down.",
            },
        },
        {
            alert: "TenantBackupJobFailed",
            // A daily backup Job that failed after the last success, or the final backup of a cancelled tenant.
            expr: byNamespace(
                `((kube_job_status_start_time{${NS},job_name=~"db-backup-.+"} * on(namespace, job_name) (max by (namespace, job_name) (kube_job_failed{${NS},condition="true"}) == 1)) > on(namespace) group_left() (${lastSuccess} or (0 * ${created}))) or (max by (namespace, job_name) (kube_job_failed{${NS},job_name="final-backup",condition="true"}) == 1)`,
            ),
            labels: { severity: "critical" },
            annotations: {
                summary: "Backup Job {{ $labels.job_name }} of tenant {{ $labels.tenant_id }} failed",
                description:
                    "kubectl -n {{ $labels.namespace }} logs job/{{ $labels.job_name }}. A cancelled tenant cannot be purged until its final backup succeeds.",
            },
        },
        {
            alert: "TenantBackupMissing",
            // No successful daily backup for 26 hours (or never, for a CronJob older than that); a suspended CronJob (cancelled tenant) is not expected to run.
            expr: byNamespace(
                `((time() - ${lastSuccess} > ${maxAge}) or ((time() - ${created} > ${maxAge}) unless on(namespace) ${lastSuccess})) unless on(namespace) (${suspended})`,
            ),
            labels: { severity: "critical" },
            annotations: {
                summary: `Tenant {{ $labels.tenant_id }} has no successful database backup in the last ${BACKUP_MAX_AGE_HOURS} hours`,
                description:
                    "The db-backup CronJob in {{ $labels.namespace }} has not completed a Job since {{ $value | humanizeDuration }} ago: the RPO of 24 hours is at risk.",
            },
        },
        {
            alert: "TenantCertificateExpiring",
            expr: tenantFrom(
                `(certmanager_certificate_expiration_timestamp_seconds{${TENANT_SELECTORS.certificate}} - time()) < ${CERTIFICATE_WARNING_DAYS * 86400}`,
                "name",
                TENANT_ID_REGEX.certificate,
            ),
            for: "1h",
            labels: { severity: "warning" },
            annotations: {
                summary: "Certificate {{ $labels.name }} of tenant {{ $labels.tenant_id }} expires in {{ $value | humanizeDuration }}",
                description: "cert-manager should have renewed it: kubectl describe certificate {{ $labels.name }}.",
            },
        },
        {
            alert: "TenantQueueGrowing",
            expr: tenantFrom(
                `(deriv(rabbitmq_queue_messages{${TENANT_SELECTORS.vhost}}[15m]) > 0) and (rabbitmq_queue_messages{${TENANT_SELECTORS.vhost}} > ${QUEUE_GROWING_MIN_MESSAGES})`,
                "vhost",
                TENANT_ID_REGEX.vhost,
            ),
            for: "15m",
            labels: { severity: "warning" },
            annotations: {
                summary: "Queue {{ $labels.queue }} of tenant {{ $labels.tenant_id }} keeps growing",
                description: `More than ${QUEUE_GROWING_MIN_MESSAGES} messages and still growing for 15 minutes: its consumers are down or too slow.`,
            },
        },
    ];
}

/** The region's rule groups: the key metrics (recorded every minute) and the alerts. */
export function ruleGroups(): RuleGroup[] {
    return [
        { name: "collectverything-tenant-metrics", interval: `${RECORDING_INTERVAL_SECONDS}s`, rules: recordingRules() },
        { name: "collectverything-tenant-alerts", rules: alertingRules() },
    ];
}

/** The rules as a Prometheus rule file (what promtool checks and the PrometheusRule's spec holds). */
export function ruleFileYaml(): string {
    return stringify({ groups: ruleGroups() }, { lineWidth: 0 });
}

// ---------------------------------------------------------------------------
// Tracing context.

/** The OpenTelemetry collector in the shared namespace: its pods' label (the opentelemetry-collector chart's) and OTLP ports. */
export const OTEL_COLLECTOR = {
    podLabels: { "app.kubernetes.io/name": "opentelemetry-collector" },
    grpcPort: 4317,
    httpPort: 4318,
    endpoint: `http://otel-collector.${SHARED_NAMESPACE}.svc.cluster.local:4317`,
} as const;
/** The tenant ConfigMap the services load with `envFrom`. */
export const OTEL_CONFIGMAP = "otel-resource-attributes";

/**
 * The seed's Jaeger tenant tags as OpenTelemetry resource attributes:
 * `tenant.id` is the event form (`client-abc`), as in the seed's trace.
 * Values are percent-encoded as the OTEL_RESOURCE_ATTRIBUTES format requires.
 */
export function otelResourceAttributes(t: Pick<TenantSpec, "id" | "tier" | "websiteId" | "domain">): string {
    const attributes: [string, string][] = [
        ["tenant.id", eventTenantId(t.id)],
        ["tenant.tier", t.tier],
        ["website.id", String(t.websiteId)],
        ["website.domain", t.domain],
    ];
    return attributes.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join(",");
}

/** The data of the tenant's OTEL ConfigMap. */
export function otelConfigMapData(t: Pick<TenantSpec, "id" | "tier" | "websiteId" | "domain">): Record<string, string> {
    return { OTEL_RESOURCE_ATTRIBUTES: otelResourceAttributes(t), OTEL_EXPORTER_OTLP_ENDPOINT: OTEL_COLLECTOR.endpoint };
}
