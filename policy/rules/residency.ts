/**
 * Every tenant resource carries the stack's region label, and every tenant
 * deployed by the stack is, in the manifest, a tenant of the stack's region.
 */
import { REGION_LABEL } from "../../lib/labels";
import { K8S, indexByUrn, labelsOf, metadata, obj, tenantOf, type Rule, type RuleContext, type Subject, type Violation } from "../model";

export const NAME = "tenant-region-residency";

/** Resources that can carry the label: Kubernetes objects (metadata.labels) and tagged cloud resources. */
export function isLabelable(s: Subject): boolean {
    // RabbitMQ users have `tags` too: a list of management tags, not labels.
    return metadata(s).labels !== undefined || obj(s.props.tags) !== undefined || (s.type.startsWith("kubernetes:") && s.props.metadata !== undefined);
}

export function checkResidency(subjects: readonly Subject[], ctx: RuleContext): Violation[] {
    if (ctx.region === undefined) {
        return [
            {
                policy: NAME,
                message:
                    "the stack's region is unknown. Fix: name the stack after its region, set tenant-platform:region in Pulumi.<stack>.yaml, or give the pack config tenant-region-residency.region.",
            },
        ];
    }
    const region = ctx.region;
    const byUrn = indexByUrn(subjects);
    const violations: Violation[] = [];
    const tenants = new Map<string, Subject>();
    for (const s of subjects) {
        const tenant = tenantOf(s, byUrn);
        if (tenant === undefined) continue;
        if (!tenants.has(tenant) || s.type === K8S.namespace) tenants.set(tenant, s);
        if (!isLabelable(s)) continue;
        const label = labelsOf(s)?.[REGION_LABEL];
        if (label === undefined) {
            violations.push({
                policy: NAME,
                urn: s.urn,
                message: `${s.name} of tenant "${tenant}" has no ${REGION_LABEL} label; this stack is region ${region}. Fix: build its labels with tenantLabels().`,
            });
        } else if (typeof label === "string" && label !== region) {
            violations.push({
                policy: NAME,
                urn: s.urn,
                message: `${s.name} of tenant "${tenant}" is labelled ${REGION_LABEL}=${label} but this stack is region ${region}: data never leaves its region.`,
            });
        }
    }
    if (ctx.manifestRegions !== undefined) {
        for (const [tenant, s] of tenants) {
            const declared = ctx.manifestRegions.get(tenant);
            if (declared !== undefined && declared !== region) {
                violations.push({
                    policy: NAME,
                    urn: s.urn,
                    message: `tenant "${tenant}" is in region ${declared} in ${ctx.manifestFile ?? "the manifest"}, but this stack deploys region ${region}: data never leaves its region. Fix: deploy it from the ${declared} stack; moving a tenant is a migration, not an edit.`,
                });
            }
        }
    }
    return violations;
}

export const residency: Rule = {
    name: NAME,
    description: "Every tenant resource carries the stack's region label, and every tenant's manifest region is the stack's region.",
    check: checkResidency,
};
