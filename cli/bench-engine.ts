/**
 * `tenantctl bench-engine --tenants 25,50 --shards 1,2`: a region on the real
 * engine (local stack, temp file backend), one row per size and shard count:
 * first deploy from empty, a no-op preview, one onboarding through the
 * webhook service to namespace Active, the largest stack's state file and
 * the pulumi processes' CPU seconds (bench/engine.ts). CSV on stdout,
 * progress on stderr. Heavy: run it under `flock /tmp/cv-heavy.lock`.
 */
import type { Command } from "commander";
import { MAX_SHARDS } from "../lib/shards";
import { countList, positiveInt } from "./args";
import { CliError, EXIT } from "./errors";

interface BenchEngineFlags {
    tenants: number[];
    shards: number[];
    parallel?: number;
    keep?: boolean;
    engineParallel?: number;
    concurrentOnboardings?: number;
    resume?: string;
    resumeElapsed?: number;
}

export function register(program: Command): void {
    program
        .command("bench-engine")
        .description(
            "Benchmark a region on the real engine, 1 shard and K shards side by side; prints CSV tenants,shards,resources,first_up_s,noop_preview_s,onboard_active_s,largest_state_mb,pulumi_cpu_s.",
        )
        .requiredOption("--tenants <list>", "comma-separated region sizes, e.g. 25,50,100", countList)
        .option("--shards <list>", `comma-separated shard counts (1..${MAX_SHARDS}), e.g. 1,2,4`, countList, [1])
        .option("--parallel <n>", "stacks at a time in the first up and the preview (default: the CPU count)", positiveInt)
        .option("--keep", "keep each run's temp backend and namespaces (default: deleted)")
        .option("--engine-parallel <n>", "pulumi up|preview --parallel: resource operations at a time within one stack (default: the CLI's)", positiveInt)
        .option("--resume <dir>", "resume an interrupted run from its temp dir (kept when the run was killed): deploy the stacks not done yet, then go on")
        .option("--resume-elapsed <seconds>", "seconds the interrupted first up had run, added to the first up figure", positiveInt)
        .option(
            "--concurrent-onboardings <n>",
            "after the single onboarding, send this many at once through the webhook service and time them until every namespace is Active",
            positiveInt,
        )
        .action(async (opts: BenchEngineFlags) => {
            const tooMany = opts.shards.find((k) => k > MAX_SHARDS);
            if (tooMany !== undefined)
                throw new CliError(`tenantctl bench-engine: --shards ${tooMany} is more than ${MAX_SHARDS}. Fix: choose 1..${MAX_SHARDS}`, EXIT.usage);
            const { runEngineBench } = await import("../bench/engine");
            await runEngineBench(opts);
        });
}
