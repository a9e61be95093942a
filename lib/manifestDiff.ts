/**
 * What a manifest change does to a region stack, per tenant: the comparison
 * of two synths (base and changed manifest) and its markdown for the pull
 * request. Pure: cli/diff.ts runs the synths. Unsafe changes (a protected
 * data resource would be deleted, a tenant moves region) are flagged.
 */
import type { TenantSpec } from "./manifest";
import type { Region } from "./regions";

export interface DiffResource {
    readonly type: string;
    readonly name: string;
    readonly urn?: string;
    readonly tenant?: string | null;
    readonly protect?: boolean;
    /** Resource options as the synth recorded them; `ignoreChanges` paths are differences `pulumi up` does not apply. */
    readonly options?: { readonly ignoreChanges?: readonly string[] };
    readonly inputs: Record<string, unknown>;
}

export interface ResourceChange {
    /** `ignored`: every difference is under the resource's `ignoreChanges`, so `pulumi up` changes nothing. */
    readonly kind: "add" | "remove" | "update" | "ignored";
    readonly type: string;
    readonly name: string;
    readonly tenant: string;
    /** For updates: the input paths that differ, with old and new values. */
    readonly fields: readonly { path: string; before: unknown; after: unknown }[];
    /** Differences under the resource's `ignoreChanges`: shown, never applied. */
    readonly ignored?: readonly { path: string; before: unknown; after: unknown }[];
    /** What really happens instead, for an ignored difference worth explaining (the backup volume). */
    readonly note?: string;
    /** Why this change must not be applied, if it must not. */
    readonly blocked?: string;
}

/** Whether the input path `p` (dotted, as inputDifferences gives it) is covered by an ignoreChanges path. */
export function isIgnoredPath(p: string, ignoreChanges: readonly string[] = []): boolean {
    return ignoreChanges.some((i) => p === i || p.startsWith(`${i}.`) || p.startsWith(`${i}[`));
}

const PVC = "kubernetes:core/v1:PersistentVolumeClaim";

/** What a resize of the backup volume really does: nothing; the backup job fits its local copies to the volume it has. */
function ignoredNote(type: string, ignored: readonly { path: string; before: unknown; after: unknown }[]): string | undefined {
    const size = ignored.find((f) => f.path === "spec.resources.requests.storage");
    if (type !== PVC || !size) return undefined;
    return (
        `the volume stays at ${String(size.before)} (ignoreChanges; Kubernetes cannot shrink a volume, and growing it is an operator action), not ${String(size.after)}. ` +
        "The backup job keeps as many recent sets on it as fit its real capacity; the GFS retention is in the archive and does not depend on the tier."
    );
}

export interface StackDiff {
    readonly stack: string;
    readonly region: string;
    readonly changes: readonly ResourceChange[];
    /** Manifest-level findings, e.g. a tenant moving between regions. */
    readonly findings: readonly string[];
}

function keyOf(r: DiffResource): string {
    return r.urn ?? `${r.type}::${r.name}`;
}

/** Leaf-level differences between two input trees, as dotted paths. */
export function inputDifferences(before: unknown, after: unknown, prefix = ""): { path: string; before: unknown; after: unknown }[] {
    if (JSON.stringify(before) === JSON.stringify(after)) return [];
    const isObj = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
    if (isObj(before) && isObj(after)) {
        const b = before as Record<string, unknown>;
        const a = after as Record<string, unknown>;
        const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].sort();
        return keys.flatMap((k) => inputDifferences(b[k], a[k], prefix ? `${prefix}.${k}` : k));
    }
    return [{ path: prefix || "(value)", before, after }];
}

/** Compares two synths of one stack. Pure. */
export function diffResources(base: readonly DiffResource[], next: readonly DiffResource[]): ResourceChange[] {
    const before = new Map(base.map((r) => [keyOf(r), r]));
    const after = new Map(next.map((r) => [keyOf(r), r]));
    const changes: ResourceChange[] = [];
    for (const [key, r] of after) {
        const old = before.get(key);
        if (!old) {
            changes.push({ kind: "add", type: r.type, name: r.name, tenant: r.tenant ?? "(shared)", fields: [] });
        } else {
            const all = inputDifferences(old.inputs, r.inputs);
            const ignore = r.options?.ignoreChanges ?? [];
            const fields = all.filter((f) => !isIgnoredPath(f.path, ignore));
            const ignored = all.filter((f) => isIgnoredPath(f.path, ignore));
            const extra = ignored.length > 0 ? { ignored, note: ignoredNote(r.type, ignored) } : {};
            if (fields.length > 0) changes.push({ kind: "update", type: r.type, name: r.name, tenant: r.tenant ?? "(shared)", fields, ...extra });
            else if (ignored.length > 0) changes.push({ kind: "ignored", type: r.type, name: r.name, tenant: r.tenant ?? "(shared)", fields: [], ...extra });
        }
    }
    for (const [key, r] of before) {
        if (!after.has(key)) {
            changes.push({
                kind: "remove",
                type: r.type,
                name: r.name,
                tenant: r.tenant ?? "(shared)",
                fields: [],
                blocked: r.protect
                    ? "protected data resource: `pulumi up` refuses to delete it; offboard through the cancellation grace period instead"
                    : undefined,
            });
        }
    }
    const order = { remove: 0, update: 1, add: 2, ignored: 3 };
    return changes.sort(
        (a, b) => a.tenant.localeCompare(b.tenant) || order[a.kind] - order[b.kind] || a.type.localeCompare(b.type) || a.name.localeCompare(b.name),
    );
}

