/**
 * Webhook signatures: `Billing-Signature: t=<unix seconds>,v1=<hex>` where
 * hex = HMAC-SHA256(secret, `${t}.${rawBody}`). Pure; no I/O.
 *
 * Two secrets may be active at once (rotation: the provider signs with the
 * new one while the old one is still accepted). Every `v1` in the header is
 * tried against every secret, in constant time.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "billing-signature";
/** A signature older (or further in the future) than this is refused: it blocks replays. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export type SignatureFailure = "missing" | "malformed" | "expired" | "mismatch" | "no-secret";

export type SignatureResult = { readonly ok: true; readonly timestamp: number } | { readonly ok: false; readonly reason: SignatureFailure };

export function computeSignature(secret: string, timestamp: number, rawBody: Buffer | string): string {
    return createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest("hex");
}

/** The header value a sender puts on a request. */
export function signatureHeader(secret: string, rawBody: Buffer | string, timestamp = Math.floor(Date.now() / 1000)): string {
    return `t=${timestamp},v1=${computeSignature(secret, timestamp, rawBody)}`;
}

interface ParsedHeader {
    readonly timestamp: number;
    readonly signatures: readonly Buffer[];
}

export function parseSignatureHeader(header: string): ParsedHeader | undefined {
    let timestamp: number | undefined;
    const signatures: Buffer[] = [];
    for (const part of header.split(",")) {
        const eq = part.indexOf("=");
        if (eq <= 0) return undefined;
        const key = part.slice(0, eq).trim();
        const value = part.slice(eq + 1).trim();
        if (key === "t") {
            if (!/^\d{1,12}$/.test(value) || timestamp !== undefined) return undefined;
            timestamp = Number(value);
        } else if (key === "v1") {
            if (!/^[0-9a-f]{64}$/.test(value)) return undefined;
            signatures.push(Buffer.from(value, "hex"));
        }
        // Other schemes (v0, ...) are ignored, as providers add them over time.
    }
    if (timestamp === undefined || signatures.length === 0) return undefined;
    return { timestamp, signatures };
}

export interface VerifyOptions {
    /** Active secrets: the current one and, during rotation, the previous one. */
    readonly secrets: readonly string[];
    /** Unix seconds; default: now. */
    readonly now?: number;
    /** Default: DEFAULT_TOLERANCE_SECONDS. */
    readonly toleranceSeconds?: number;
}

/**
 * What can be checked of a signature before the body has arrived: a secret
 * is configured, the header is there, well-formed and fresh. A request that
 * fails this is refused without reading its body.
 */
export function precheckSignature(
    header: string | undefined,
    opts: VerifyOptions,
): { ok: true; parsed: ParsedHeader } | { ok: false; reason: SignatureFailure } {
    if (!opts.secrets.some((s) => s.length > 0)) return { ok: false, reason: "no-secret" };
    if (header === undefined || header === "") return { ok: false, reason: "missing" };
    const parsed = parseSignatureHeader(header);
    if (!parsed) return { ok: false, reason: "malformed" };
    const now = opts.now ?? Math.floor(Date.now() / 1000);
    const tolerance = opts.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
    if (Math.abs(now - parsed.timestamp) > tolerance) return { ok: false, reason: "expired" };
    return { ok: true, parsed };
}

export function verifySignature(header: string | undefined, rawBody: Buffer | string, opts: VerifyOptions): SignatureResult {
    const pre = precheckSignature(header, opts);
    if (!pre.ok) return pre;
    const { parsed } = pre;
    const secrets = opts.secrets.filter((s) => s.length > 0);
    let match = false;
    for (const secret of secrets) {
        const expected = Buffer.from(computeSignature(secret, parsed.timestamp, rawBody), "hex");
        for (const given of parsed.signatures) {
            // Both are 32 bytes (the header parser only accepts 64 hex digits); no early exit.
            if (timingSafeEqual(expected, given)) match = true;
        }
    }
    return match ? { ok: true, timestamp: parsed.timestamp } : { ok: false, reason: "mismatch" };
}
