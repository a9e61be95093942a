/**
 * Every tenant namespace has a ResourceQuota, a LimitRange, a NetworkPolicy
 * that selects every pod, and the Pod Security `restricted` labels.
 */
import { POD_SECURITY_LABELS } from "../../lib/labels";
import { K8S, labelsOf, metadata, namespaceOf, obj, str, tenantOfNamespace, tenantOfSlug, type Rule, type Subject, type Violation } from "../model";

export const NAME = "tenant-namespace-guards";

/** Tenant namespaces: named e-commerce-client-<id>, or labelled `tenant: client-<id>`. */
export function isTenantNamespace(s: Subject): boolean {
    if (s.type !== K8S.namespace) return false;
    return tenantOfNamespace(str(metadata(s).name)) !== undefined || tenantOfSlug(str(labelsOf(s)?.tenant)) !== undefined;
}

/** A NetworkPolicy that applies to every pod of its namespace (empty podSelector). */
export function selectsAllPods(np: Subject): boolean {
    const spec = obj(np.props.spec);
    const selector = obj(spec?.podSelector);
    if (spec === undefined || spec.podSelector === undefined || selector === undefined) return false;
    const labels = obj(selector.matchLabels);
    const expressions = selector.matchExpressions;
    return (labels === undefined || Object.keys(labels).length === 0) && (!Array.isArray(expressions) || expressions.length === 0);
}

/** The Pod Security labels a namespace lacks or sets to something else, as `key=value` wanted. */
export function missingPodSecurityLabels(ns: Subject): string[] {
    const labels = labelsOf(ns) ?? {};
    return Object.entries(POD_SECURITY_LABELS)
        .filter(([key, value]) => labels[key] !== value)
        .map(([key, value]) => `${key}=${value}`);
}

const GUARDS = [
    { type: K8S.resourceQuota, kind: "ResourceQuota", why: "without it one tenant can starve the cluster", fits: (_s: Subject) => true },
    { type: K8S.limitRange, kind: "LimitRange", why: "without it pods run without default requests and limits", fits: (_s: Subject) => true },
    {
        type: K8S.networkPolicy,
        kind: "NetworkPolicy selecting every pod (podSelector: {})",
        why: "without it every pod of the namespace is reachable from other tenants",
        fits: selectsAllPods,
    },
] as const;

export function checkNamespaceGuards(subjects: readonly Subject[]): Violation[] {
    const violations: Violation[] = [];
    for (const ns of subjects.filter(isTenantNamespace)) {
        const name = str(metadata(ns).name) ?? ns.name;
        for (const guard of GUARDS) {
            const candidates = subjects.filter((s) => s.type === guard.type);
            // A guard whose namespace is not known yet (preview) cannot be matched: do not claim it is missing.
            if (candidates.some((s) => namespaceOf(s) === undefined)) continue;
            if (!candidates.some((s) => namespaceOf(s) === name && guard.fits(s))) {
                violations.push({
                    policy: NAME,
                    urn: ns.urn,
                    message: `tenant namespace ${name} has no ${guard.kind}: ${guard.why}. Fix: create it with the TenantNamespace component.`,
                });
            }
        }
        const missing = missingPodSecurityLabels(ns);
        if (missing.length > 0) {
            violations.push({
                policy: NAME,
                urn: ns.urn,
                message: `tenant namespace ${name} lacks the Pod Security restricted labels ${missing.join(", ")}. Fix: label it with POD_SECURITY_LABELS (lib/labels.ts).`,
            });
        }
    }
    return violations;
}

export const namespaceGuards: Rule = {
    name: NAME,
    description: "Every tenant namespace has a ResourceQuota, a LimitRange, a NetworkPolicy over all its pods and the Pod Security restricted labels.",
    check: (subjects) => checkNamespaceGuards(subjects),
};
