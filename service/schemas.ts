/**
 * The webhook API's JSON schemas: the request bodies Fastify validates and
 * the OpenAPI document publishes, and the response shapes. Pure data.
 *
 * The shapes are checked here; everything the manifest validator knows
 * (unique domains, name limits, dates) is checked on the edited manifest by
 * lib/manifest.ts, the same code the CLI runs.
 */
import { STATUSES } from "../lib/manifest";
import { TENANT_ID_PATTERN } from "../lib/naming";
import { REGIONS } from "../lib/regions";
import { TIERS } from "../lib/tiers";

export const EVENT_TYPES = ["subscription.created", "subscription.updated", "subscription.cancelled", "subscription.reactivated"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export function isKnownEventType(type: string): type is EventType {
    return (EVENT_TYPES as readonly string[]).includes(type);
}

const tenantId = { type: "string", pattern: TENANT_ID_PATTERN.source, minLength: 1, maxLength: 63, description: "The tenant's id (slug); derived names use client-<id>." } as const;
const dnsName = { type: "string", minLength: 4, maxLength: 253, pattern: "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", description: "A lowercase host name." } as const;
const labelValue = { type: "string", minLength: 1, maxLength: 63, pattern: "^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$" } as const;
const date = { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}$", description: "YYYY-MM-DD" } as const;
const customDomains = { type: "array", items: dnsName, maxItems: 50, uniqueItems: true } as const;

export const createdData = {
    type: "object",
    additionalProperties: false,
    required: ["tenantId", "websiteId", "name", "domain", "tier", "region", "billingId", "costCenter", "department"],
    properties: {
        tenantId,
        websiteId: { type: "integer", minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
        name: { type: "string", minLength: 1, maxLength: 200 },
        domain: dnsName,
        customDomains,
        tier: { type: "string", enum: [...TIERS] },
        region: { type: "string", enum: [...REGIONS] },
        billingId: labelValue,
        costCenter: labelValue,
        department: labelValue,
        createdDate: { ...date, description: "YYYY-MM-DD; default: the event's day (UTC)." },
    },
} as const;

export const updatedData = {
    type: "object",
    additionalProperties: false,
    required: ["tenantId"],
    minProperties: 2,
    properties: { tenantId, tier: { type: "string", enum: [...TIERS] }, customDomains },
} as const;

export const cancelledData = {
    type: "object",
    additionalProperties: false,
    required: ["tenantId"],
    properties: { tenantId, cancelledAt: { ...date, description: "YYYY-MM-DD; default: the day the event is applied (UTC)." } },
} as const;

export const reactivatedData = {
    type: "object",
    additionalProperties: false,
    required: ["tenantId"],
    properties: { tenantId },
} as const;

const DATA_SCHEMAS: Record<EventType, object> = {
    "subscription.created": createdData,
    "subscription.updated": updatedData,
    "subscription.cancelled": cancelledData,
    "subscription.reactivated": reactivatedData,
};

/**
 * The body of POST /webhooks/billing. The envelope is checked for every
 * type; `data` is checked by the schema of its type (unknown types are
 * acknowledged and ignored, so their data is only required to be an object).
 */
export const webhookBody = {
    type: "object",
    required: ["id", "type", "data"],
    properties: {
        id: { type: "string", minLength: 1, maxLength: 255, pattern: "^[A-Za-z0-9_.:-]+$", description: "The provider's event id; deliveries with the same id are applied once." },
        type: { type: "string", minLength: 1, maxLength: 100, description: `One of ${EVENT_TYPES.join(", ")}; other types are acknowledged and ignored.` },
        created: { type: "integer", minimum: 0, description: "Unix seconds when the provider created the event." },
        data: { type: "object" },
    },
    allOf: EVENT_TYPES.map((type) => ({
        if: { properties: { type: { const: type } }, required: ["type"] },
        then: { properties: { data: DATA_SCHEMAS[type] } },
    })),
    // Published in the OpenAPI document: a new tenant's lifecycle (the API fuzzer starts from them too).
    examples: [
        {
            id: "evt_example_created",
            type: "subscription.created",
            created: 1737000000,
            data: {
                tenantId: "exshop",
                websiteId: 990001,
                name: "Example Shop",
                domain: "client-exshop.collectverything.com",
                customDomains: ["shop.exshop.com"],
                tier: "premium",
                region: "eu-west",
                billingId: "sub_example1",
                costCenter: "CC-EX-001",
                department: "retail",
            },
        },
        { id: "evt_example_upgraded", type: "subscription.updated", created: 1737000100, data: { tenantId: "exshop", tier: "business" } },
        { id: "evt_example_cancelled", type: "subscription.cancelled", created: 1737000200, data: { tenantId: "exshop" } },
        { id: "evt_example_reactivated", type: "subscription.reactivated", created: 1737000300, data: { tenantId: "exshop" } },
    ],
} as const;

export const errorBody = {
    type: "object",
    required: ["error", "message"],
    properties: {
        error: { type: "string", description: "A stable machine-readable code." },
        message: { type: "string" },
        field: { type: "string", description: "The offending field, as a JSON path (e.g. data.tier)." },
    },
} as const;

export const TENANT_STATES = ["pending", "provisioning", "active", "suspended", "offboarding", "failed"] as const;
export type TenantState = (typeof TENANT_STATES)[number];
export const JOB_STATES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobState = (typeof JOB_STATES)[number];

export const webhookAccepted = {
    type: "object",
    required: ["eventId", "result"],
    properties: {
        eventId: { type: "string" },
        result: { type: "string", enum: ["accepted", "duplicate", "ignored", "unchanged"] },
        tenantId: { type: "string" },
        jobId: { type: ["string", "null"] },
    },
} as const;

export const jobBody = {
    type: "object",
    required: ["id", "region", "stack", "state", "tenants", "events", "attempts", "createdAt"],
    properties: {
        id: { type: "string" },
        region: { type: "string" },
        stack: { type: "string" },
        state: { type: "string", enum: [...JOB_STATES] },
        tenants: { type: "array", items: { type: "string" } },
        events: { type: "array", items: { type: "string" } },
        attempts: { type: "integer" },
        targeted: { type: "boolean" },
        createdAt: { type: "string" },
        startedAt: { type: ["string", "null"] },
        finishedAt: { type: ["string", "null"] },
        error: { type: ["string", "null"] },
        logTail: { type: "array", items: { type: "string" } },
    },
} as const;

export const tenantBody = {
    type: "object",
    required: ["id", "state"],
    properties: {
        id: { type: "string" },
        region: { type: ["string", "null"] },
        state: { type: "string", enum: [...TENANT_STATES] },
        manifestStatus: { type: ["string", "null"], enum: [...STATUSES, null] },
        tier: { type: ["string", "null"] },
        updatedAt: { type: ["string", "null"] },
        lastJob: { anyOf: [jobBody, { type: "null" }] },
    },
} as const;

export const idParam = {
    type: "object",
    required: ["id"],
    properties: { id: { type: "string", minLength: 1, maxLength: 255 } },
} as const;
