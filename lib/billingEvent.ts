/**
 * The billing events the platform applies to tenants.yaml, defined once:
 * their TypeScript types, the webhook's request validation and its OpenAPI
 * document (service/schemas.ts) all derive from the zod schemas below, and
 * the fields of a tenant come from the manifest's own tenant schema.
 *
 * The schemas check shapes. Everything the manifest validator knows (unique
 * domains, derived name lengths, calendar dates) is checked on the edited
 * manifest by lib/manifest.ts, the code the CLI runs. Pure: no I/O.
 */
import { z } from "zod";
import { dateBoundsAllowed, dateOutOfBounds, fieldHelp, isCalendarDate, tenantSchema } from "./manifest";
import { NAME_LIMITS } from "./naming";

const tenant = tenantSchema.shape;

/** The event field that carries a manifest field (the tenant's `id` is `tenantId` in every event). */
export function eventField(manifestField: string): string {
    return manifestField === "id" ? "tenantId" : manifestField;
}

// At most a label's length: a coarse bound, the validator checks the derived names against their limits.
const tenantId = tenant.id.max(NAME_LIMITS.labelValue).describe("The tenant's id (slug); derived names use client-<id>.");
const customDomains = tenant.customDomains.unwrap().max(50).meta({ uniqueItems: true });

/**
 * A date of an event, bounded like the manifest's dates (lib/manifest.ts
 * dateBounds: from 2000-01-01 to a year after today). The upper bound moves
 * with the day, so the refinement (run by checkEventData) states it; the
 * JSON Schema the webhook publishes and validates first carries the static
 * part, a year of this century.
 */
function boundedDate(field: string, fix: string) {
    return tenant.createdDate
        .refine((v) => !isCalendarDate(v) || dateOutOfBounds(v) === undefined, {
            error: (issue) => `data.${field}: ${dateOutOfBounds(String(issue.input))}. Allowed: ${dateBoundsAllowed()}. Fix: ${fix}`,
        })
        .meta({ pattern: "^20\\d{2}-\\d{2}-\\d{2}$" });
}

/**
 * A new subscription: the fields of the tenant's entry the billing provider
 * knows (the platform sets the others: status, cancellation, placement).
 */
export const createdData = z.strictObject({
    tenantId,
    ...tenantSchema.pick({
        websiteId: true,
        name: true,
        domain: true,
        customDomains: true,
        tier: true,
        region: true,
        billingId: true,
        costCenter: true,
        department: true,
        createdDate: true,
    }).shape,
    customDomains: customDomains.optional(),
    createdDate: boundedDate("createdDate", "send the day the subscription started, or leave createdDate out (today)")
        .optional()
        .describe("YYYY-MM-DD, from 2000-01-01 to a year after today; default: the day the event is applied (UTC)."),
});

/**
 * The fields of a tenant a `subscription.updated` may change: its plan, its
 * domains, its display name and the billing facts its labels carry. The
 * others never change through billing: the id and websiteId name the tenant,
 * the region is where its data lives, the dates and status follow the
 * lifecycle events.
 */
export const UPDATABLE_FIELDS = ["name", "domain", "customDomains", "tier", "billingId", "costCenter", "department"] as const;

/** A change of plan, domains, display name or billing facts: the tenant and at least one of UPDATABLE_FIELDS. */
export const updatedData = z
    .strictObject({
        tenantId,
        name: tenant.name.optional(),
        domain: tenant.domain.optional(),
        customDomains: customDomains.optional(),
        tier: tenant.tier.optional(),
        billingId: tenant.billingId.optional(),
        costCenter: tenant.costCenter.optional(),
        department: tenant.department.optional(),
    })
    .refine((d) => Object.values(d).filter((v) => v !== undefined).length > 1, {
        error: () => `data: nothing to change. Allowed: tenantId and at least one of ${UPDATABLE_FIELDS.join(", ")}. Fix: send the fields that changed`,
        path: [],
    })
    .meta({ minProperties: 2 });

export const cancelledData = z.strictObject({
    tenantId,
    cancelledAt: boundedDate("cancelledAt", "send the day the subscription was cancelled, or leave cancelledAt out (today)")
        .optional()
        .describe("YYYY-MM-DD, from 2000-01-01 to a year after today; default: the day the event is applied (UTC)."),
});

export const reactivatedData = z.strictObject({ tenantId });

/** A lifecycle event that names only its tenant: a suspension (payment failed, paused) or its end (payment succeeded, resumed). */
export const tenantOnlyData = z.strictObject({ tenantId });

