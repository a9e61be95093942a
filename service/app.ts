/**
 * The service's Fastify app: the JSON body parser that keeps the raw bytes,
 * one error format for every failure, 405 with `Allow` for a method a path
 * does not have, the OpenAPI document, and one plugin per route group
 * (routes/webhooks, tenants, jobs, ops). It builds the HTTP side only: the
 * parts it serves (store, queue, runner...) come from createService, and
 * listening is main.ts's business.
 */
import swagger from "@fastify/swagger";
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type RawServerDefault } from "fastify";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { ManifestFile } from "../core/manifestFile";
import type { EventCommitter } from "./commit";
import { errorReply, HttpError } from "./errors";
import type { Metrics } from "./metrics";
import type { JobQueue } from "./queue";
import { jobRoutes } from "./routes/jobs";
import { opsRoutes } from "./routes/ops";
import { tenantRoutes } from "./routes/tenants";
import { webhookRoutes } from "./routes/webhooks";
import type { JobRunner } from "./runner";
import type { Store } from "./store";

export type ServiceApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;

declare module "fastify" {
    interface FastifyRequest {
        /** The body's bytes as received (set by the JSON parser; the signature covers them). */
        rawBody?: Buffer;
    }
    interface FastifyContextConfig {
        /** Checks a request's raw body before it is parsed (the webhook's signature): an error refuses the request. */
        beforeParse?: (req: FastifyRequest, raw: Buffer) => Error | undefined;
    }
}

export interface AppParts {
    readonly logger: Logger;
    readonly store: Store;
    readonly committer: EventCommitter;
    readonly queue: JobQueue;
    readonly runner: JobRunner;
    readonly metrics: Metrics;
    readonly manifest: ManifestFile;
    /** The manifest's file name, for the validator's messages. */
    readonly manifestName: string;
    /** The stacks the service deploys. */
    readonly stacks: readonly string[];
    /** Active webhook secrets: the current one and, while rotating, the previous one. */
    readonly secrets: readonly string[];
    /** Signature timestamp tolerance in seconds. */
    readonly toleranceSeconds?: number;
}

/** The methods of each route path, collected as the routes are declared: `/tenants/:id` -> GET, HEAD. */
class RouteMethods {
    private readonly byPath = new Map<string, { readonly pattern: RegExp; readonly methods: string[] }>();

    add(url: string, method: string | readonly string[]): void {
        let entry = this.byPath.get(url);
        if (!entry) {
            const pattern = url
                .split("/")
                .map((part) => (part.startsWith(":") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
                .join("/");
            entry = { pattern: new RegExp(`^${pattern}/?$`), methods: [] };
            this.byPath.set(url, entry);
        }
        for (const m of typeof method === "string" ? [method] : method) if (!entry.methods.includes(m)) entry.methods.push(m);
    }

    /** The `Allow` value of a request URL's path, when a route has that path. */
    allowed(url: string): string | undefined {
        const p = url.split("?")[0];
        for (const { pattern, methods } of this.byPath.values()) if (pattern.test(p)) return methods.join(", ");
        return undefined;
    }
}

export async function buildApp(parts: AppParts): Promise<ServiceApp> {
    const app = Fastify({
        loggerInstance: parts.logger,
        // The webhook handler logs one line per delivery itself, with the event and tenant ids.
        logController: new LogController({ disableRequestLogging: true }),
        bodyLimit: 256 * 1024,
        // Longer than any id the schemas allow, even percent-encoded: a too-long id gets the schema's 400, not a 414.
        routerOptions: { maxParamLength: 4096 },
        ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
    });

    const routes = new RouteMethods();
    app.addHook("onRoute", (route) => routes.add(route.url, route.method));

    app.addContentTypeParser("application/json", { parseAs: "buffer" }, (req: FastifyRequest, body: Buffer, done) => {
        req.rawBody = body;
        const refused = req.routeOptions.config.beforeParse?.(req, body);
        if (refused) return done(refused, undefined);
        if (body.length === 0) return done(new HttpError(400, "invalid-body", "body: the request body is empty; send a JSON object", "body"), undefined);
        try {
            done(null, JSON.parse(body.toString("utf8")));
        } catch {
            done(new HttpError(400, "invalid-body", "body: not valid JSON", "body"), undefined);
        }
    });

    const methodNotAllowed = (req: FastifyRequest, reply: FastifyReply, allow: string) =>
        reply
            .code(405)
            .header("allow", allow)
            .send({ error: "method-not-allowed", message: `${req.method} is not allowed here; use ${allow}` });

    app.setNotFoundHandler((req, reply) => {
        const allow = routes.allowed(req.url);
        if (allow) return methodNotAllowed(req, reply, allow);
        return reply.code(404).send({ error: "not-found", message: `no route ${req.method} ${req.url.split("?")[0]}` });
    });

    app.setErrorHandler((err, req, reply) => {
        // A method no route has (e.g. QUERY without a body) fails before the not-found handler runs.
        const allow = req.routeOptions.url === undefined ? routes.allowed(req.url) : undefined;
        if (allow) return methodNotAllowed(req, reply, allow);
        const answer = errorReply(err);
        const body = answer.body;
        if (answer.kind === "internal")
            req.log.error({ err: err instanceof Error ? { message: err.message, name: err.name } : String(err) }, "unhandled error");
        else if (err instanceof HttpError) req.log.info({ status: answer.status, code: body.error }, "request rejected");
        else if (answer.kind === "invalid")
            req.log.info({ field: body.field }, body.error === "invalid-body" ? "request rejected: invalid body" : "request rejected: invalid request");
        return reply.code(answer.status).send(body);
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

    await app.register(webhookRoutes, parts);
    await app.register(tenantRoutes, parts);
    await app.register(jobRoutes, parts);
    await app.register(opsRoutes, parts);
    return app;
}
