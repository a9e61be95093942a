/**
 * How a failed request is answered: every error becomes a status and an
 * ErrorBody (`{ error, message, field? }`); no raw error object ever
 * reaches a caller.
 */
import type { FastifyError } from "fastify";
import { eventField } from "../lib/billingEvent";
import { dateBoundsAllowed, fieldHelp, TENANT_FIELDS } from "../lib/manifest";
import type { ErrorBody } from "./schemas";
import { StoreBusy } from "./store";

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
    /** Headers the answer carries (Retry-After of a 503). */
    readonly headers?: Readonly<Record<string, string>>;
    /**
     * invalid: the request breaks its schema, or the service refused it (HttpError);
     * client: another 4xx Fastify raised (media type, body size); unavailable: the store is locked (503, retry);
     * internal: a bug or an outage (500).
     */
    readonly kind: "invalid" | "client" | "unavailable" | "internal";
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

/** For an event field that carries a manifest field (`data.cancelledAt`): what is allowed and the fix, as the manifest's errors say them. */
function manifestHelp(field: string | undefined): string {
    const name = /^data\.([A-Za-z]+)/.exec(field ?? "")?.[1];
    const manifestField = TENANT_FIELDS.find((f) => eventField(f) === name);
    if (manifestField === undefined) return "";
    const help = fieldHelp(manifestField);
    const allowed = manifestField === "createdDate" || manifestField === "cancelledAt" ? dateBoundsAllowed() : help.allowed;
    return `. Allowed: ${allowed}. Fix: ${help.fix}`;
}

function validationMessage(validation: Validation, field: string | undefined): string | undefined {
    const v = validation[0];
    if (!v) return undefined;
    if (text(v.params.additionalProperty)) return `${field}: unknown field; remove it`;
    const allowed = v.params.allowedValues;
    if (Array.isArray(allowed)) return `${field}: must be one of ${allowed.join(", ")}`;
    return `${field ?? "body"}: ${v.message ?? "is invalid"}${manifestHelp(field)}`;
}

const INTERNAL: ErrorReply = { status: 500, kind: "internal", body: { error: "internal", message: "internal error; the service log has the details" } };

/**
 * The errors Fastify raises itself, by their FST_ERR_* code, as the
 * service's own codes and messages: a framework code or message never
 * reaches a caller. Any other 4xx of the framework is a plain bad-request.
 */
const FRAMEWORK_ERRORS: Readonly<Record<string, { readonly status: number; readonly error: string; readonly message: string; readonly field?: string }>> = {
    FST_ERR_CTP_BODY_TOO_LARGE: {
        status: 413,
        error: "body-too-large",
        message: "body: larger than the service accepts; a billing event is a few hundred bytes",
        field: "body",
    },
    FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, error: "unsupported-media-type", message: "content-type: must be application/json", field: "content-type" },
    FST_ERR_CTP_INVALID_TYPE: { status: 415, error: "unsupported-media-type", message: "content-type: must be application/json", field: "content-type" },
    FST_ERR_CTP_EMPTY_TYPE: { status: 415, error: "unsupported-media-type", message: "content-type: must be application/json", field: "content-type" },
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
        status: 400,
        error: "invalid-body",
        message: "body: its length differs from the Content-Length header",
        field: "body",
    },
    FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, error: "invalid-body", message: "body: the request body is empty; send a JSON object", field: "body" },
    FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, error: "invalid-body", message: "body: not valid JSON", field: "body" },
    FST_ERR_BAD_URL: { status: 400, error: "bad-url", message: "the URL is not valid (a malformed percent-encoding); fix the path" },
    FST_ERR_ASYNC_CONSTRAINT: { status: 400, error: "bad-request", message: "the request is malformed" },
};

export function errorReply(thrown: unknown): ErrorReply {
    if (thrown instanceof HttpError) {
        return {
            status: thrown.statusCode,
            kind: "invalid",
            body: { error: thrown.code, message: thrown.message, ...(thrown.field ? { field: thrown.field } : {}) },
        };
    }
    if (thrown instanceof StoreBusy) {
        return {
            status: 503,
            kind: "unavailable",
            headers: { "retry-after": "1" },
            body: { error: "store-busy", message: "the service's store is locked by another process; nothing was applied; retry shortly" },
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
    const known = err.code === undefined ? undefined : FRAMEWORK_ERRORS[err.code];
    if (known)
        return { status: known.status, kind: "client", body: { error: known.error, message: known.message, ...(known.field ? { field: known.field } : {}) } };
    const status = err.statusCode;
    if (status !== undefined && status >= 400 && status < 500)
        return { status, kind: "client", body: { error: "bad-request", message: "the request is malformed" } };
    return INTERNAL;
}
