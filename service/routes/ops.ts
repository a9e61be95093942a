/**
 * Operations: GET /healthz (liveness), /readyz (readiness: the manifest, the
 * store, the broker, the git remote), /metrics (Prometheus, behind the
 * status token) and /openapi.json (this API's document).
 */
import type { FastifyPluginCallback } from "fastify";
import * as fs from "node:fs";
import type { ManifestFile } from "../../core/manifestFile";
import { validateManifest } from "../../lib/manifest";
import type { EventCommitter } from "../commit";
import type { Metrics } from "../metrics";
import type { JobQueue } from "../queue";
import type { JobRunner } from "../runner";
import { errorBody, healthBody, metricsBody, readyBody, type ReadyCheck, type SchemaTypes } from "../schemas";
import type { Store } from "../store";

export interface OpsRoutesOptions {
    readonly store: Store;
    readonly queue: JobQueue;
    readonly runner: JobRunner;
    readonly metrics: Metrics;
    readonly committer: EventCommitter;
    readonly manifest: ManifestFile;
    /** The manifest's file name, for the validator. */
    readonly manifestName: string;
    /** The stacks the service deploys: each has a queue depth, zero included. */
    readonly stacks: readonly string[];
}

/**
 * Whether the manifest the service edits is there and valid. The file is
 * validated again only when it changed (size or mtime), and not at all when
 * it is the text the service itself last validated or wrote.
 */
class ManifestCheck {
    private last: { readonly key: string; readonly result: ReadyCheck } | undefined;

    constructor(
        private readonly manifest: ManifestFile,
        private readonly name: string,
        private readonly committer: EventCommitter,
    ) {}

    async check(): Promise<ReadyCheck> {
        let key: string;
        try {
            const st = await fs.promises.stat(this.manifest.file);
            key = `${st.size}:${st.mtimeMs}:${st.ino}`;
        } catch (err) {
            return { ok: false, detail: `cannot read ${this.manifest.file} (${(err as NodeJS.ErrnoException).code ?? String(err)}); restore the file` };
        }
        if (this.last?.key === key) return this.last.result;
        let text: string;
        try {
            text = await fs.promises.readFile(this.manifest.file, "utf8");
        } catch (err) {
            return { ok: false, detail: `cannot read ${this.manifest.file} (${(err as NodeJS.ErrnoException).code ?? String(err)}); restore the file` };
        }
        let result: ReadyCheck;
        if (this.committer.knowsValid(text)) {
            result = { ok: true, detail: "valid (as the service last wrote it)" };
        } else {
            const v = validateManifest(text, this.name);
            result = v.ok
                ? { ok: true, detail: `valid (${v.manifest.tenants.length} tenants)` }
                : { ok: false, detail: `invalid: ${v.issues.length} problem(s), e.g. ${v.issues[0].problem}; fix the manifest` };
        }
        this.last = { key, result };
        return result;
    }
}

export const opsRoutes: FastifyPluginCallback<OpsRoutesOptions> = (fastify, opts, done) => {
    const { store, queue, runner, metrics, stacks } = opts;
    const app = fastify.withTypeProvider<SchemaTypes>();
    const manifestCheck = new ManifestCheck(opts.manifest, opts.manifestName, opts.committer);

    const storeCheck = async (): Promise<ReadyCheck> => {
        if (!store.isOpen) return { ok: false, detail: "closed" };
        try {
            await store.ping(250);
            return { ok: true, detail: "open" };
        } catch (err) {
            return { ok: false, detail: err instanceof Error ? err.message : String(err) };
        }
    };

    const readiness = async () => {
        const checks = {
            manifest: await manifestCheck.check(),
            store: await storeCheck(),
            broker:
                queue.kind === "rabbitmq"
                    ? queue.healthy()
                        ? { ok: true, detail: "connected" }
                        : { ok: false, detail: "not connected to RabbitMQ (BROKER_URL)" }
                    : { ok: true, detail: "not configured (in-process queue)" },
            git: opts.manifest.repo ? await opts.manifest.repo.reachable() : { ok: true, detail: "not configured (the manifest file alone)" },
        };
        return { ready: Object.values(checks).every((c) => c.ok), checks };
    };

    app.get("/openapi.json", { schema: { hide: true } }, (_req, reply) => reply.send(app.swagger()));

    app.get(
        "/healthz",
        { schema: { summary: "Liveness: 200 while the process answers; `status` is ok only when /readyz is ready", response: { 200: healthBody } } },
        async () => {
            const { ready } = await readiness();
            return { status: ready ? ("ok" as const) : ("degraded" as const), ready, queue: queue.kind, running: runner.running };
        },
    );

    app.get(
        "/readyz",
        {
            schema: {
                summary: "Readiness: the manifest, the store, the broker (when configured) and the git remote (when configured)",
                response: { 200: readyBody, 503: readyBody },
            },
        },
        async (_req, reply) => {
            const { ready, checks } = await readiness();
            return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not-ready", checks });
        },
    );

    app.get(
        "/metrics",
        {
            schema: {
                summary: "Prometheus metrics",
                security: [{ statusToken: [] }],
                // Per status, its own media type: the metrics are text, a refusal is the JSON error body.
                response: {
                    200: { content: { "text/plain": { schema: metricsBody } } },
                    401: { content: { "application/json": { schema: errorBody } } },
                },
            },
            config: { statusToken: true },
        },
        async (_req, reply) => {
            const depth = await store.queueDepth();
            for (const s of stacks) metrics.queueDepth.set({ stack: s }, depth.get(s) ?? 0);
            for (const [s, n] of depth) if (!stacks.includes(s)) metrics.queueDepth.set({ stack: s }, n);
            const text = await metrics.registry.metrics();
            return reply.type(metrics.registry.contentType).send(text);
        },
    );
    done();
};
