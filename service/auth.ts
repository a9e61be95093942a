/**
 * The status endpoints' authentication: `Authorization: Bearer <token>`,
 * with tokens of their own (STATUS_TOKENS, `--status-token-file`), never a
 * webhook secret. Every configured token is compared, in constant time
 * (`crypto.timingSafeEqual` over SHA-256 digests, so the lengths never
 * differ and nothing exits early). Pure; no I/O.
 */
import { createHash, timingSafeEqual } from "node:crypto";

export type BearerResult = { readonly ok: true } | { readonly ok: false; readonly reason: "not-configured" | "missing" | "malformed" | "mismatch" };

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

/** Whether an Authorization header carries one of `tokens`. */
export function checkBearer(header: string | undefined, tokens: readonly string[]): BearerResult {
    const active = tokens.filter((t) => t.length > 0);
    if (active.length === 0) return { ok: false, reason: "not-configured" };
    if (header === undefined || header === "") return { ok: false, reason: "missing" };
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!m) return { ok: false, reason: "malformed" };
    const given = digest(m[1]);
    let match = false;
    for (const token of active) if (timingSafeEqual(given, digest(token))) match = true;
    return match ? { ok: true } : { ok: false, reason: "mismatch" };
}

/** The 401 message of each failure: what to send, or what the operator must configure. */
export function bearerFailureMessage(reason: Exclude<BearerResult, { ok: true }>["reason"]): string {
    switch (reason) {
        case "not-configured":
            return "the status endpoints need a token and the service has none; start it with STATUS_TOKENS or --status-token-file";
        case "missing":
            return "this endpoint needs `Authorization: Bearer <status token>` (a status token, not the webhook secret)";
        case "malformed":
            return "the Authorization header must be `Bearer <status token>`";
        case "mismatch":
            return "the status token is not valid";
    }
}
