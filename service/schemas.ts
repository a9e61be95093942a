/**
 * The webhook API's schemas: what Fastify validates and serializes, what the
 * OpenAPI document publishes, and the TypeScript types of the requests and
 * responses, all from one zod definition each (the event bodies from
 * lib/billingEvent.ts, the tenant fields from lib/manifest.ts).
 *
 * `jsonSchema` turns a zod schema into the JSON Schema Fastify's validator
 * compiles, typed with the values it accepts (like a TypeBox schema), and
 * `SchemaTypes` is the type provider that reads that type back: a route's
 * `req.body`, `req.params` and replies are typed by the schemas it declares.
 */
import type { FastifyTypeProvider } from "fastify";
import { z } from "zod";
import { EVENT_DATA, EVENT_TYPES, webhookEnvelope, type BillingEvent, type WebhookDelivery } from "../lib/billingEvent";
import { credentialLocationsSchema } from "../lib/credentials";
import { tenantSchema } from "../lib/manifest";

declare const VALUE: unique symbol;

/** A JSON Schema that carries the type of the values it accepts. */
export type Typed<T> = object & { readonly [VALUE]?: T };

/** The type provider of the service's routes: a schema made by `jsonSchema` types what it validates. */
export interface SchemaTypes extends FastifyTypeProvider {
    readonly validator: this["schema"] extends Typed<infer T> ? T : unknown;
    readonly serializer: this["schema"] extends Typed<infer T> ? T : unknown;
}

/** The JSON Schema (draft 7, Fastify's validator) of a zod schema's input. */
export function jsonSchema<S extends z.ZodType>(schema: S): Typed<z.input<S>> {
    const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { target: "draft-7", io: "input" });
    return json;
}

// Published in the OpenAPI document: a new tenant's lifecycle (the API fuzzer starts from them too).
const EXAMPLES: readonly (WebhookDelivery & BillingEvent)[] = [
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
    {
        id: "evt_example_rebilled",
        type: "subscription.updated",
        created: 1737000110,
        data: { tenantId: "exshop", domain: "shop.exshop.eu", customDomains: [], billingId: "sub_example2", costCenter: "CC-EX-002", department: "outlet" },
    },
    { id: "evt_example_payment_failed", type: "invoice.payment_failed", created: 1737000120, data: { tenantId: "exshop" } },
    { id: "evt_example_payment_succeeded", type: "invoice.payment_succeeded", created: 1737000130, data: { tenantId: "exshop" } },
    { id: "evt_example_paused", type: "subscription.paused", created: 1737000140, data: { tenantId: "exshop" } },
    { id: "evt_example_resumed", type: "subscription.resumed", created: 1737000150, data: { tenantId: "exshop" } },
    { id: "evt_example_cancelled", type: "subscription.cancelled", created: 1737000200, data: { tenantId: "exshop" } },
    { id: "evt_example_reactivated", type: "subscription.reactivated", created: 1737000300, data: { tenantId: "exshop" } },
];

/**
 * The body of POST /webhooks/billing: the envelope, and `data` checked by
 * the schema of its type (an if/then per known type: the validator reports
 * the offending field of that schema, not the failures of every alternative).
 */
export const webhookBody: Typed<WebhookDelivery> = jsonSchema(
    webhookEnvelope.meta({
        allOf: EVENT_TYPES.map((type) => ({
            if: { properties: { type: { const: type } }, required: ["type"] },
            then: { properties: { data: jsonSchema(EVENT_DATA[type]) } },
        })),
        examples: EXAMPLES,
    }),
);

export const signatureHeaders = jsonSchema(z.object({ "billing-signature": z.string().optional() }));

const errorShape = z.object({
    error: z.string().describe("A stable machine-readable code."),
    message: z.string(),
    field: z.string().optional().describe("The offending field, as a JSON path (e.g. data.tier)."),
});
export type ErrorBody = z.input<typeof errorShape>;
export const errorBody = jsonSchema(errorShape);

export const EVENT_STATES = ["queued", "accepted", "unchanged", "stale", "refused"] as const;

