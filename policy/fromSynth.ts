/**
 * The synth recorder's resources as policy subjects: the same rules the pack
 * runs in the engine, over exactly what the program registers (before any
 * provider touches it, so per-value secretness is intact).
 */
import type { SynthResource } from "../core/synth";
import { SYNTH_SECRET, type Subject } from "./model";

/** Paths of the values the recorder redacted as secrets. */
export function redactedPaths(value: unknown, prefix = "", out = new Set<string>()): Set<string> {
    if (value === SYNTH_SECRET) out.add(prefix);
    else if (Array.isArray(value)) value.forEach((v, i) => redactedPaths(v, prefix ? `${prefix}.${i}` : String(i), out));
    else if (value !== null && typeof value === "object") {
        for (const [k, v] of Object.entries(value)) redactedPaths(v, prefix ? `${prefix}.${k}` : k, out);
    }
    return out;
}

export function fromSynth(resources: readonly SynthResource[]): Subject[] {
    return resources.map((r) => ({
        type: r.type,
        urn: r.urn,
        name: r.name,
        props: r.inputs,
        protect: r.protect,
        parent: r.parent,
        secretPaths: redactedPaths(r.inputs),
    }));
}
