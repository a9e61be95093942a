/**
 * POST /webhooks/billing: verify the signature (on the raw bytes, before the
 * body is parsed: an unsigned request learns nothing) and the schema, decide
 * the event on the in-memory index of the manifest (service/commit.ts
 * `accept`: a refusal is answered at once), store it durably and answer 202;
 * the group commit applies, commits and pushes it afterwards.
 * GET /events/:id: where an event stands (queued, applied once pushed, stale
 * or refused). One log line and one metric per delivery.
 */
import type { FastifyPluginCallback, FastifyRequest } from "fastify";
import { checkEventData, isBillingEvent, isKnownEventType } from "../../lib/billingEvent";
import type { EventCommitter } from "../commit";
import { errorReply, HttpError } from "../errors";
import type { Metrics } from "../metrics";
import type { JobQueue } from "../queue";
import { errorBody, eventBody, idParam, signatureHeaders, webhookAccepted, webhookBody, type SchemaTypes } from "../schemas";
import { precheckSignature, SIGNATURE_HEADER, verifySignature } from "../signature";
import type { EventRecord, Store } from "../store";

/** A recorded event's state for the API. */
function stateOf(record: EventRecord): "accepted" | "unchanged" | "stale" | "refused" {
    return record.outcome === "unchanged" || record.outcome === "stale" || record.outcome === "refused" ? record.outcome : "accepted";
}

export interface WebhookRoutesOptions {
    readonly committer: EventCommitter;
    readonly store: Store;
    readonly queue: JobQueue;
    readonly metrics: Metrics;
    /** Active webhook secrets: the current one and, while rotating, the previous one. */
    readonly secrets: readonly string[];
    /** Signature timestamp tolerance in seconds. Default: verifySignature's. */
    readonly toleranceSeconds?: number;
}

