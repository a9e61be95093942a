import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { COMPONENT_TOKENS } from "../lib/tokens";
import { REGION_LABEL } from "../lib/labels";
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

/** What this program owns of a region's shared infrastructure: the shared namespace and the secret store. */
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
        this.registerOutputs({ namespaceName: this.namespaceName });
    }
}
