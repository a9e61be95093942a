/** Operations: GET /healthz (liveness and readiness), /metrics (Prometheus) and /openapi.json (this API's document). */
import type { FastifyPluginCallback } from "fastify";
import type { Metrics } from "../metrics";
import type { JobQueue } from "../queue";
import type { JobRunner } from "../runner";
import { healthBody, type SchemaTypes } from "../schemas";
import type { Store } from "../store";

export interface OpsRoutesOptions {
    readonly store: Store;
    readonly queue: JobQueue;
    readonly runner: JobRunner;
    readonly metrics: Metrics;
    /** The stacks the service deploys: each has a queue depth, zero included. */
    readonly stacks: readonly string[];
}

export const opsRoutes: FastifyPluginCallback<OpsRoutesOptions> = (fastify, opts, done) => {
    const { store, queue, runner, metrics, stacks } = opts;
    const app = fastify.withTypeProvider<SchemaTypes>();

    app.get("/openapi.json", { schema: { hide: true } }, (_req, reply) => reply.send(app.swagger()));

    app.get("/healthz", { schema: { summary: "Liveness and readiness", response: { 200: healthBody, 503: healthBody } } }, async (_req, reply) => {
        const ok = queue.healthy() && store.db.isOpen;
        return reply.code(ok ? 200 : 503).send({ status: ok ? "ok" : "degraded", queue: queue.kind, running: runner.running });
    });

    app.get("/metrics", { schema: { summary: "Prometheus metrics", produces: ["text/plain"] } }, async (_req, reply) => {
        const depth = store.queueDepth();
        for (const s of stacks) metrics.queueDepth.set({ stack: s }, depth.get(s) ?? 0);
        for (const [s, n] of depth) if (!stacks.includes(s)) metrics.queueDepth.set({ stack: s }, n);
        const text = await metrics.registry.metrics();
        return reply.type(metrics.registry.contentType).send(text);
    });
    done();
};
