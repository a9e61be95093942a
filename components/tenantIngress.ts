import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { COMPONENT_TOKENS } from "../lib/tokens";
import { ingressName, tlsSecretName } from "../lib/naming";

export interface TenantIngressArgs {
    readonly tenantId: string;
    readonly namespace: pulumi.Input<string>;
    /** The primary domain, e.g. client-abc.collectverything.com. */
    readonly domain: string;
    /** The tenant's own domains, each with TLS. */
    readonly customDomains?: readonly string[];
    /** cert-manager ClusterIssuer. Default: letsencrypt-prod. */
    readonly clusterIssuer?: string;
    /** IngressClass. Default: nginx. */
    readonly ingressClassName?: string;
    /** Wait for the load balancer address before reporting success. Default: true. */
    readonly awaitLoadBalancer?: boolean;
    readonly labels?: Record<string, string>;
}

/** The seed's Ingress spec: every host on TLS with one certificate, routed to api-gateway:8100. */
export function ingressSpec(tenantId: string, hosts: readonly string[], ingressClassName = "nginx") {
    return {
        ingressClassName,
        tls: [{ hosts: [...hosts], secretName: tlsSecretName(tenantId) }],
        rules: hosts.map((host) => ({
            host,
            http: {
                paths: [
                    {
                        path: "/",
                        pathType: "Prefix",
                        backend: { service: { name: "api-gateway", port: { number: 8100 } } },
                    },
                ],
            },
        })),
    };
}

/** Routes the tenant's domains to its API gateway, with certificates from cert-manager. */
export class TenantIngress extends pulumi.ComponentResource {
    public readonly hosts: string[];

    constructor(name: string, args: TenantIngressArgs, opts?: pulumi.ComponentResourceOptions) {
        super(COMPONENT_TOKENS.TenantIngress, name, {}, opts);
        this.hosts = [args.domain, ...(args.customDomains ?? [])];
        const annotations: Record<string, string> = { "cert-manager.io/cluster-issuer": args.clusterIssuer ?? "letsencrypt-prod" };
        if (args.awaitLoadBalancer === false) annotations["pulumi.com/skipAwait"] = "true";
        new k8s.networking.v1.Ingress(
            `${name}-ingress`,
            {
                metadata: { name: ingressName(args.tenantId), namespace: args.namespace, labels: args.labels, annotations },
                spec: ingressSpec(args.tenantId, this.hosts, args.ingressClassName),
            },
            { parent: this },
        );
        this.registerOutputs({ hosts: this.hosts });
    }
}
