/**
 * Which property values are Pulumi secrets. @pulumi/policy hands validations
 * plain values: it unwraps secrets while deserializing. This module wraps that
 * deserializer once, records the secret paths of every object it produces in a
 * WeakMap, and lets the pack look them up for the object behind `args.props`.
 */
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";
/** @pulumi/policy's proxy key that returns the object behind its unknown-checking proxy. */
export const PROXY_TARGET = "__getSpecialProxyTarget";

const recorded = new WeakMap<object, Set<string>>();

/** The dot-separated paths of the secret values in a serialized property map. */
export function secretPathsOf(raw: unknown, prefix = "", out = new Set<string>()): Set<string> {
    if (Array.isArray(raw)) {
        raw.forEach((v, i) => secretPathsOf(v, prefix ? `${prefix}.${i}` : String(i), out));
    } else if (raw !== null && typeof raw === "object") {
        const o = raw as Record<string, unknown>;
        if (o[SIG_KEY] === SECRET_SIG) {
            out.add(prefix);
            secretPathsOf(o.value, prefix, out);
            return out;
        }
        for (const [k, v] of Object.entries(o)) secretPathsOf(v, prefix ? `${prefix}.${k}` : k, out);
    }
    return out;
}

let installed = false;

/** Wraps @pulumi/policy's deserializer (idempotent). */
export function installSecretTracking(): void {
    if (installed) return;
    installed = true;
    const mod = require("@pulumi/policy/deserialize") as {
        deserializeProperties: (struct: { toJavaScript(): unknown }, proxySecrets: boolean) => Record<string, unknown>;
    };
    const original = mod.deserializeProperties;
    mod.deserializeProperties = (struct, proxySecrets) => {
        const props = original(struct, proxySecrets);
        try {
            recorded.set(props, secretPathsOf(struct.toJavaScript()));
        } catch {
            // Secretness unknown: the rule sees no secrets and reports plain values.
        }
        return props;
    };
}

/** The plain object behind @pulumi/policy's proxies. */
export function unproxy(props: Record<string, unknown>): Record<string, unknown> {
    const target = props[PROXY_TARGET];
    return target !== undefined && target !== null && typeof target === "object" ? (target as Record<string, unknown>) : props;
}

/** The recorded secret paths of a props object (or of the object behind its proxy). */
export function secretPathsFor(props: Record<string, unknown>): Set<string> | undefined {
    return recorded.get(unproxy(props));
}
