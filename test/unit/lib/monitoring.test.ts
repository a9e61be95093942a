/**
 * lib/monitoring.ts: the seed's scrape job and relabelling literally, how
 * every exporter label is mapped back to a tenant id (for every valid id),
 * the rule set's shape, and the tracing context. promtool runs the rules in
 * test/contract/prometheusRules.test.ts.
 */
import fc from "fast-check";
import { parse } from "yaml";
import {
    ADDITIONAL_SCRAPE_CONFIGS_SECRET,
    RECORDED,
    TENANT_ID_REGEX,
    TENANT_SELECTORS,
    additionalScrapeConfigsYaml,
    alertingRules,
    kubernetesPodsJob,
    maxHyphens,
    otelConfigMapData,
    otelResourceAttributes,
    recordingRules,
    ruleGroups,
    tenantRelabelConfigs,
} from "../../../lib/monitoring";
import { TENANT_ID_PATTERN, bucketName, databaseUser, ingressName, maxTenantIdLength, namespaceName, tlsSecretName, vhostName } from "../../../lib/naming";

describe("the scrape job", () => {
    test("the seed's three relabel rules, literally", () => {
        expect(tenantRelabelConfigs()).toEqual([
            { source_labels: ["__meta_kubernetes_namespace"], regex: "e-commerce-client-(.+)", target_label: "tenant_id" },
            { source_labels: ["__meta_kubernetes_pod_label_tenant"], target_label: "tenant" },
            { source_labels: ["__meta_kubernetes_pod_label_tier"], target_label: "subscription_tier" },
        ]);
    });

    test("kubernetes-pods: pod discovery, annotated pods only, path and port annotations, the seed's rules, namespace and pod", () => {
        expect(kubernetesPodsJob()).toEqual({
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
                { source_labels: ["__meta_kubernetes_namespace"], regex: "e-commerce-client-(.+)", target_label: "tenant_id" },
                { source_labels: ["__meta_kubernetes_pod_label_tenant"], target_label: "tenant" },
                { source_labels: ["__meta_kubernetes_pod_label_tier"], target_label: "subscription_tier" },
                { source_labels: ["__meta_kubernetes_namespace"], target_label: "namespace" },
                { source_labels: ["__meta_kubernetes_pod_name"], target_label: "pod" },
            ],
        });
    });

    test("the Secret's content is a YAML list holding exactly that job, under the key kube-prometheus-stack is told to read", () => {
        expect(parse(additionalScrapeConfigsYaml())).toEqual([kubernetesPodsJob()]);
        expect(ADDITIONAL_SCRAPE_CONFIGS_SECRET).toEqual({ name: "prometheus-additional-scrape-configs", key: "additional-scrape-configs.yaml" });
    });
});

/** Prometheus' label_replace: the regex anchored at both ends, `$n` expanded; no match leaves the label as it was. */
function labelReplace(value: string | undefined, regex: string, replacement: string): string | undefined {
    const m = new RegExp(`^(?:${regex})$`).exec(value ?? "");
    return m ? replacement.replace(/\$(\d)/g, (_, n: string) => m[Number(n)] ?? "") : value;
}

/** The tenant id the rules derive from a MySQL user name: extract, then turn each underscore back into a hyphen. */
function tenantOfMysqlUser(user: string): string | undefined {
    let id = labelReplace(user, TENANT_ID_REGEX.mysqlUser, "$1");
    if (id === user) return undefined;
    for (let i = 0; i < maxHyphens(); i++) id = labelReplace(id, "([^_]+)_(.+)", "$1-$2");
    return id;
}

const tenantId = fc
    .tuple(fc.constantFrom(..."abcxyz"), fc.array(fc.constantFrom(..."ab1-"), { maxLength: maxTenantIdLength() - 1 }))
    .map(([h, rest]) => h + rest.join(""))
    .filter((id) => TENANT_ID_PATTERN.test(id));

describe("tenant ids from the exporters' labels", () => {
    test("the regexes and selectors, literally", () => {
        expect(TENANT_ID_REGEX).toEqual({
            namespace: "e-commerce-client-(.+)",
            ingress: "client-(.+)-ingress",
            certificate: "client-(.+)-tls",
            vhost: "/client-(.+)",
            bucket: "client-(.+)-(?:products|sav|newsletters)",
            mysqlUser: "client_(.+)_[a-z][a-z0-9]*_user",
        });
        expect(TENANT_SELECTORS).toEqual({
            namespace: 'namespace=~"e-commerce-client-.+"',
            ingress: 'ingress=~"client-.+-ingress"',
            certificate: 'name=~"client-.+-tls"',
            mysqlUser: 'user=~"client_.+_[a-z][a-z0-9]*_user"',
            vhost: 'vhost=~"/client-.+"',
            bucket: 'bucket=~"client-.+-.+"',
        });
        // An 11-character id holds at most 5 hyphens (a-b-c-d-e-f).
        expect(maxHyphens()).toBe(5);
    });

    test("every valid id comes back from its namespace, Ingress, certificate, vhost, buckets and MySQL users", () => {
        fc.assert(
            fc.property(
                tenantId,
                fc.constantFrom("auth", "products", "orders", "inventory2"),
                fc.constantFrom("products", "sav", "newsletters"),
                (id, service, purpose) => {
                    expect(labelReplace(namespaceName(id), TENANT_ID_REGEX.namespace, "$1")).toBe(id);
                    expect(labelReplace(ingressName(id), TENANT_ID_REGEX.ingress, "$1")).toBe(id);
                    expect(labelReplace(tlsSecretName(id), TENANT_ID_REGEX.certificate, "$1")).toBe(id);
                    expect(labelReplace(vhostName(id), TENANT_ID_REGEX.vhost, "$1")).toBe(id);
                    expect(labelReplace(bucketName(id, purpose), TENANT_ID_REGEX.bucket, "$1")).toBe(id);
                    expect(tenantOfMysqlUser(databaseUser(id, service))).toBe(id);
                },
            ),
            {
                examples: [
                    ["a-b-c-d-e-f", "products", "sav"],
                    ["abc-sav", "auth", "sav"],
                    ["a", "orders", "newsletters"],
                ],
            },
        );
    });

    test("objects of nobody get no tenant id", () => {
        expect(labelReplace("e-commerce-shared", TENANT_ID_REGEX.namespace, "$1")).toBe("e-commerce-shared");
        expect(tenantOfMysqlUser("platform_admin")).toBeUndefined();
        expect(labelReplace("/", TENANT_ID_REGEX.vhost, "$1")).toBe("/");
    });
});