/** The data schema of each event type the platform applies. */
export const EVENT_DATA = {
    "subscription.created": createdData,
    "subscription.updated": updatedData,
    "subscription.cancelled": cancelledData,
    "subscription.reactivated": reactivatedData,
    "subscription.paused": tenantOnlyData,
    "subscription.resumed": tenantOnlyData,
    "invoice.payment_failed": tenantOnlyData,
    "invoice.payment_succeeded": tenantOnlyData,
} as const satisfies Record<string, z.ZodType>;

export type EventType = keyof typeof EVENT_DATA;
export const EVENT_TYPES = Object.freeze(Object.keys(EVENT_DATA).filter(isKnownEventType));

export function isKnownEventType(type: string): type is EventType {
    return Object.hasOwn(EVENT_DATA, type);
}

export type CreatedData = z.input<typeof createdData>;
export type UpdatedData = z.input<typeof updatedData>;
export type CancelledData = z.input<typeof cancelledData>;
export type ReactivatedData = z.input<typeof reactivatedData>;

/**
 * What each event does to the tenant's `status`: `suspend` (payment failed,
 * subscription paused: the tenant is no longer served, its data and backups
 * stay), `unsuspend` (payment succeeded, subscription resumed: a suspended
 * tenant is served again). A cancellation outranks both: a cancelled tenant
 * stays cancelled, and only `subscription.reactivated` brings it back.
 */
export const SUSPENSION_EFFECT = {
    "subscription.paused": "suspend",
    "invoice.payment_failed": "suspend",
    "subscription.resumed": "unsuspend",
    "invoice.payment_succeeded": "unsuspend",
} as const satisfies Partial<Record<keyof typeof EVENT_DATA, "suspend" | "unsuspend">>;

export type SuspensionEventType = keyof typeof SUSPENSION_EFFECT;

export function isSuspensionEvent(type: string): type is SuspensionEventType {
    return Object.hasOwn(SUSPENSION_EFFECT, type);
}

/** A billing event the platform applies: its type and the data that type's schema accepts. */
export type BillingEvent = { [T in EventType]: { readonly type: T; readonly data: z.input<(typeof EVENT_DATA)[T]> } }[EventType];

/** How far ahead of the service's clock an event's `created` may be (clock skew), in seconds. */
export const CREATED_AHEAD_SECONDS = 3600;

/**
 * What the JSON Schema of the webhook cannot say about a known event (the
 * date bounds, which move with the day; a calendar date; a name blank once
 * trimmed; a `created` in the future, which would make every later event of
 * the tenant look older): the first problem as `{ field, message }`, or
 * undefined when the event is fine. Run on a body the JSON Schema accepted;
 * the service answers 422 invalid-value.
 */
export function checkEventData(
    event: { readonly type: EventType; readonly data: unknown; readonly created?: number },
    now = Math.floor(Date.now() / 1000),
): { field: string; message: string } | undefined {
    if (event.created !== undefined && event.created > now + CREATED_AHEAD_SECONDS) {
        return {
            field: "created",
            message: `created: ${event.created} is more than an hour after the service's clock (${now}). Allowed: unix seconds, at most an hour ahead. Fix: send the time the provider created the event`,
        };
    }
    const parsed = EVENT_DATA[event.type].safeParse(event.data);
    if (parsed.success) return undefined;
    const issue = parsed.error.issues[0];
    const path = issue.path.map(String);
    const field = ["data", ...path].join(".");
    if (issue.code === "custom" && issue.message.startsWith(`${field}: `)) return { field, message: issue.message };
    const help = fieldHelp(path[0] === "tenantId" ? "id" : (path[0] ?? ""));
    return { field, message: `${field}: invalid value. Allowed: ${help.allowed}. Fix: ${help.fix}` };
}

/**
 * The envelope of every delivery. Other event types than the ones above are
 * acknowledged and ignored, so their data is only required to be an object.
 */
export const webhookEnvelope = z.object({
    id: z
        .string()
        .min(1)
        .max(255)
        .regex(/^[A-Za-z0-9_.:-]+$/)
        .describe("The provider's event id; deliveries with the same id are applied once."),
    type: z
        .string()
        .min(1)
        .max(100)
        .describe(`One of ${EVENT_TYPES.join(", ")}; other types are acknowledged and ignored.`),
    created: z.int().min(0).optional().describe("Unix seconds when the provider created the event."),
    data: z.record(z.string(), z.unknown()),
});

export type WebhookDelivery = z.input<typeof webhookEnvelope>;

/**
 * Whether a delivery is a billing event, its data typed by its type's
 * schema. Sound for a delivery the webhook's body schema accepted: that
 * schema checks `data` against EVENT_DATA[type] for every known type.
 */
export function isBillingEvent(delivery: WebhookDelivery): delivery is WebhookDelivery & BillingEvent {
    return isKnownEventType(delivery.type);
}
