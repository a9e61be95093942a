import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { COMPONENT_TOKENS } from "../lib/tokens";
import { REGION_LABEL } from "../lib/labels";
import {
    ADDITIONAL_SCRAPE_CONFIGS_SECRET,
    additionalScrapeConfigsYaml,
    DEFAULT_RULE_SELECTOR_LABELS,
    PROMETHEUS_RULE_NAME,
    ruleGroups,
} from "../lib/monitoring";
import { SHARED_NAMESPACE } from "../lib/naming";
import type { Region } from "../lib/regions";

export interface SharedRegionArgs {
    readonly region: Region;
    readonly environment: string;
    /**
     * Create the `aws-secrets-manager` ClusterSecretStore that tenant
     * ExternalSecrets read from. Default: false.
     */
    readonly awsSecretStore?: { readonly awsRegion: string; readonly serviceAccount?: string };
    /**
     * Labels of the region's PrometheusRule, matching the Prometheus' `ruleSelector`.
     * Default: `release: kube-prometheus-stack` (lib/monitoring.ts).
     */
    readonly ruleSelectorLabels?: Readonly<Record<string, string>>;
    /**
     * Declare the scrape-config Secret and the PrometheusRule (the cluster
     * must run the Prometheus operator: the rule is one of its CRDs). Default: true.
     */
    readonly monitoring?: boolean;
}

/** The ClusterSecretStore spec: AWS Secrets Manager, authenticated as the operator's ServiceAccount (IRSA). */
export function secretStoreSpec(awsRegion: string, serviceAccount: string) {
    return {
        provider: {
            aws: {
                service: "SecretsManager",
                region: awsRegion,
                auth: { jwt: { serviceAccountRef: { name: serviceAccount, namespace: SHARED_NAMESPACE } } },
            },
        },
    };
}

/**
 * What this program owns of a region's shared infrastructure: the shared
 * namespace, the secret store, and the monitoring of every tenant: the seed's
 * `kubernetes-pods` scrape job as an additionalScrapeConfigs Secret, and one
 * PrometheusRule with the tenants' recording rules and alerts.
 */
export class SharedRegion extends pulumi.ComponentResource {
    public readonly namespaceName: pulumi.Output<string>;

    constructor(name: string, args: SharedRegionArgs, opts?: pulumi.ComponentResourceOptions) {
        super(COMPONENT_TOKENS.SharedRegion, name, {}, opts);
        const labels = { environment: args.environment, "managed-by": "pulumi", "app.kubernetes.io/managed-by": "pulumi", [REGION_LABEL]: args.region };
        const ns = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            {
                metadata: {
                    name: SHARED_NAMESPACE,
                    labels: { ...labels, "pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted" },
                },
            },
            // It holds RabbitMQ, MySQL and MinIO data in production.
            { parent: this, protect: true },
        );
        this.namespaceName = ns.metadata.name;
        if (args.awsSecretStore) {
            new k8s.apiextensions.CustomResource(
                `${name}-secret-store`,
                {
                    apiVersion: "external-secrets.io/v1",
                    kind: "ClusterSecretStore",
                    metadata: { name: "aws-secrets-manager", labels },
                    spec: secretStoreSpec(args.awsSecretStore.awsRegion, args.awsSecretStore.serviceAccount ?? "external-secrets"),
                },
                { parent: this, dependsOn: [ns] },
            );
        }
        if (args.monitoring ?? true) this.declareMonitoring(name, labels, args.ruleSelectorLabels ?? DEFAULT_RULE_SELECTOR_LABELS, ns);
        this.registerOutputs({ namespaceName: this.namespaceName });
    }

    private declareMonitoring(name: string, labels: Record<string, string>, ruleLabels: Readonly<Record<string, string>>, ns: k8s.core.v1.Namespace): void {
        new k8s.core.v1.Secret(
            `${name}-scrape-configs`,
            {
                metadata: { name: ADDITIONAL_SCRAPE_CONFIGS_SECRET.name, namespace: this.namespaceName, labels },
                // Not a credential, but every Secret value goes through Pulumi as a secret (policy secret-values-are-secrets).
                stringData: { [ADDITIONAL_SCRAPE_CONFIGS_SECRET.key]: pulumi.secret(additionalScrapeConfigsYaml()) },
            },
            { parent: this, dependsOn: [ns] },
        );
        new k8s.apiextensions.CustomResource(
            `${name}-tenant-rules`,
            {
                apiVersion: "monitoring.coreos.com/v1",
                kind: "PrometheusRule",
                metadata: { name: PROMETHEUS_RULE_NAME, namespace: this.namespaceName, labels: { ...labels, ...ruleLabels } },
                spec: { groups: ruleGroups() },
            },
            { parent: this, dependsOn: [ns] },
        );
    }
}
