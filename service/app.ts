/**
 * The service's Fastify app: the JSON body parser that keeps the raw bytes
 * (the only body parser: any other media type is a 415 before anything
 * else), one error format for every failure (Fastify's own codes and bodies
 * never reach a caller), 405 with `Allow` for a method a path does not have,
 * the status token on the status endpoints, the limits of an unauthenticated
 * client (body size, request and idle timeouts, connections), the OpenAPI
 * document, and one plugin per route group (routes/webhooks, tenants, jobs,
 * ops). It builds the HTTP side only: the parts it serves (store, queue,
 * runner...) come from createService, and listening is main.ts's business.
 */
import swagger from "@fastify/swagger";
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type RawServerDefault } from "fastify";
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { ManifestFile } from "../core/manifestFile";
import type { TenantSpec } from "../lib/manifest";
import { bearerFailureMessage, checkBearer } from "./auth";
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
        /** The route needs a status token (`Authorization: Bearer <token>`). */
        statusToken?: boolean;
    }
}

/** What an unauthenticated client can hold: every webhook request is unauthenticated until its whole body has arrived. */
export interface HttpLimits {
    /** Largest request body, in bytes. Default 64 KiB (a billing event is a few hundred bytes). */
    readonly bodyLimit?: number;
    /** Time to receive a whole request, headers and body, in ms; then 408 and the socket is closed. Default 10000. */
    readonly requestTimeoutMs?: number;
    /** Time to receive the headers, in ms (at most requestTimeoutMs). Default 5000. */
    readonly headersTimeoutMs?: number;
    /** A socket idle for this long is closed, in ms. Default 15000. */
    readonly idleTimeoutMs?: number;
    /** Keep-alive of an idle connection between requests, in ms. Default 5000. */
    readonly keepAliveTimeoutMs?: number;
    /** Requests on one keep-alive connection. Default 1000. */
    readonly maxRequestsPerSocket?: number;
    /** Open connections; further ones are closed at once. Default 512. */
    readonly maxConnections?: number;
}

/** The defaults of HttpLimits, in one place. */
export const HTTP_LIMITS: Required<HttpLimits> = {
    bodyLimit: 64 * 1024,
    requestTimeoutMs: 10_000,
    headersTimeoutMs: 5_000,
    idleTimeoutMs: 15_000,
    keepAliveTimeoutMs: 5_000,
    maxRequestsPerSocket: 1000,
    maxConnections: 512,
};

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
    /** The stack that deploys a tenant (its region's stack, or that stack's shard). */
    readonly stackOf: (region: string, tenant: TenantSpec) => string;
    /** Active webhook secrets: the current one and, while rotating, the previous one. */
    readonly secrets: readonly string[];
    /** Signature timestamp tolerance in seconds. */
    readonly toleranceSeconds?: number;
    /** Bearer tokens of the status endpoints (GET /tenants, /jobs, /metrics); none: those endpoints answer 401. */
    readonly statusTokens: readonly string[];
    readonly limits?: HttpLimits;
}

/**
 * Answers a malformed or timed-out HTTP request on the socket itself (no
 * request object exists), in the service's error body, and closes it.
 */