describe("the rules", () => {
    test("two groups: the key metrics every minute, then the alerts", () => {
        expect(ruleGroups().map((g) => [g.name, g.interval, g.rules.length])).toEqual([
            ["collectverything-tenant-metrics", "60s", 12],
            ["collectverything-tenant-alerts", undefined, 5],
        ]);
    });

    test("the recorded series: the seed's key metrics per tenant_id", () => {
        expect(recordingRules().map((r) => r.record)).toEqual([
            "tenant_id:http_requests:rate5m",
            "tenant_id:http_errors:rate5m",
            "tenant_id:http_error_ratio:rate5m",
            "tenant_id:http_request_duration_seconds:p50",
            "tenant_id:http_request_duration_seconds:p95",
            "tenant_id:http_request_duration_seconds:p99",
            "tenant_id:container_cpu_usage_seconds:rate5m",
            "tenant_id:container_memory_working_set_bytes:sum",
            "tenant_id:storage_used_bytes:sum",
            "tenant_id:mysql_connections:sum",
            "tenant_id:rabbitmq_queue_messages:sum",
            "tenant_id:kube_resourcequota_usage:ratio",
        ]);
        expect(Object.values(RECORDED).sort()).toEqual(
            recordingRules()
                .map((r) => r.record)
                .sort(),
        );
        // No rule reads another's output (each can be backfilled alone).
        for (const r of recordingRules()) for (const name of Object.values(RECORDED)) expect(r.expr).not.toContain(name);
    });

    test("the exporters' metric names", () => {
        const exprs = [...recordingRules(), ...alertingRules()].map((r) => r.expr).join("\n");
        for (const metric of [
            "nginx_ingress_controller_requests",
            "nginx_ingress_controller_request_duration_seconds_bucket",
            "container_cpu_usage_seconds_total",
            "container_memory_working_set_bytes",
            "kubelet_volume_stats_used_bytes",
            "minio_bucket_usage_total_bytes",
            "mysql_info_schema_user_statistics_concurrent_connections",
            "rabbitmq_queue_messages",
            "kube_resourcequota",
            "kube_job_failed",
            "kube_job_status_start_time",
            "kube_cronjob_status_last_successful_time",
            "kube_cronjob_created",
            "kube_cronjob_spec_suspend",
            "certmanager_certificate_expiration_timestamp_seconds",
        ]) {
            expect(exprs).toContain(`${metric}{`);
        }
    });

    test("every alert: a tenant_id, a severity, a summary", () => {
        expect(alertingRules().map((a) => [a.alert, a.for, a.labels.severity])).toEqual([
            ["TenantQuotaNearlyFull", "15m", "warning"],
            ["TenantBackupJobFailed", undefined, "critical"],
            ["TenantBackupMissing", undefined, "critical"],
            ["TenantCertificateExpiring", "1h", "warning"],
            ["TenantQueueGrowing", "15m", "warning"],
        ]);
        for (const a of alertingRules()) {
            expect(a.expr.startsWith("label_replace(") || a.expr.includes('"tenant_id"')).toBe(true);
            expect(a.annotations.summary).toContain("{{ $labels.tenant_id }}");
        }
    });
});

describe("tracing context", () => {
    test("the seed's Jaeger tags for abc, as OTEL_RESOURCE_ATTRIBUTES", () => {
        const abc = { id: "abc", tier: "premium" as const, websiteId: 123, domain: "client-abc.collectverything.com" };
        expect(otelResourceAttributes(abc)).toBe("tenant.id=client-abc,tenant.tier=premium,website.id=123,website.domain=client-abc.collectverything.com");
        expect(otelConfigMapData(abc)).toEqual({
            OTEL_RESOURCE_ATTRIBUTES: "tenant.id=client-abc,tenant.tier=premium,website.id=123,website.domain=client-abc.collectverything.com",
            OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel-collector.e-commerce-shared.svc.cluster.local:4317",
        });
    });
});
