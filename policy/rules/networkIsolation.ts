/**
 * No NetworkPolicy admits another tenant's namespace, and none is open to all
 * namespaces (an empty namespaceSelector, a rule without peers, or a
 * selector made only of NotIn/Exists/DoesNotExist terms).
 */
import { TENANT_LABEL } from "../../lib/labels";
import { namespaceName } from "../../lib/naming";
import { K8S, arr, displayName, namespaceOf, obj, str, tenantOfNamespace, tenantOfSlug, type Rule, type Subject, type Violation } from "../model";

export const NAME = "network-policy-isolation";

const NAMESPACE_NAME_LABELS = ["kubernetes.io/metadata.name", "name"];
const OPEN_CIDRS = new Set(["0.0.0.0/0", "::/0"]);

/** The tenants a namespace selector names: through the namespace's name label or its `tenant` label. */
export function selectedTenants(selector: Record<string, unknown>): string[] {
    const tenants: string[] = [];
    const fromValue = (key: string, value: string) => {
        if (NAMESPACE_NAME_LABELS.includes(key)) return tenantOfNamespace(value);
        if (key === TENANT_LABEL) return tenantOfSlug(value);
        return undefined;
    };
    for (const [key, value] of Object.entries(obj(selector.matchLabels) ?? {})) {
        const t = typeof value === "string" ? fromValue(key, value) : undefined;
        if (t !== undefined) tenants.push(t);
    }
    for (const expr of arr(selector.matchExpressions).map(obj)) {
        if (expr?.operator !== "In") continue;
        for (const value of arr(expr.values)) {
            const t = typeof value === "string" ? fromValue(String(expr.key), value) : undefined;
            if (t !== undefined) tenants.push(t);
        }
    }
    return tenants;
}

/** A namespace selector that matches every namespace, or every namespace but a few. */
export function isOpenSelector(selector: Record<string, unknown>): boolean {
    const labels = obj(selector.matchLabels) ?? {};
    const expressions = arr(selector.matchExpressions).map((e) => obj(e) ?? {});
    if (Object.keys(labels).length > 0) return false;
    return expressions.every((e) => e.operator === "NotIn" || e.operator === "DoesNotExist" || e.operator === "Exists");
}

/** Every problem of one NetworkPolicy, as messages. */
export function networkPolicyProblems(np: Subject): string[] {
    const spec = obj(np.props.spec);
    if (spec === undefined) return [];
    const own = namespaceOf(np);
    const ownTenant = tenantOfNamespace(own);
    const problems: string[] = [];
    const directions = [
        { key: "ingress", peers: "from", verb: "admits" },
        { key: "egress", peers: "to", verb: "allows traffic to" },
    ] as const;
    for (const dir of directions) {
        arr(spec[dir.key]).forEach((rawRule, i) => {
            const rule = obj(rawRule) ?? {};
            const where = `${dir.key}[${i}]`;
            const peers = rule[dir.peers];
            if (peers === undefined || (Array.isArray(peers) && peers.length === 0)) {
                problems.push(`${where} has no \`${dir.peers}\`: it ${dir.verb} every pod of every namespace`);
                return;
            }
            arr(peers).forEach((rawPeer, j) => {
                const peer = obj(rawPeer) ?? {};
                const at = `${where}.${dir.peers}[${j}]`;
                const selector = peer.namespaceSelector === undefined ? undefined : (obj(peer.namespaceSelector) ?? {});
                if (selector !== undefined) {
                    if (isOpenSelector(selector)) {
                        problems.push(`${at} has an open namespaceSelector: it ${dir.verb} all namespaces`);
                        return;
                    }
                    for (const tenant of selectedTenants(selector)) {
                        if (tenant !== ownTenant) problems.push(`${at} ${dir.verb} tenant "${tenant}"'s namespace ${namespaceName(tenant)}`);
                    }
                }
                const cidr = str(obj(peer.ipBlock)?.cidr);
                if (dir.key === "ingress" && cidr !== undefined && OPEN_CIDRS.has(cidr) && arr(obj(peer.ipBlock)?.except).length === 0) {
                    problems.push(`${at} admits ipBlock ${cidr}: every pod of every namespace`);
                }
            });
        });
    }
    return problems;
}

export function checkNetworkIsolation(subjects: readonly Subject[]): Violation[] {
    return subjects
        .filter((s) => s.type === K8S.networkPolicy)
        .flatMap((np) =>
            networkPolicyProblems(np).map((p) => ({
                policy: NAME,
                urn: np.urn,
                message: `NetworkPolicy ${displayName(np)}: ${p}. Fix: select namespaces by their kubernetes.io/metadata.name label, the shared ones only.`,
            })),
        );
}

export const networkIsolation: Rule = {
    name: NAME,
    description: "No NetworkPolicy admits another tenant's namespace, and none is open to all namespaces.",
    check: (subjects) => checkNetworkIsolation(subjects),
};
