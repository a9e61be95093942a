/**
 * The pure parts of `tenantctl shards` and `tenantctl reshard`: a region's
 * layout and its table and JSON, the reshard plan's text, and the two edits
 * reshard makes: every tenant's `shard` pin in the manifest and
 * `tenant-platform:shards` in the region's settings file, each through the
 * yaml Document API (comments and layout kept) and written atomically. The
 * manifest write belongs in core/manifestFile.ts (the one manifest writer,
 * with its lock); it lives here until that module's API settles. No
 * commander here, so the unit tests can load it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isMap, isSeq, parseDocument } from "yaml";
import { assignShards, imbalance, stackOfShard, type ShardMove, type ShardedTenant } from "../lib/shards";
import { CONFIG_NAMESPACE } from "../stacks/config";

/** One shard of a region's layout: its stack and its tenants' ids, in manifest order. */
export interface ShardEntry {
    readonly stack: string;
    readonly tenants: string[];
}

/** The layout of a region stack's tenants over `shards` shards (pins kept). Throws a RangeError for a pin beyond the count. */
export function shardLayout(regionStack: string, tenants: readonly ShardedTenant[], shards: number): ShardEntry[] {
    return assignShards(tenants, shards).map((ids, i) => ({ stack: stackOfShard(regionStack, shards, i), tenants: ids }));
}

/** `tenantctl shards --format json`: exactly `{"region","shards":[{"stack","tenants":[ids]}]}`. */
export function layoutJson(regionStack: string, layout: readonly ShardEntry[]): string {
    return JSON.stringify({ region: regionStack, shards: layout.map((s) => ({ stack: s.stack, tenants: s.tenants })) }, null, 2);
}

/** `tenantctl shards --format table`. */
export function layoutTable(regionStack: string, region: string, layout: readonly ShardEntry[]): string {
    const total = layout.reduce((n, s) => n + s.tenants.length, 0);
    const width = Math.max("stack".length, ...layout.map((s) => s.stack.length));
    const lines = [
        `region stack ${regionStack} (region ${region}): ${layout.length} shard(s), ${total} tenant(s), largest shard ${imbalance(layout.map((s) => s.tenants)).toFixed(2)} x the mean`,
        "",
        `${"stack".padEnd(width)}  tenants  ids`,
        `${"-".repeat(width)}  -------  ---`,
        ...layout.map((s) => `${s.stack.padEnd(width)}  ${String(s.tenants.length).padStart(7)}  ${s.tenants.join(", ") || "-"}`.trimEnd()),
    ];
    return lines.join("\n");
}

/** The plan `tenantctl reshard` prints without --yes. */
export function planText(regionStack: string, fromShards: number, toShards: number, moves: readonly ShardMove[], tenantCount: number): string {
    const lines = [
        `reshard ${regionStack}: ${fromShards} -> ${toShards} shard(s); ${moves.length} of ${tenantCount} tenant(s) move, every tenant is pinned to its shard`,
    ];
    if (moves.length > 0) {
        const w = Math.max("tenant".length, ...moves.map((m) => m.tenant.length));
        const f = Math.max("from".length, ...moves.map((m) => m.fromStack.length));
        lines.push("", `${"tenant".padEnd(w)}  ${"from".padEnd(f)}  to`, ...moves.map((m) => `${m.tenant.padEnd(w)}  ${m.fromStack.padEnd(f)}  ${m.toStack}`));
    }
    return lines.join("\n");
}

/** Writes `content` to `file` through a temp file in the same directory and a rename: readers see the old or the new file. */
function writeAtomic(file: string, content: string): void {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
    fs.writeFileSync(tmp, content);
    try {
        fs.renameSync(tmp, file);
    } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw err;
    }
}

/** The yaml library's output options that keep the repository's style: `[a, b]`, not `[ a, b ]`. */
const KEEP_LAYOUT = { flowCollectionPadding: false } as const;

/** The manifest text with every pinned tenant's `shard` set (comments and layout kept); other tenants untouched. */
export function withPins(manifestText: string, pins: ReadonlyMap<string, number>): string {
    const doc = parseDocument(manifestText);
    const tenants = doc.get("tenants");
    if (!isSeq(tenants)) throw new Error("the manifest has no tenants list");
    for (const item of tenants.items) {
        if (!isMap(item)) continue;
        const id = item.get("id");
        if (typeof id !== "string" || !pins.has(id)) continue;
        if (item.get("shard") !== pins.get(id)) item.set("shard", pins.get(id));
    }
    return doc.toString(KEEP_LAYOUT);
}

/** The region settings text with `tenant-platform:shards` set (1: removed, the default). */
export function withShardCount(settingsText: string, shards: number): string {
    const doc = parseDocument(settingsText);
    const key = `${CONFIG_NAMESPACE}:shards`;
    if (shards === 1) doc.deleteIn(["config", key]);
    else doc.setIn(["config", key], shards);
    return doc.toString(KEEP_LAYOUT);
}

/** Rewrites `file` with `change` applied, atomically, when that changes it. */
export function writeIfChanged(file: string, change: (text: string) => string): void {
    const before = fs.readFileSync(file, "utf8");
    const after = change(before);
    if (after !== before) writeAtomic(file, after);
}
