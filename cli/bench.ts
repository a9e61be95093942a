/**
 * The benchmark commands: `tenantctl bench` (program evaluation under mocks at
 * N synthetic tenants, bench/synth.ts) and `tenantctl bench-webhooks` (the
 * service's acknowledgement latency and onboarding time, bench/webhooks.ts).
 */
import type { Command } from "commander";
import { countList, positiveInt } from "./args";

interface BenchFlags {
    rate: number;
    ackTenants: number[];
    git?: boolean;
    duration: number;
    connections: number;
    tenants: number;
    repeat: number;
    skipEngine?: boolean;
    skipAck?: boolean;
    keep?: boolean;
    stack: string;
}

export function register(program: Command): void {
    program
        .command("bench")
        .description("Evaluate the program under mocks for N synthetic tenants in one region; prints CSV tenants,resources,seconds,peak_rss_mb.")
        .requiredOption("--tenants <list>", "comma-separated tenant counts, e.g. 10,100,1000", countList)
        .option("--stack <stack>", "stack whose config to use", "eu-west")
        .action(async (opts: { tenants: number[]; stack: string }) => {
            const { runBench } = await import("../bench/synth");
            await runBench(opts.tenants, opts.stack);
        });

    program
        .command("bench-webhooks")
        .description(
            "Benchmark the webhook service: acknowledgement latency at a fixed rate (autocannon), and webhook-to-namespace-ready time on the local engine.",
        )
        .option("--rate <n>", "requests per second", positiveInt, 200)
        .option("--duration <s>", "seconds of load", positiveInt, 15)
        .option("--connections <n>", "concurrent connections of the load generator", positiveInt, 40)
        .option("--ack-tenants <list>", "manifest sizes of the acknowledgement runs (synthetic manifests), comma-separated", countList, [1000, 5000])
        .option("--git", "acknowledgement runs: commit and push every batch to a local bare repository (git time per batch)")
        .option("--tenants <n>", "tenants already in the region before the measured webhook", positiveInt, 100)
        .option("--repeat <n>", "onboardings measured per update mode (targeted, full)", positiveInt, 1)
        .option("--skip-engine", "only measure acknowledgement latency")
        .option("--skip-ack", "only measure on the engine")
        .option("--keep", "keep the temp backend and the namespaces (default: deleted)")
        .option("--stack <stack>", "the stack region eu-west deploys to", "local")
        .action(async (opts: BenchFlags) => {
            const { runWebhookBench } = await import("../bench/webhooks");
            await runWebhookBench(opts);
        });
}
