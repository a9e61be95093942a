/** `tenantctl bench`: program evaluation under mocks at N synthetic tenants (bench/synth.ts). */
import type { Command } from "commander";
import { countList } from "./args";

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
}