/** A tenant whose region differs between the two manifests. */
export interface RegionMove {
    readonly tenant: string;
    readonly from: Region;
    readonly to: Region;
    readonly message: string;
}

/** Tenants that changed region between the two manifests: data never crosses regions. */
export function regionMoves(base: readonly TenantSpec[], next: readonly TenantSpec[]): RegionMove[] {
    const was = new Map(base.map((t) => [t.id, t.region]));
    const moves: RegionMove[] = [];
    for (const t of next) {
        const from = was.get(t.id);
        if (from === undefined || from === t.region) continue;
        moves.push({
            tenant: t.id,
            from,
            to: t.region,
            message:
                `tenant "${t.id}" moves from ${from} to ${t.region}: refused, data never leaves its region. ` +
                `To move a client, onboard it under a new id in ${t.region}, migrate its data, then cancel "${t.id}".`,
        });
    }
    return moves;
}

/** The moves a region's stack must refuse: the tenant leaves it or arrives in it. */
export function movesTouching(moves: readonly RegionMove[], region: string): RegionMove[] {
    return moves.filter((m) => m.from === region || m.to === region);
}

/** Whether a reviewed change must not be applied: a move refused, or a protected resource removed. */
export function isUnsafe(diffs: readonly StackDiff[]): boolean {
    return diffs.some((d) => d.findings.length > 0 || d.changes.some((c) => c.blocked !== undefined));
}

function render(value: unknown): string {
    if (value === undefined) return "(none)";
    const text = JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const SYMBOL = { add: "+", remove: "-", update: "~", ignored: "=" } as const;

export function markdown(diffs: readonly StackDiff[]): string {
    const lines: string[] = [];
    for (const d of diffs) {
        const count = (k: ResourceChange["kind"]) => d.changes.filter((c) => c.kind === k).length;
        const ignoredCount = count("ignored");
        lines.push(
            `### Region \`${d.region}\` (stack \`${d.stack}\`): ${count("add")} to add, ${count("update")} to change, ${count("remove")} to remove` +
                (ignoredCount > 0 ? `, ${ignoredCount} unchanged (ignoreChanges)` : ""),
        );
        for (const f of d.findings) lines.push(`> **Refused:** ${f}`);
        if (d.changes.length === 0) {
            lines.push("No resource changes.", "");
            continue;
        }
        const tenants = [...new Set(d.changes.map((c) => c.tenant))];
        for (const tenant of tenants) {
            const own = d.changes.filter((c) => c.tenant === tenant);
            lines.push(
                "",
                `<details${own.some((c) => c.blocked) ? " open" : ""}><summary>${tenant === "(shared)" ? "shared resources" : `tenant <code>${tenant}</code>`}: ${own.length} change${own.length === 1 ? "" : "s"}${own.some((c) => c.blocked) ? " ⛔" : ""}</summary>`,
                "",
            );
            lines.push("| | type | name | details |", "|---|---|---|---|");
            for (const c of own) {
                const ignoredText = (c.ignored ?? []).map((f) => `\`${f.path}\`: stays ${render(f.before)} (asked: ${render(f.after)}; ignoreChanges)`);
                const details = c.blocked
                    ? `⛔ ${c.blocked}`
                    : [
                          ...c.fields.slice(0, 6).map((f) => `\`${f.path}\`: ${render(f.before)} → ${render(f.after)}`),
                          ...(c.fields.length > 6 ? [`…and ${c.fields.length - 6} more`] : []),
                          ...ignoredText,
                          ...(c.note ? [c.note] : []),
                      ].join("<br>");
                lines.push(`| ${SYMBOL[c.kind]} | \`${c.type}\` | \`${c.name}\` | ${details.replace(/\|/g, "\\|")} |`);
            }
            lines.push("", "</details>");
        }
        lines.push("");
    }
    return lines.join("\n");
}