export const webhookAccepted = jsonSchema(
    z.object({
        eventId: z.string(),
        result: z
            .enum(["accepted", "duplicate", "ignored", "unchanged", "stale"])
            .describe(
                "accepted / unchanged (202): checked against the manifest and stored durably; applied, committed and pushed to git afterwards (status queued; follow GET /events/:id). " +
                    "stale: the event is older (`created`) than the last event applied to its tenant; acknowledged, not applied.",
            ),
        status: z
            .enum(EVENT_STATES)
            .optional()
            .describe("Where the event stands: queued (stored, not pushed yet), or its outcome once pushed (see GET /events/:id)."),
        tenantId: z.string().optional(),
        jobId: z.string().nullable().optional().describe("The deployment job; null while the event is queued."),
        message: z.string().optional().describe("Why a stale event was not applied."),
    }),
);

export const eventBody = jsonSchema(
    z.object({
        eventId: z.string(),
        state: z
            .enum(EVENT_STATES)
            .describe(
                "queued: stored, not applied yet; accepted / unchanged: applied, committed and pushed (its deployment: jobId); stale: acknowledged, not applied; " +
                    "refused: the manifest at the git tip refused it (error; a tenant.provisioning_failed event was published).",
            ),
        type: z.string().optional(),
        tenantId: z.string(),
        jobId: z.string().nullable(),
        receivedAt: z.string().nullable().optional(),
        error: errorShape.extend({ status: z.int() }).nullable().optional(),
    }),
);

export const TENANT_STATES = ["pending", "provisioning", "active", "suspended", "offboarding", "failed"] as const;
export type TenantState = (typeof TENANT_STATES)[number];
export const JOB_STATES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobState = (typeof JOB_STATES)[number];

const jobShape = z.object({
    id: z.string(),
    region: z.string(),
    stack: z.string(),
    state: z.enum(JOB_STATES),
    tenants: z.array(z.string()),
    events: z.array(z.string()),
    attempts: z.int(),
    targeted: z.boolean().optional(),
    createdAt: z.string(),
    startedAt: z.string().nullable().optional(),
    finishedAt: z.string().nullable().optional(),
    error: z.string().nullable().optional(),
    logTail: z.array(z.string()).optional(),
});
export type JobView = z.input<typeof jobShape>;
export const jobBody = jsonSchema(jobShape);

// The manifest's fields as the manifest defines them; null for a tenant the manifest no longer holds.
const tenant = tenantSchema.shape;
export const tenantBody = jsonSchema(
    z.object({
        id: z.string(),
        region: tenant.region.nullable().optional(),
        state: z.enum(TENANT_STATES),
        manifestStatus: tenant.status.nullable().optional(),
        tier: tenant.tier.nullable().optional(),
        updatedAt: z.string().nullable().optional(),
        lastJob: jobShape.nullable().optional(),
        credentials: credentialLocationsSchema
            .nullable()
            .optional()
            .describe(
                "Where the client's access credentials are (seed onboarding step 8): the Secrets in its namespace and, with the aws-secrets-manager backend, the AWS secrets. Names and ARNs only, never a value. null before its first successful deployment.",
            ),
    }),
);

export const idParam = jsonSchema(z.object({ id: z.string().min(1).max(255) }));

export const healthBody = jsonSchema(
    z.object({
        status: z.enum(["ok", "degraded"]).describe("ok only when every readiness check passes (GET /readyz)."),
        ready: z.boolean(),
        queue: z.enum(["in-process", "rabbitmq"]),
        running: z.int(),
    }),
);

/** The Prometheus text exposition format (text/plain). */
export const metricsBody = jsonSchema(z.string().describe("Prometheus text format"));

const readyCheck = z.object({ ok: z.boolean(), detail: z.string() });
export type ReadyCheck = z.input<typeof readyCheck>;

export const readyBody = jsonSchema(
    z.object({
        status: z.enum(["ready", "not-ready"]),
        checks: z.object({ manifest: readyCheck, store: readyCheck, broker: readyCheck, git: readyCheck }),
    }),
);
