/**
 * The billing-webhook service: a Fastify app that verifies and applies
 * billing events to tenants.yaml, queues one deployment per region stack and
 * reports status. `createService` wires the parts; `./tenantctl serve` calls it.
 */
import swagger from "@fastify/swagger";
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type RawServerDefault } from "fastify";
import type { IncomingMessage, ServerResponse } from "node:http";
import * as path from "node:path";
import pino, { type Logger } from "pino";
import { formatIssues, validateManifest } from "../lib/manifest";
import { EventCommitter } from "./commit";
import type { Deployer } from "../core/deployer";
import { AmqpPublisher, NullPublisher, type Publisher } from "./events";
import type { BillingEvent } from "../lib/manifestEdit";
import { ManifestFile } from "../core/manifestFile";
import { Metrics } from "./metrics";
import { BrokerQueue, InProcessQueue, type JobQueue } from "./queue";
import { JobRunner, settledState, type RunnerOptions } from "./runner";
import { errorBody, idParam, isKnownEventType, jobBody, tenantBody, webhookAccepted, webhookBody } from "./schemas";
import { SIGNATURE_HEADER, verifySignature } from "./signature";
import { Store, type JobRecord } from "./store";

export interface ServiceOptions {
    /** The tenants manifest the service edits (the single source of truth). */
    readonly manifestPath: string;
    /** SQLite file of the idempotency store, or ":memory:". */
    readonly storePath: string;
    readonly deployer: Deployer;
    /** Active webhook secrets: the current one and, while rotating, the previous one. */
    readonly secrets: readonly string[];
    /** Region to stack overrides, e.g. { "eu-west": "local" }. Default: the stack is named after the region. */
    readonly stacks?: Readonly<Record<string, string>>;
    /** RabbitMQ URL for the job queues; unset: the in-process queue. */
    readonly brokerUrl?: string;
    /** RabbitMQ URL for the platform events; default: brokerUrl. Unset: events stay in the outbox table. */
    readonly eventsUrl?: string;
    readonly runner?: RunnerOptions;
    /** Signature timestamp tolerance in seconds. Default 300. */
    readonly toleranceSeconds?: number;
    readonly logger?: Logger;
    /** Interval of the outbox flush in ms. Default 5000. */
    readonly outboxIntervalMs?: number;
}

export interface Service {
    readonly app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;
    readonly store: Store;
    readonly queue: JobQueue;
    readonly metrics: Metrics;
    readonly runner: JobRunner;
    readonly manifest: ManifestFile;
    /** Publishes what the outbox holds; resolves when done. */
    flushOutbox(): Promise<void>;
    close(): Promise<void>;
}

class HttpError extends Error {
    constructor(
        readonly statusCode: number,
        readonly code: string,
        message: string,
        readonly field?: string,
    ) {
        super(message);
    }
}

declare module "fastify" {
    interface FastifyRequest {
        rawBody?: Buffer;
        signatureChecked?: boolean;
    }
}

