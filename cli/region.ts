/**
 * `tenantctl up|preview|refresh --region R [--parallel N]`: one operation on
 * every stack of a region, the region stack and its shard stacks
 * (core/region.ts), the shards N at a time. Live progress per stack with
 * listr2 (resources done out of the stack's resource count before the run;
 * plain lines when stdout is not a terminal or CI is set), then a summary
 * table (`--json`: a JSON summary on stdout, the progress as plain lines on
 * stderr). Exit 0 when every stack succeeded, 1 when any failed (stderr
 * names them), 2 when the region could not be read.
 */
import type { Command } from "commander";
import * as os from "node:os";
import type { RegionOp } from "../core/region";
import { positiveInt } from "./args";
import { CliError, EXIT, ExitStatus } from "./errors";
import { plainProgress, regionSummary, runWithProgress, summaryTable } from "./regionReport";

export interface RegionCommandOptions {
    readonly region: string;
    readonly parallel?: number;
    readonly manifest?: string;
    readonly configFile?: string;
    /** Print the summary as JSON on stdout (regionReport.ts, RegionSummary) and the progress as plain lines on stderr. */
    readonly json?: boolean;
    /** Policy packs for up and preview. */
    readonly policyPack?: string[];
    /** Only these stacks of the region. */
    readonly stacks?: string[];
}

const VERB: Record<RegionOp, string> = { up: "Deploy", preview: "Preview", refresh: "Refresh" };

/** The action of `tenantctl up|preview|refresh`. */
export async function regionCommand(op: RegionOp, opts: RegionCommandOptions): Promise<void> {
    const { Region, RegionError } = await import("../core/region");
    const { StackFileError } = await import("../core/stackFile");
    const { StackConfigError } = await import("../stacks/config");
    let region: InstanceType<typeof Region>;
    try {
        region = new Region({ regionStack: opts.region, manifest: opts.manifest, settingsFile: opts.configFile });
    } catch (err) {
        if (err instanceof StackFileError || err instanceof RegionError) throw new CliError(`tenantctl ${op}: ${err.message}`, EXIT.usage);
        if (err instanceof StackConfigError) throw new CliError(`tenantctl ${op}: ${err.message}`, EXIT.failed);
        throw err;
    }
    try {
        const all = region.stacks();
        const unknown = (opts.stacks ?? []).filter((s) => !all.includes(s));
        if (unknown.length > 0)
            throw new CliError(
                `tenantctl ${op}: --stacks ${unknown.join(", ")} is not a stack of region ${opts.region}. Fix: choose among ${all.join(", ")}`,
                EXIT.usage,
            );
        const stacks = opts.stacks && opts.stacks.length > 0 ? all.filter((s) => opts.stacks!.includes(s)) : all;
        const runOpts = { stacks, policyPacks: opts.policyPack };
        const parallel = opts.parallel ?? os.availableParallelism();
        const header = `${VERB[op]} region ${opts.region} (${region.config.region}): ${stacks.length} stack(s), ${parallel} at a time\n`;
        let outcomes;
        if (opts.json) {
            process.stderr.write(header);
            outcomes = await region.run(op, { ...runOpts, parallel, onProgress: plainProgress(op, (line) => process.stderr.write(`${line}\n`)) });
            process.stdout.write(`${JSON.stringify(regionSummary(opts.region, op, outcomes), null, 2)}\n`);
        } else {
            process.stdout.write(header);
            outcomes = await runWithProgress((onProgress) => region.run(op, { ...runOpts, parallel, onProgress }), stacks, op);
            process.stdout.write(`\n${summaryTable(outcomes)}\n`);
        }
        const failed = outcomes.filter((o) => o.result === "failed").map((o) => o.stack);
        if (failed.length > 0) {
            process.stderr.write(`tenantctl ${op}: ${failed.length} of ${outcomes.length} stack(s) failed: ${failed.join(", ")}\n`);
            throw new ExitStatus(EXIT.failed);
        }
    } finally {
        region.close();
    }
}

/** Registers `tenantctl up`, `tenantctl preview` and `tenantctl refresh`. */
export function register(program: Command): void {
    for (const op of ["up", "preview", "refresh"] as const) {
        program
            .command(op)
            .description(`${VERB[op]} every stack of a region (the region stack, then its shard stacks in parallel); exit 1 when any stack failed.`)
            .requiredOption("--region <stack>", "the region stack, whose Pulumi.<stack>.yaml describes the region (eu-west, local)")
            .option("--parallel <n>", "stacks at a time (default: the CPU count)", positiveInt)
            .option("--manifest <file>", "manifest to deploy instead of the region's tenant-platform:manifest")
            .option("--config-file <file>", "the region's settings file instead of Pulumi.<region>.yaml")
            .option("--stacks <list>", "only these stacks of the region, comma-separated (default: all)", (v: string) =>
                v
                    .split(",")
                    .map((s) => s.trim())
                    .filter(Boolean),
            )
            .option("--policy-pack <dir>", "run up and preview under this policy pack (repeatable), e.g. policy", (v: string, prev: string[] = []) => [
                ...prev,
                v,
            ])
            .option(
                "--json",
                "print the summary as JSON on stdout ({region, op, succeeded, failed, stacks: [{stack, result, changes, seconds, error}]}), progress on stderr",
            )
            .action((opts: RegionCommandOptions) => regionCommand(op, opts));
    }
}
