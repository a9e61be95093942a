/**
 * Events out: what the platform announces on RabbitMQ when a deployment
 * finishes, in the seed architecture's envelope
 * `{ event, tenant_id: "client-<id>", website_id, timestamp, payload }`.
 * Pure builders plus a small publisher (topic exchange, routing key = event).
 */
import type { Channel, ChannelModel, ConfirmChannel } from "amqplib";
import { isSuspensionEvent, SUSPENSION_EFFECT } from "../lib/billingEvent";
import { eventTenantId, namespaceName } from "../lib/naming";

export const PLATFORM_EVENTS = [
    "tenant.provisioned",
    "tenant.updated",
    "tenant.suspended",
    "tenant.resumed",
    "tenant.offboarding_started",
    "tenant.provisioning_failed",
] as const;
export type PlatformEvent = (typeof PLATFORM_EVENTS)[number];

/** The topic exchange platform events go to; bind a queue with routing key `tenant.#`. */
export const EVENTS_EXCHANGE = "platform.events";

export interface Envelope {
    readonly event: PlatformEvent;
    readonly tenant_id: string;
    readonly website_id: number;
    readonly timestamp: string;
    readonly payload: Record<string, unknown>;
}

/**
 * The platform event a successfully deployed billing event leads to.
 * `status` is the tenant's manifest status once the job ran, `previous` the
 * status the service's last successful job for it deployed (undefined: none
 * known). A suspension event is announced as `tenant.suspended` when it
 * suspended the tenant, the end of one as `tenant.resumed` when it made it
 * active again; otherwise (a payment failed on a cancelled tenant, the
 * monthly payment of an active one...) as `tenant.updated`.
 */
export function successEvent(billingType: string, status?: string | null, previous?: string | null): PlatformEvent {
    switch (billingType) {
        case "subscription.created":
            return "tenant.provisioned";
        case "subscription.cancelled":
            return "tenant.offboarding_started";
        default:
            if (isSuspensionEvent(billingType)) {
                const effect = SUSPENSION_EFFECT[billingType];
                if (effect === "suspend" && status === "suspended" && previous !== "suspended") return "tenant.suspended";
                if (effect === "unsuspend" && status === "active" && previous !== "active") return "tenant.resumed";
            }
            return "tenant.updated";
    }
}

/**
 * The envelope announcing an applied billing event: after its job succeeded
 * (`jobId`), or at once when it needed no deployment (`jobId` null: a
 * suspension event whose status the tenant already has, deployed). `tenant`
 * is the tenant as the manifest has it afterwards, `previous` the status its
 * last successful job deployed before; `credentials` goes with
 * `tenant.provisioned` only (seed onboarding step 8: Secret names, never
 * values).
 */
export function appliedEnvelope(
    ev: { readonly id: string; readonly type: string; readonly tenantId: string; readonly websiteId: number; readonly region: string },
    tenant: { readonly tier?: string | null; readonly status?: string | null } | undefined,
    previous: string | null | undefined,
    jobId: string | null,
    now = new Date(),
    credentials: () => unknown = () => null,
): Envelope {
    const event = successEvent(ev.type, tenant?.status, previous);
    return envelope(
        event,
        { id: ev.tenantId, websiteId: ev.websiteId, region: ev.region },
        {
            job_id: jobId,
            billing_event_id: ev.id,
            billing_event: ev.type,
            tier: tenant?.tier,
            status: tenant?.status,
            ...(event === "tenant.provisioned" ? { credentials: credentials() ?? null } : {}),
        },
        now,
    );
}

export function envelope(
    event: PlatformEvent,
    tenant: { id: string; websiteId: number; region: string },
    payload: Record<string, unknown>,
    now = new Date(),
): Envelope {
    return {
        event,
        tenant_id: eventTenantId(tenant.id),
        website_id: tenant.websiteId,
        // The seed's format: seconds precision, UTC, "Z".
        timestamp: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
        payload: { namespace: namespaceName(tenant.id), region: tenant.region, ...payload },
    };
}

export interface Publisher {
    publish(routingKey: string, body: string): Promise<void>;
    close(): Promise<void>;
}

export class AmqpPublisher implements Publisher {
    private channel?: ConfirmChannel;
    private connection?: ChannelModel;

    constructor(private readonly url: string) {}

    private async open(): Promise<ConfirmChannel> {
        if (this.channel) return this.channel;
        const amqp = await import("amqplib");
        this.connection = await amqp.connect(this.url);
        this.connection.on("error", () => undefined);
        this.connection.on("close", () => {
            this.channel = undefined;
            this.connection = undefined;
        });
        const ch = await this.connection.createConfirmChannel();
        await (ch as Channel).assertExchange(EVENTS_EXCHANGE, "topic", { durable: true });
        this.channel = ch;
        return ch;
    }

    async publish(routingKey: string, body: string): Promise<void> {
        const ch = await this.open();
        ch.publish(EVENTS_EXCHANGE, routingKey, Buffer.from(body), { persistent: true, contentType: "application/json", type: routingKey });
        await ch.waitForConfirms();
    }

    async close(): Promise<void> {
        const conn = this.connection;
        this.channel = undefined;
        this.connection = undefined;
        await conn?.close().catch(() => undefined);
    }
}
