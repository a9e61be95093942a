/**
 * How a failed request is answered: every error becomes a status and an
 * ErrorBody (`{ error, message, field? }`); no raw error object ever
 * reaches a caller.
 */
import type { FastifyError } from "fastify";
import type { ErrorBody } from "./schemas";

/** A refusal the service decides itself (bad signature, unparsable body): its status, code and message go out as they are. */
export class HttpError extends Error {
    constructor(
        readonly statusCode: number,
        readonly code: string,
        message: string,
        readonly field?: string,
    ) {
        super(message);
        this.name = "HttpError";
    }
}

export interface ErrorReply {
    readonly status: number;
    readonly body: ErrorBody;
    /**
     * invalid: the request breaks its schema, or the service refused it (HttpError);
     * client: another 4xx Fastify raised (media type, body size); internal: a bug or an outage (500).
     */
    readonly kind: "invalid" | "client" | "internal";
}

function text(value: unknown): string | undefined {
    return typeof value === "string" && value !== "" ? value : undefined;
}

type Validation = NonNullable<FastifyError["validation"]>;

/** "/data/tier" or a missing property, as "data.tier". */
function fieldOf(validation: Validation): string | undefined {
    const v = validation[0];
    if (!v) return undefined;
    const base = v.instancePath.replace(/^\//, "").replace(/\//g, ".");
    const parts = [text(base), text(v.params.missingProperty) ?? text(v.params.additionalProperty)].filter((p) => p !== undefined);
    return parts.length > 0 ? parts.join(".") : "body";
}

function validationMessage(validation: Validation, field: string | undefined): string | undefined {
    const v = validation[0];
    if (!v) return undefined;
    if (text(v.params.additionalProperty)) return `${field}: unknown field; remove it`;
    const allowed = v.params.allowedValues;
    if (Array.isArray(allowed)) return `${field}: must be one of ${allowed.join(", ")}`;
    return `${field ?? "body"}: ${v.message ?? "is invalid"}`;
}

const INTERNAL: ErrorReply = { status: 500, kind: "internal", body: { error: "internal", message: "internal error; the service log has the details" } };

export function errorReply(thrown: unknown): ErrorReply {
    if (thrown instanceof HttpError) {
        return {
            status: thrown.statusCode,
            kind: "invalid",
            body: { error: thrown.code, message: thrown.message, ...(thrown.field ? { field: thrown.field } : {}) },
        };
    }
    if (!(thrown instanceof Error)) return INTERNAL;
    // What Fastify adds to the errors it raises (schema validation, media type, body size...).
    const err: Partial<FastifyError> & Error = thrown;
    if (err.validation) {
        const field = fieldOf(err.validation);
        const error = err.validationContext === "body" ? "invalid-body" : "invalid-request";
        return { status: 400, kind: "invalid", body: { error, message: validationMessage(err.validation, field) ?? err.message, field } };
    }
    const status = err.statusCode;
    if (status !== undefined && status >= 400 && status < 500)
        return { status, kind: "client", body: { error: err.code ?? "bad-request", message: err.message } };
    return INTERNAL;
}
