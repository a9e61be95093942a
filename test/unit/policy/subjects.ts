/** Builders of policy subjects for the rule tables. */
import { POD_SECURITY_LABELS, REGION_LABEL } from "../../../lib/labels";
import { isolationPolicySpec } from "../../../components/tenantNamespace";
import type { Subject } from "../../../policy/model";

const STACK = "eu-west";
const PROJECT = "tenant-platform";

export function urn(type: string, name: string, parentTypes: string[] = []): string {
    return `urn:pulumi:${STACK}::${PROJECT}::${[...parentTypes, type].join("$")}::${name}`;
}

export function subject(type: string, name: string, props: Record<string, unknown>, extra: Partial<Subject> = {}): Subject {
    return { type, name, urn: urn(type, name), props, protect: false, ...extra };
}

export function labels(tenant: string, region = "eu-west"): Record<string, string> {
    return { tenant: `client-${tenant}`, [REGION_LABEL]: region };
}

export function namespace(tenant: string, extraLabels: Record<string, string> = POD_SECURITY_LABELS, protect = true): Subject {
    return subject(
        "kubernetes:core/v1:Namespace",
        `${tenant}-namespace`,
        { metadata: { name: `e-commerce-client-${tenant}`, labels: { ...labels(tenant), ...extraLabels } } },
        { protect },
    );
}

export function inNamespace(type: string, tenant: string, objectName: string, spec: Record<string, unknown> = {}): Subject {
    return subject(type, `${tenant}-${objectName}`, {
        metadata: { name: objectName, namespace: `e-commerce-client-${tenant}`, labels: labels(tenant) },
        ...spec,
    });
}

/** A tenant namespace with all its guards, as the TenantNamespace component makes it. */
export function guardedTenant(tenant: string): Subject[] {
    return [
        namespace(tenant),
        inNamespace("kubernetes:core/v1:ResourceQuota", tenant, "client-quota", { spec: { hard: { pods: "10" } } }),
        inNamespace("kubernetes:core/v1:LimitRange", tenant, "pod-limits", { spec: { limits: [] } }),
        inNamespace("kubernetes:networking.k8s.io/v1:NetworkPolicy", tenant, "client-isolation", { spec: isolationPolicySpec("ingress-nginx") }),
    ];
}

/** A child of a tenant's component: its URN and parent name the Tenant. */
export function tenantChild(
    tenant: string,
    component: string,
    type: string,
    name: string,
    props: Record<string, unknown>,
    extra: Partial<Subject> = {},
): Subject[] {
    const tenantUrn = urn("collectverything:tenant:Tenant", tenant);
    const compType = `collectverything:tenant:${component}`;
    const compUrn = urn(compType, tenant, ["collectverything:tenant:Tenant"]);
    return [
        { type: "collectverything:tenant:Tenant", name: tenant, urn: tenantUrn, props: {}, protect: false },
        { type: compType, name: tenant, urn: compUrn, props: {}, protect: false, parent: tenantUrn },
        { type, name, urn: urn(type, name, ["collectverything:tenant:Tenant", compType]), props, protect: false, parent: compUrn, ...extra },
    ];
}

export function messages(vs: readonly { message: string }[]): string[] {
    return vs.map((v) => v.message);
}