/** "/data/tier" or a missing property, as "data.tier". */
function fieldOf(err: FastifyError): string | undefined {
    const v = err.validation?.[0];
    if (!v) return undefined;
    const base = v.instancePath.replace(/^\//, "").replace(/\//g, ".");
    const missing = (v.params as { missingProperty?: string; additionalProperty?: string }).missingProperty ?? (v.params as { additionalProperty?: string }).additionalProperty;
    const parts = [base, missing].filter((p): p is string => p !== undefined && p !== "");
    return parts.length > 0 ? parts.join(".") : "body";
}

function validationMessage(err: FastifyError, field: string | undefined): string {
    const v = err.validation?.[0];
    if (!v) return err.message;
    const params = v.params as { additionalProperty?: string; allowedValues?: unknown[] };
    if (params.additionalProperty) return `${field}: unknown field; remove it`;
    if (params.allowedValues) return `${field}: must be one of ${params.allowedValues.join(", ")}`;
    return `${field ?? "body"}: ${v.message ?? "is invalid"}`;
}

/** The methods of each published path: any other method gets 405 with these in `Allow`. */
const PATH_METHODS: readonly (readonly [RegExp, string])[] = [
    [/^\/webhooks\/billing\/?$/, "POST"],
    [/^\/(?:tenants|jobs)\/[^/]+\/?$/, "GET, HEAD"],
    [/^\/(?:healthz|metrics|openapi\.json)\/?$/, "GET, HEAD"],
];

function allowedMethods(url: string): string | undefined {
    const p = url.split("?")[0];
    return PATH_METHODS.find(([re]) => re.test(p))?.[1];
}

export async function createService(opts: ServiceOptions): Promise<Service> {
    const log = opts.logger ?? pino({ level: "info" });
    const manifestPath = path.resolve(opts.manifestPath);
    const manifest = new ManifestFile(manifestPath);
    const initial = validateManifest(manifest.read(), path.basename(manifestPath));
    if (!initial.ok) throw new Error(`the manifest the service would edit is invalid; fix it first.\n${formatIssues(initial.issues)}`);

    const store = new Store(opts.storePath);
    const metrics = new Metrics();
    const stackOf = (region: string) => opts.stacks?.[region] ?? region;
    const publisher: Publisher = (opts.eventsUrl ?? opts.brokerUrl) ? new AmqpPublisher((opts.eventsUrl ?? opts.brokerUrl)!) : new NullPublisher();

    let flushing: Promise<void> | undefined;
    const flushOutbox = (): Promise<void> => {
        if (publisher instanceof NullPublisher) return Promise.resolve();
        flushing ??= (async () => {
            // Yield first: `flushing` must be assigned before the finally below clears it.
            await Promise.resolve();
            try {
                for (const o of store.unpublished()) {
                    await publisher.publish(o.routingKey, o.body);
                    store.markPublished(o.seq);
                    metrics.eventsPublished.inc({ event: o.routingKey });
                }
            } catch (err) {
                log.warn({ err: String(err) }, "publishing platform events failed; they stay in the outbox and are retried");
            } finally {
                flushing = undefined;
            }
        })();
        return flushing;
    };

    const committer = new EventCommitter(manifest, store, {
        file: path.basename(manifestPath),
        stackOf,
        onBatch: ({ size, validations }) => {
            metrics.commitBatch.observe(size);
            metrics.validations.inc(validations);
        },
    });

    const runner = new JobRunner(store, opts.deployer, metrics, log, opts.runner, () => void flushOutbox());
    const stacks = [...new Set(["eu-west", "us-east", "apac"].map(stackOf))];
    const queue: JobQueue = opts.brokerUrl ? new BrokerQueue(opts.brokerUrl, stacks, store, runner, log) : new InProcessQueue(store, runner, log);

    const app = Fastify({
        loggerInstance: log,
        // The webhook handler logs one line per delivery itself, with the event and tenant ids.
        logController: new LogController({ disableRequestLogging: true }),
        bodyLimit: 256 * 1024,
        // Longer than any id the schemas allow, even percent-encoded: a too-long id gets the schema's 400, not a 414.
        routerOptions: { maxParamLength: 4096 },
        ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
    });

    // Keep the raw bytes (the signature covers them) and check the signature
    // before the body is even parsed: an unsigned request learns nothing.
    app.addContentTypeParser("application/json", { parseAs: "buffer" }, (req: FastifyRequest, body: Buffer, done) => {
        req.rawBody = body;
        if (req.routeOptions.url === "/webhooks/billing") {
            const sig = verifySignature(req.headers[SIGNATURE_HEADER] as string | undefined, body, { secrets: opts.secrets, toleranceSeconds: opts.toleranceSeconds });
            if (!sig.ok) return done(new HttpError(401, "invalid-signature", `signature check failed: ${sig.reason}`), undefined);
            req.signatureChecked = true;
        }
        if (body.length === 0) return done(new HttpError(400, "invalid-body", "body: the request body is empty; send a JSON object", "body"), undefined);
        try {
            done(null, JSON.parse(body.toString("utf8")));
        } catch {
            done(new HttpError(400, "invalid-body", "body: not valid JSON", "body"), undefined);
        }
    });

    const methodNotAllowed = (req: FastifyRequest, reply: FastifyReply, allow: string) =>
        reply.code(405).header("allow", allow).send({ error: "method-not-allowed", message: `${req.method} is not allowed here; use ${allow}` });

    app.setNotFoundHandler((req, reply) => {
        const allow = allowedMethods(req.url);
        if (allow) return methodNotAllowed(req, reply, allow);
        return reply.code(404).send({ error: "not-found", message: `no route ${req.method} ${req.url.split("?")[0]}` });
    });

    app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
        const isWebhook = req.routeOptions.url === "/webhooks/billing";
        // A method no route has (e.g. QUERY without a body) fails before the not-found handler runs.
        const allow = req.routeOptions.url === undefined ? allowedMethods(req.url) : undefined;
        if (allow) return methodNotAllowed(req, reply, allow);
        if ("validation" in err && err.validation) {
            const field = fieldOf(err);
            if (isWebhook) metrics.webhooks.inc({ type: "unknown", result: "invalid" });
            const inBody = err.validationContext === "body";
            req.log.info({ field }, inBody ? "request rejected: invalid body" : "request rejected: invalid request");
            return reply.code(400).send({ error: inBody ? "invalid-body" : "invalid-request", message: validationMessage(err, field), field });
        }
        if (err instanceof HttpError) {
            if (isWebhook) metrics.webhooks.inc({ type: "unknown", result: err.statusCode === 401 ? "unauthorized" : "invalid" });
            req.log.info({ status: err.statusCode, code: err.code }, "request rejected");
            return reply.code(err.statusCode).send({ error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) });
        }
        const status = (err as FastifyError).statusCode;
        if (status !== undefined && status >= 400 && status < 500) {
            return reply.code(status).send({ error: (err as FastifyError).code ?? "bad-request", message: err.message });
        }
        req.log.error({ err: { message: err.message, name: err.name } }, "unhandled error");
        if (isWebhook) metrics.webhooks.inc({ type: "unknown", result: "error" });
        return reply.code(500).send({ error: "internal", message: "internal error; the service log has the details" });
    });

    await app.register(swagger, {
        openapi: {
            openapi: "3.1.0",
            info: {
                title: "Collect & Verything billing webhooks",
                version: "1.0.0",
                description:
                    "Billing events drive tenant onboarding and offboarding. POST /webhooks/billing must carry `Billing-Signature: t=<unix>,v1=<hex HMAC-SHA256 of t + '.' + raw body>`.",
            },
            components: {
                securitySchemes: { billingSignature: { type: "apiKey", in: "header", name: "Billing-Signature" } },
            },
        },
    });

    app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

    app.post(
        "/webhooks/billing",
        {
            schema: {
                summary: "Receive a billing event",
                security: [{ billingSignature: [] }],
                headers: { type: "object", properties: { "billing-signature": { type: "string" } } },
                body: webhookBody,
                response: { 200: webhookAccepted, 202: webhookAccepted, 400: errorBody, 401: errorBody, 404: errorBody, 409: errorBody, 422: errorBody },
            },
            preValidation: async (req) => {
                // A request without a body never reaches the content parser.
                if (!req.signatureChecked) {
                    const sig = verifySignature(req.headers[SIGNATURE_HEADER] as string | undefined, req.rawBody ?? "", { secrets: opts.secrets, toleranceSeconds: opts.toleranceSeconds });
                    if (!sig.ok) throw new HttpError(401, "invalid-signature", `signature check failed: ${sig.reason}`);
                }
            },
        },
        async (req, reply) => {
            const started = process.hrtime.bigint();
            const body = req.body as { id: string; type: string; data: Record<string, unknown> };
            const tenantId = typeof body.data.tenantId === "string" ? body.data.tenantId : undefined;
            const rlog = req.log.child({ eventId: body.id, eventType: body.type, tenantId });
            const done = (type: string, result: string) => {
                metrics.webhooks.inc({ type: isKnownEventType(type) ? type : "unknown", result });
                metrics.ackSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
            };
            if (!isKnownEventType(body.type)) {
                rlog.info("unknown event type acknowledged and ignored");
                done(body.type, "ignored");
                return reply.code(200).send({ eventId: body.id, result: "ignored" });
            }
            const seen = store.getEvent(body.id);
            if (seen) {
                rlog.info({ jobId: seen.jobId }, "duplicate delivery; nothing to do");
                done(body.type, "duplicate");
                return reply.code(200).send({ eventId: body.id, result: "duplicate", tenantId: seen.tenantId, jobId: seen.jobId });
            }
            const event = { type: body.type, data: body.data } as unknown as BillingEvent;
            const outcome = await committer.submit({ id: body.id, event });
            switch (outcome.kind) {
                case "duplicate":
                    rlog.info({ jobId: outcome.record.jobId }, "duplicate delivery; nothing to do");
                    done(body.type, "duplicate");
                    return reply.code(200).send({ eventId: body.id, result: "duplicate", tenantId: outcome.record.tenantId, jobId: outcome.record.jobId });
                case "rejected": {
                    const err = outcome.error;
                    rlog.info({ status: err.status, code: err.code }, "event rejected; nothing written");
                    done(body.type, "rejected");
                    return reply.code(err.status).send({ error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) });
                }
                case "applied": {
                    const job = outcome.job;
                    if (job && outcome.newJob) await queue.announce(job);
                    rlog.info({ jobId: job?.id, manifestChanged: outcome.changed, coalesced: !outcome.newJob }, "event applied to the manifest; deployment queued");
                    done(body.type, "accepted");
                    return reply.code(202).send({ eventId: body.id, result: outcome.changed ? "accepted" : "unchanged", tenantId: tenantId ?? null, jobId: job?.id ?? null });
                }
            }
        },
    );

    const jobView = (job: JobRecord) => ({ ...job, logTail: runner.liveTails.get(job.id)?.slice() ?? job.logTail, seq: undefined });

    app.get(
        "/tenants/:id",
        { schema: { summary: "A tenant's lifecycle state, last job and its log tail", params: idParam, response: { 200: tenantBody, 400: errorBody, 404: errorBody } } },
        async (req, reply) => {
            const { id } = req.params as { id: string };
            const t = store.getTenant(id);
            if (t) {
                const job = t.lastJobId ? store.getJob(t.lastJobId) : undefined;
                return { id: t.id, region: t.region, state: t.state, manifestStatus: t.manifestStatus, tier: t.tier, updatedAt: t.updatedAt, lastJob: job ? jobView(job) : null };
            }
            const parsed = validateManifest(manifest.read(), path.basename(manifestPath));
            const spec = parsed.ok ? parsed.manifest.tenants.find((x) => x.id === id) : undefined;
            if (!spec) return reply.code(404).send({ error: "tenant-not-found", message: `tenant "${id}" is neither in the manifest nor known to the service` });
            // In the manifest but never changed through the service: deployed by the CLI.
            return { id, region: spec.region, state: settledState(spec.status), manifestStatus: spec.status, tier: spec.tier, updatedAt: null, lastJob: null };
        },
    );

    app.get("/jobs/:id", { schema: { summary: "A deployment job", params: idParam, response: { 200: jobBody, 400: errorBody, 404: errorBody } } }, async (req, reply) => {
        const { id } = req.params as { id: string };
        const job = store.getJob(id);
        if (!job) return reply.code(404).send({ error: "job-not-found", message: `no job "${id}"` });
        return jobView(job);
    });

    const updateDepth = () => {
        const depth = store.queueDepth();
        for (const s of stacks) metrics.queueDepth.set({ stack: s }, depth.get(s) ?? 0);
        for (const [s, n] of depth) if (!stacks.includes(s)) metrics.queueDepth.set({ stack: s }, n);
    };

    app.get(
        "/healthz",
        {
            schema: {
                summary: "Liveness and readiness",
                response: {
                    200: { type: "object", properties: { status: { type: "string" }, queue: { type: "string" }, running: { type: "integer" } } },
                    503: { type: "object", properties: { status: { type: "string" }, queue: { type: "string" }, running: { type: "integer" } } },
                },
            },
        },
        async (_req, reply) => {
            const ok = queue.healthy() && store.db.isOpen;
            return reply.code(ok ? 200 : 503).send({ status: ok ? "ok" : "degraded", queue: queue.kind, running: runner.running });
        },
    );

    app.get("/metrics", { schema: { summary: "Prometheus metrics", produces: ["text/plain"] } }, async (_req, reply) => {
        updateDepth();
        const text = await metrics.registry.metrics();
        return reply.type(metrics.registry.contentType).send(text);
    });

    await queue.start();
    const interval = publisher instanceof NullPublisher ? undefined : setInterval(() => void flushOutbox(), opts.outboxIntervalMs ?? 5000);
    interval?.unref();
    void flushOutbox();

    return {
        app,
        store,
        queue,
        metrics,
        runner,
        manifest,
        flushOutbox,
        async close() {
            if (interval) clearInterval(interval);
            await app.close();
            // Deliveries still waiting for their batch (their client may be gone) are committed before the store closes.
            await committer.idle();
            await queue.stop();
            await flushOutbox();
            await publisher.close();
            store.close();
        },
    };
}
