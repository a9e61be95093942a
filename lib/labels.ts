/**
 * Labels and annotations stamped on tenant resources. Pure.
 */
import { deletionDate, type TenantSpec } from "./manifest";
import { tenantSlug } from "./naming";
import type { Region } from "./regions";

export const LABEL_PREFIX = "collectverything.com";
export const REGION_LABEL = `${LABEL_PREFIX}/region`;
export const LIFECYCLE_LABEL = `${LABEL_PREFIX}/lifecycle`;
export const DELETION_DATE_LABEL = `${LABEL_PREFIX}/deletion-date`;
/** Annotation of the final-backup Job: the cancellation (cancelledAt) it was taken for; purge accepts no other. */
export const CANCELLED_AT_ANNOTATION = `${LABEL_PREFIX}/cancelled-at`;
export const TENANT_LABEL = "tenant";

export const POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
} as const;

export interface LabelContext {
    readonly environment: string;
    readonly region: Region;
}

/**
 * Labels for every object of a tenant: who it belongs to, what it costs,
 * where it lives. Only stable facts: a tier or status change must not touch
 * every object of the tenant.
 */
export function tenantLabels(t: TenantSpec, ctx: LabelContext): Record<string, string> {
    return {
        [TENANT_LABEL]: tenantSlug(t.id),
        environment: ctx.environment,
        "managed-by": "pulumi",
        "app.kubernetes.io/managed-by": "pulumi",
        "cost-center": t.costCenter,
        "billing-id": t.billingId,
        department: t.department,
        [REGION_LABEL]: ctx.region,
    };
}

/** Labels of the pods the platform runs for a tenant: the seed's Prometheus relabelling reads `tenant` and `tier`. */
export function podLabels(t: TenantSpec, ctx: LabelContext): Record<string, string> {
    return { ...tenantLabels(t, ctx), tier: t.tier };
}

/**
 * Namespace labels: the tenant labels plus tier and lifecycle, Pod Security
 * `restricted`, and the deletion date once cancelled.
 */
export function namespaceLabels(t: TenantSpec, ctx: LabelContext): Record<string, string> {
    const labels: Record<string, string> = { ...tenantLabels(t, ctx), tier: t.tier, [LIFECYCLE_LABEL]: t.status, ...POD_SECURITY_LABELS };
    if (t.status === "cancelled" && t.cancelledAt !== undefined) {
        labels[DELETION_DATE_LABEL] = deletionDate(t.cancelledAt);
    }
    return labels;
}

/** Namespace annotations from the seed (domain, tier, dates, billing). */
export function namespaceAnnotations(t: TenantSpec): Record<string, string> {
    const annotations: Record<string, string> = {
        domain: t.domain,
        "custom-domains": t.customDomains.join(","),
        "subscription-tier": t.tier,
        "created-date": t.createdDate,
        "billing-id": t.billingId,
        "website-id": String(t.websiteId),
        "display-name": t.name,
    };
    if (t.cancelledAt !== undefined) {
        annotations["cancelled-at"] = t.cancelledAt;
        annotations["deletion-date"] = deletionDate(t.cancelledAt);
    }
    return annotations;
}
