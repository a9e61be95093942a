/**
 * `tenantctl shards` (a region's layout: each shard stack and its tenants,
 * offline) and `tenantctl reshard` (moves tenants to a new shard count:
 * core/region.ts's Region.reshard).
 *
 * reshard writes two repository files: `tenant-platform:shards` in the
 * region's settings file and every tenant's `shard` pin in the manifest,
 * each edited through the yaml Document API (comments and layout kept) and
 * written atomically. The manifest write belongs in core/manifestFile.ts
 * (the one manifest writer, with its lock); it lives here until that module's
 * API settles.
 */
import type { Command } from "commander";
import * as fs from "node:fs";
import * as path from "node:path";
import { isMap, isSeq, parseDocument } from "yaml";
import type { ShardedTenant } from "../lib/shards";
import { assignShards, imbalance, MAX_SHARDS, reshardPlan, stackOfShard, type ShardMove } from "../lib/shards";
import { CONFIG_NAMESPACE } from "../stacks/config";
import { choice, positiveInt } from "./args";
import { CliError, EXIT, ExitStatus } from "./errors";
import { summaryTable } from "./region";

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

function writeIfChanged(file: string, change: (text: string) => string): void {
    const before = fs.readFileSync(file, "utf8");
    const after = change(before);
    if (after !== before) writeAtomic(file, after);
}

interface RegionArgs {
    readonly region: string;
    readonly manifest?: string;
    readonly configFile?: string;
}

/** The region, or a CliError: exit 2 for a missing settings file or a shard given as the region, 1 for invalid config or manifest. */
async function openRegion(command: string, opts: RegionArgs) {
    const { Region, RegionError } = await import("../core/region");
    const { StackFileError } = await import("../core/stackFile");
    const { StackConfigError } = await import("../stacks/config");
    const { ManifestError } = await import("../lib/manifest");
    try {
        const region = new Region({ regionStack: opts.region, manifest: opts.manifest, settingsFile: opts.configFile });
        return { region, tenants: region.tenants() };
    } catch (err) {
        if (err instanceof StackFileError || err instanceof RegionError) throw new CliError(`tenantctl ${command}: ${err.message}`, EXIT.usage);
        if (err instanceof StackConfigError || err instanceof ManifestError) throw new CliError(`tenantctl ${command}: ${err.message}`, EXIT.failed);
        throw err;
    }
}

function layoutOrFail(command: string, regionStack: string, tenants: readonly ShardedTenant[], shards: number): ShardEntry[] {
    try {
        return shardLayout(regionStack, tenants, shards);
    } catch (err) {
        if (err instanceof RangeError)
            throw new CliError(
                `tenantctl ${command}: ${err.message}. Fix: choose at least that many shards, or move the tenant with tenantctl reshard`,
                EXIT.failed,
            );
        throw err;
    }
}

/** Registers `tenantctl shards` and `tenantctl reshard`. */
export function register(program: Command): void {
    program
        .command("shards")
        .description("Print each shard stack of a region with its tenants; --shards K plans for K shards without changing anything (pins are kept).")
        .requiredOption("--region <stack>", "the region stack, whose Pulumi.<stack>.yaml describes the region (eu-west, local)")
        .option("--manifest <file>", "manifest to read instead of the region's tenant-platform:manifest")
        .option("--shards <k>", `plan for this many shards (1..${MAX_SHARDS})`, positiveInt)
        .option("--format <format>", "table or json", choice(["table", "json"] as const), "table")
        .option("--config-file <file>", "the region's settings file instead of Pulumi.<region>.yaml")
        .action(async (opts: RegionArgs & { shards?: number; format: "table" | "json" }) => {
            const { region, tenants } = await openRegion("shards", opts);
            const shards = opts.shards ?? region.config.shards;
            if (shards > MAX_SHARDS) throw new CliError(`tenantctl shards: --shards ${shards} is more than ${MAX_SHARDS}`, EXIT.usage);
            const layout = layoutOrFail("shards", region.regionStack, tenants, shards);
            process.stdout.write(
                `${opts.format === "json" ? layoutJson(region.regionStack, layout) : layoutTable(region.regionStack, region.config.region, layout)}\n`,
            );
        });

    program
        .command("reshard")
        .description(
            "Move a region's tenants to K shard stacks with pulumi state move, pin them, write the count, and preview every stack (must show nothing to do). Without --yes: print the plan.",
        )
        .requiredOption("--region <stack>", "the region stack, whose Pulumi.<stack>.yaml describes the region (eu-west, local)")
        .requiredOption("--shards <k>", `the new shard count (1..${MAX_SHARDS})`, positiveInt)
        .option("--manifest <file>", "manifest to read and pin instead of the region's tenant-platform:manifest")
        .option("--config-file <file>", "the region's settings file (written) instead of Pulumi.<region>.yaml")
        .option("--parallel <n>", "stacks at a time for reading state and previewing (default: the CPU count)", positiveInt)
        .option("--yes", "perform the move")
        .action(async (opts: RegionArgs & { shards: number; parallel?: number; yes?: boolean }) => {
            if (opts.shards > MAX_SHARDS) throw new CliError(`tenantctl reshard: --shards ${opts.shards} is more than ${MAX_SHARDS}`, EXIT.usage);
            const { region, tenants } = await openRegion("reshard", opts);
            try {
                const from = region.config.shards;
                const { moves } = reshardPlan(region.regionStack, tenants, from, opts.shards);
                process.stdout.write(`${planText(region.regionStack, from, opts.shards, moves, tenants.length)}\n`);
                if (!opts.yes) {
                    process.stdout.write("\nNothing was changed. Run again with --yes to move them (the moves then follow the stacks' state).\n");
                    return;
                }
                const started = Date.now();
                const result = await region.reshard({
                    toShards: opts.shards,
                    parallel: opts.parallel,
                    onStep: (line) => process.stdout.write(`${line}\n`),
                    writeLayout: (k, pins) => {
                        writeIfChanged(region.settingsFile, (text) => withShardCount(text, k));
                        writeIfChanged(region.manifestPath, (text) => withPins(text, pins));
                    },
                });
                process.stdout.write(`\n${summaryTable(result.previews)}\n\n`);
                process.stdout.write(
                    `moved ${result.moved.length} tenant(s)` +
                        (result.repaired.length > 0 ? `, repaired ${result.repaired.length} interrupted move(s)` : "") +
                        (result.removedStacks.length > 0 ? `, removed ${result.removedStacks.join(", ")}` : "") +
                        ` in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
                );
                if (result.problems.length > 0) {
                    process.stdout.write(
                        `\nthe reshard is not clean (${result.problems.length} problem(s)):\n${result.problems.map((p) => `  - ${p}`).join("\n")}\n`,
                    );
                    throw new ExitStatus(EXIT.failed);
                }
                process.stdout.write("every stack of the region previews with nothing to do\n");
            } catch (err) {
                if (err instanceof ExitStatus || err instanceof CliError) throw err;
                const { RegionError } = await import("../core/region");
                if (err instanceof RegionError) {
                    throw new CliError(
                        `tenantctl reshard: ${err.message}\nNothing is lost: run the same command again to complete the reshard (it follows the stacks' state).`,
                        EXIT.failed,
                    );
                }
                throw err;
            } finally {
                region.close();
            }
        });
}