function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const [status, error, message] =
        err.code === "ERR_HTTP_REQUEST_TIMEOUT"
            ? [408, "request-timeout", "the request (headers and body) did not arrive in time; send it whole"]
            : err.code === "HPE_HEADER_OVERFLOW"
              ? [431, "headers-too-large", "the request headers are too large"]
              : [400, "bad-request", "the request is not valid HTTP"];
    const body = JSON.stringify({ error, message });
    if (socket.writable) {
        socket.write(
            `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
    }
    socket.destroy();
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
    const limits = { ...HTTP_LIMITS, ...parts.limits };
    const requestTimeout = limits.requestTimeoutMs;
    const app = Fastify({
        loggerInstance: parts.logger,
        // The webhook handler logs one line per delivery itself, with the event and tenant ids.
        logController: new LogController({ disableRequestLogging: true }),
        bodyLimit: limits.bodyLimit,
        requestTimeout,
        connectionTimeout: limits.idleTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        maxRequestsPerSocket: limits.maxRequestsPerSocket,
        // Node checks the request and headers timeouts on this interval (its default, 30 s, would let a slow body live that long).
        http: {
            headersTimeout: Math.min(limits.headersTimeoutMs, requestTimeout),
            connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(requestTimeout / 4))),
        },
        clientErrorHandler: clientError,
        // Longer than any id the schemas allow, even percent-encoded: a too-long id gets the schema's 400, not a 414.
        // A trailing slash reaches the same route: `POST /webhooks/billing/` is the webhook.
        routerOptions: { maxParamLength: 4096, ignoreTrailingSlash: true },
        // Errors the router raises before any route (a malformed percent-encoding), in the service's error body.
        frameworkErrors: (err: FastifyError, _req, reply) => {
            const answer = errorReply(err);
            // The option's reply is generic over the route types no route has yet: the plain reply is what it is.
            void (reply as unknown as FastifyReply).code(answer.status).send(answer.body);
        },
        ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
    });
    app.server.maxConnections = limits.maxConnections;

    const routes = new RouteMethods();
    app.addHook("onRoute", (route) => routes.add(route.url, route.method));

    // The status endpoints need a status token; the check runs before anything else of the request.
    app.addHook("onRequest", (req, reply, hookDone) => {
        if (!req.routeOptions.config.statusToken) return hookDone();
        const auth = checkBearer(req.headers.authorization, parts.statusTokens);
        if (auth.ok) return hookDone();
        void reply.header("www-authenticate", 'Bearer realm="status"');
        hookDone(new HttpError(401, auth.reason === "not-configured" ? "status-token-not-configured" : "unauthorized", bearerFailureMessage(auth.reason)));
    });

    // JSON is the only media type any route takes: a body of another type is a 415 before the signature or anything else is looked at.
    app.removeAllContentTypeParsers();
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
    // The path has routes, but not for this method. (A method that is among them never gets here: it is routed.)
    const otherMethod = (req: FastifyRequest): string | undefined => {
        const allow = routes.allowed(req.url);
        return allow !== undefined && !allow.split(", ").includes(req.method) ? allow : undefined;
    };
    const notFound = (req: FastifyRequest, reply: FastifyReply) =>
        reply.code(404).send({ error: "not-found", message: `no route ${req.method} ${req.url.split("?")[0]}` });

    app.setNotFoundHandler((req, reply) => {
        const allow = otherMethod(req);
        return allow ? methodNotAllowed(req, reply, allow) : notFound(req, reply);
    });

    app.setErrorHandler((err, req, reply) => {
        // A method no route has (e.g. QUERY without a body) fails before the not-found handler runs.
        const allow = req.routeOptions.url === undefined ? otherMethod(req) : undefined;
        if (allow) return methodNotAllowed(req, reply, allow);
        const answer = errorReply(err);
        const body = answer.body;
        if (answer.kind === "internal")
            req.log.error({ err: err instanceof Error ? { message: err.message, name: err.name } : String(err) }, "unhandled error");
        else if (answer.kind === "unavailable") req.log.warn({ status: answer.status, code: body.error }, "request refused: the store is locked");
        else if (err instanceof HttpError) req.log.info({ status: answer.status, code: body.error }, "request rejected");
        else if (answer.kind === "invalid")
            req.log.info({ field: body.field }, body.error === "invalid-body" ? "request rejected: invalid body" : "request rejected: invalid request");
        for (const [name, value] of Object.entries(answer.headers ?? {})) void reply.header(name, value);
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
                securitySchemes: {
                    billingSignature: { type: "apiKey", in: "header", name: "Billing-Signature" },
                    statusToken: { type: "http", scheme: "bearer", description: "A status token (STATUS_TOKENS), not the webhook secret." },
                },
            },
        },
    });

    await app.register(webhookRoutes, parts);
    await app.register(tenantRoutes, parts);
    await app.register(jobRoutes, parts);
    await app.register(opsRoutes, parts);
    return app;
}