export const webhookRoutes: FastifyPluginCallback<WebhookRoutesOptions> = (fastify, opts, done) => {
    const { committer, store, metrics } = opts;
    const app = fastify.withTypeProvider<SchemaTypes>();

    const headerOf = (req: FastifyRequest) => {
        const header = req.headers[SIGNATURE_HEADER];
        return typeof header === "string" ? header : undefined;
    };
    const refusal = (reason: string) => new HttpError(401, "invalid-signature", `signature check failed: ${reason}`);
    const signatureRefused = (req: FastifyRequest, raw: Buffer | string): HttpError | undefined => {
        const sig = verifySignature(headerOf(req), raw, { secrets: opts.secrets, toleranceSeconds: opts.toleranceSeconds });
        return sig.ok ? undefined : refusal(sig.reason);
    };

    // A delivery refused before the handler (signature, body) counts once, of unknown type: its body is not trusted.
    app.addHook("onError", (_req, _reply, err, hookDone) => {
        const { status, kind } = errorReply(err);
        const result = kind === "internal" ? "error" : kind === "unavailable" ? "unavailable" : status === 401 ? "unauthorized" : "invalid";
        if (kind !== "client") metrics.webhooks.inc({ type: "unknown", result });
        hookDone();
    });

    app.post(
        "/webhooks/billing",
        {
            schema: {
                summary: "Receive a billing event",
                security: [{ billingSignature: [] }],
                headers: signatureHeaders,
                body: webhookBody,
                response: {
                    200: webhookAccepted,
                    202: webhookAccepted,
                    400: errorBody,
                    401: errorBody,
                    404: errorBody,
                    409: errorBody,
                    413: errorBody,
                    415: errorBody,
                    422: errorBody,
                    503: errorBody,
                },
            },
            config: { beforeParse: signatureRefused },
            // A missing, malformed or expired signature is refused before the body is read (and the connection closed):
            // an unsigned client holds no buffer. The HMAC itself needs the whole body (beforeParse).
            onRequest: (req, reply, hookDone) => {
                const pre = precheckSignature(headerOf(req), { secrets: opts.secrets, toleranceSeconds: opts.toleranceSeconds });
                if (pre.ok) return hookDone();
                void reply.header("connection", "close");
                hookDone(refusal(pre.reason));
            },
            // A request without a body never reaches the body parser, where the signature is checked.
            preValidation: (req, _reply, hookDone) => hookDone(req.rawBody === undefined ? signatureRefused(req, "") : undefined),
        },
        async (req, reply) => {
            const started = process.hrtime.bigint();
            const body = req.body;
            const tenantId = typeof body.data.tenantId === "string" ? body.data.tenantId : undefined;
            const rlog = req.log.child({ eventId: body.id, eventType: body.type, tenantId });
            const done = (result: string) => {
                metrics.webhooks.inc({ type: isKnownEventType(body.type) ? body.type : "unknown", result });
                metrics.ackSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
            };
            if (!isBillingEvent(body)) {
                rlog.info("unknown event type acknowledged and ignored");
                done("ignored");
                return reply.code(200).send({ eventId: body.id, result: "ignored" });
            }
            // What the JSON Schema cannot state (the date bounds, which move with the day; `created` ahead of our clock): before anything is stored.
            const bad = checkEventData(body);
            if (bad) throw new HttpError(422, "invalid-value", bad.message, bad.field);
            const reused = (receivedAt?: string) => {
                rlog.info("event id reused with another body; nothing applied");
                done("conflict");
                const first = receivedAt ? ` (first received ${receivedAt})` : "";
                return reply.code(409).send({
                    error: "event-id-reused",
                    message: `event id "${body.id}" was already received with another body${first}; an id names one event: send a new event under a new id, and a redelivery byte for byte as the first`,
                    field: "id",
                });
            };
            const outcome = await committer.accept({ id: body.id, event: body });
            switch (outcome.kind) {
                case "duplicate": {
                    const record = outcome.record;
                    rlog.info({ jobId: record?.jobId }, "duplicate delivery; nothing to do");
                    done("duplicate");
                    return reply.code(200).send({
                        eventId: body.id,
                        result: "duplicate",
                        status: record ? stateOf(record) : "queued",
                        tenantId: record?.tenantId ?? body.data.tenantId,
                        jobId: record?.jobId ?? null,
                    });
                }
                case "conflict":
                    return reused(outcome.receivedAt);
                case "stale":
                    rlog.info(
                        { created: outcome.stale.created, lastApplied: outcome.stale.lastApplied },
                        "event older than the tenant's last applied event; acknowledged, not applied",
                    );
                    done("stale");
                    return reply.code(200).send({
                        eventId: body.id,
                        result: "stale",
                        status: "stale",
                        tenantId: outcome.stale.tenantId,
                        jobId: null,
                        message: outcome.stale.message,
                    });
                case "rejected": {
                    const err = outcome.error;
                    rlog.info({ status: err.status, code: err.code }, "event rejected; nothing written");
                    done("rejected");
                    return reply.code(err.status).send({ error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) });
                }
                case "queued": {
                    rlog.info({ manifestChanged: outcome.changed }, "event accepted and stored; applied, committed and pushed next");
                    done("accepted");
                    return reply.code(202).send({
                        eventId: body.id,
                        result: outcome.changed ? "accepted" : "unchanged",
                        status: "queued",
                        tenantId: body.data.tenantId,
                        jobId: null,
                    });
                }
            }
        },
    );

    app.get(
        "/events/:id",
        {
            schema: {
                summary: "A billing event's state: queued, then applied (pushed to git), stale or refused",
                params: idParam,
                security: [{ statusToken: [] }],
                response: { 200: eventBody, 400: errorBody, 401: errorBody, 404: errorBody },
            },
            config: { statusToken: true },
        },
        async (req, reply) => {
            const { id } = req.params;
            const { record, queued } = { record: await store.getEvent(id), queued: await store.queuedEvent(id) };
            if (record) {
                return {
                    eventId: id,
                    state: stateOf(record),
                    type: record.type,
                    tenantId: record.tenantId,
                    jobId: record.jobId,
                    receivedAt: record.receivedAt,
                    error: record.error
                        ? {
                              status: record.error.status,
                              error: record.error.code,
                              message: record.error.message,
                              ...(record.error.field ? { field: record.error.field } : {}),
                          }
                        : null,
                };
            }
            if (queued) return { eventId: id, state: "queued" as const, tenantId: queued.tenantId, jobId: null, receivedAt: queued.receivedAt };
            return reply
                .code(404)
                .send({ error: "event-not-found", message: `no event "${id}" was received (or it was refused at once: refusals are not stored)` });
        },
    );
    done();
};
