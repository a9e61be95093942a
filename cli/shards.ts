/**
 * `tenantctl shards` (a region's layout: each shard stack and its tenants,
 * offline) and `tenantctl reshard` (moves tenants to a new shard count:
 * core/region.ts's Region.reshard). reshard writes the shard count into the region's settings file and the
 * pins into the manifest (cli/shardsLayout.ts).
 */
import type { Command } from "commander";
import { MAX_SHARDS, reshardPlan, type ShardedTenant } from "../lib/shards";
import { choice, positiveInt } from "./args";
import { CliError, EXIT, ExitStatus } from "./errors";
import { summaryTable } from "./regionReport";
import { layoutJson, layoutTable, planText, shardLayout, withPins, withShardCount, writeIfChanged, type ShardEntry } from "./shardsLayout";

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

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface AffectedArgs {
    readonly baseLayout: string[];
    readonly headLayout: string[];
    readonly baseManifest?: string;
    readonly manifest: string;
    readonly manifestPath: string;
    readonly changedFiles: string;
    readonly format: "json" | "markdown";
}

/** `tenantctl affected-stacks`: reads the layouts, manifests and changed paths, prints lib/affectedStacks.ts's answer. */
async function affectedCommand(opts: AffectedArgs): Promise<void> {
    const fs = await import("node:fs");
    const { affectedMarkdown, affectedStacks } = await import("../lib/affectedStacks");
    const read = (file: string, what: string) => {
        try {
            return fs.readFileSync(file === "-" ? 0 : file, "utf8");
        } catch (err) {
            throw new CliError(`tenantctl affected-stacks: cannot read ${what} ${file}: ${(err as Error).message}`, EXIT.usage);
        }
    };
    const layout = (file: string) => {
        const v = JSON.parse(read(file, "layout")) as { region?: unknown; shards?: unknown };
        if (typeof v.region !== "string" || !Array.isArray(v.shards))
            throw new CliError(`tenantctl affected-stacks: ${file} is not the output of tenantctl shards --format json ({"region","shards"})`, EXIT.usage);
        return v as { region: string; shards: { stack: string; tenants: string[] }[] };
    };
    const result = affectedStacks({
        base: opts.baseLayout.filter((f) => fs.existsSync(f)).map(layout),
        head: opts.headLayout.map(layout),
        baseManifest: opts.baseManifest !== undefined && fs.existsSync(opts.baseManifest) ? read(opts.baseManifest, "base manifest") : undefined,
        headManifest: read(opts.manifest, "manifest"),
        changedFiles: read(opts.changedFiles, "changed-files list")
            .split("\n")
            .map((l) => l.trim())
            .filter((l) => l !== ""),
        manifestPath: opts.manifestPath,
    });
    process.stdout.write(opts.format === "markdown" ? affectedMarkdown(result) : `${JSON.stringify(result)}\n`);
}

/** Registers `tenantctl shards`, `tenantctl reshard` and `tenantctl affected-stacks`. */
export function register(program: Command): void {
    program
        .command("affected-stacks")
        .description(
            "The stacks a change touches (its tenants, a region's settings, the program), from the layouts of `tenantctl shards --format json` before and after, the two manifests and the changed paths. JSON {include:[{region,stack,reasons}],unaffected:[stacks]} (a GitHub Actions matrix) or markdown.",
        )
        .requiredOption("--head-layout <file>", "a region's `tenantctl shards --format json` after the change (repeatable, one per region)", collect)
        .option("--base-layout <file>", "the same region's layout on the base branch (repeatable; a missing file is a new region)", collect, [])
        .option("--base-manifest <file>", "the base branch's manifest (a missing file: every tenant is new)")
        .option("--manifest <file>", "the manifest after the change", "tenants.yaml")
        .option("--manifest-path <path>", "the manifest's path in the repository, as the changed-files list names it", "tenants.yaml")
        .requiredOption("--changed-files <file>", "the changed paths, one a line (`git diff --name-only base head`; - for stdin)")
        .option("--format <format>", "json or markdown", choice(["json", "markdown"] as const), "json")
        .action((opts: AffectedArgs) => affectedCommand(opts));

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
