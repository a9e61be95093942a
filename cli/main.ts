/**
 * tenantctl: the platform's command line. Run it through ./tenantctl, which
 * picks a Node.js >= 22.
 *
 * Exit codes: 0 success, 1 the input or the check failed, 2 usage error.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import * as fs from "node:fs";
import * as path from "node:path";
import { registerServiceCommands } from "./serviceCommands";
import { formatIssues, validateManifest } from "../lib/manifest";
import { registerDriftCommands } from "./drift";

const program = new Command();
program
    .name("tenantctl")
    .description("Collect & Verything tenant platform: validate, synthesize, diff and benchmark the region stacks.")
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) })
    .showHelpAfterError("(run tenantctl --help for usage)");

function fail(message: string, code = 1): never {
    process.stderr.write(message.endsWith("\n") ? message : `${message}\n`);
    process.exit(code);
}

function tenantCounts(value: string): number[] {
    const counts = value.split(",").map((v) => Number(v.trim()));
    if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 100_000)) {
        throw new InvalidArgumentError("expected a comma-separated list of positive integers, e.g. 10,100,1000");
    }
    return counts;
}

function format(value: string): "json" | "table" {
    if (value !== "json" && value !== "table") throw new InvalidArgumentError("expected json or table");
    return value;
}

program
    .command("validate")
    .description("Validate a tenants manifest; exit 0 when valid, 1 with every problem on stderr when not.")
    .option("--manifest <file>", "manifest to validate", "tenants.yaml")
    .action((opts: { manifest: string }) => {
        let source: string;
        try {
            source = fs.readFileSync(opts.manifest, "utf8");
        } catch (err) {
            fail(`${opts.manifest}: cannot read the manifest (${(err as NodeJS.ErrnoException).code}). Fix: check the path.`);
        }
        const result = validateManifest(source, opts.manifest);
        if (!result.ok) fail(formatIssues(result.issues));
        const regions = new Map<string, number>();
        for (const t of result.manifest.tenants) regions.set(t.region, (regions.get(t.region) ?? 0) + 1);
        const summary = [...regions.entries()].map(([r, n]) => `${r}: ${n}`).join(", ");
        process.stdout.write(`${opts.manifest}: ${result.manifest.tenants.length} tenants valid (${summary || "none"})\n`);
    });

program
    .command("synth")
    .description("Evaluate the real program for a stack under a recording mock runtime and print every resource (secrets redacted).")
    .requiredOption("--stack <stack>", "stack name (eu-west, us-east, apac, local)")
    .option("--manifest <file>", "manifest to use instead of the stack's")
    .option("--format <format>", "json or table", format, "table")
    .action(async (opts: { stack: string; manifest?: string; format: "json" | "table" }) => {
        const { synthesize, synthJson, synthTable, SynthError } = await import("../core/synth");
        try {
            const result = await synthesize({ stack: opts.stack, manifest: opts.manifest });
            process.stdout.write(`${opts.format === "json" ? synthJson(result) : synthTable(result)}\n`);
        } catch (err) {
            if (err instanceof SynthError) fail(err.message);
            throw err;
        }
    });

program
    .command("diff")
    .description("Show which resources a manifest change adds, changes or removes, grouped by tenant.")
    .requiredOption("--stack <stack>", "stack name; or 'all' for every region stack")
    .requiredOption("--base <file>", "the base manifest (e.g. from the target branch)")
    .option("--manifest <file>", "the changed manifest", "tenants.yaml")
    .option("--format <format>", "markdown or json", "markdown")
    .action(async (opts: { stack: string; base: string; manifest: string; format: string }) => {
        const { runDiff } = await import("./diff");
        const code = await runDiff({ stacks: opts.stack, base: opts.base, manifest: opts.manifest, format: opts.format === "json" ? "json" : "markdown" });
        process.exit(code);
    });

program
    .command("bench")
    .description("Evaluate the program under mocks for N synthetic tenants in one region; prints CSV tenants,resources,seconds,peak_rss_mb.")
    .requiredOption("--tenants <list>", "comma-separated tenant counts, e.g. 10,100,1000", tenantCounts)
    .option("--stack <stack>", "stack whose config to use", "eu-west")
    .action(async (opts: { tenants: number[]; stack: string }) => {
        const { runBench } = await import("../bench/synth");
        await runBench(opts.tenants, opts.stack);
    });

program
    .command("purge")
    .description("Remove a cancelled tenant's data after its grace period; refuses until a final backup is recorded. Dry run without --yes.")
    .requiredOption("--stack <stack>", "the tenant's region stack")
    .requiredOption("--tenant <id>", "tenant id")
    .option("--today <date>", "evaluate the grace period as of this date (YYYY-MM-DD)")
    .option("--yes", "apply: unprotect, remove from the manifest, delete")
    .option("--config-file <file>", "stack settings file instead of Pulumi.<stack>.yaml")
    .action(async (opts: { stack: string; tenant: string; today?: string; yes?: boolean; configFile?: string }) => {
        const { purge, PurgeRefused } = await import("./purge");
        try {
            await purge(opts);
        } catch (err) {
            if (err instanceof PurgeRefused) fail(`tenantctl purge: refused: ${err.message}`);
            throw err;
        }
    });

registerServiceCommands(program);
registerDriftCommands(program);

program
    .command("_synth-worker", { hidden: true })
    .requiredOption("--stack <stack>")
    .option("--manifest <file>")
    .option("--out <file>")
    .option("--full", "write every resource instead of the figures")
    .action(async (opts: { stack: string; manifest?: string; out?: string; full?: boolean }) => {
        const { synthWorker } = await import("../bench/synth");
        await synthWorker(opts);
    });

export async function main(argv: string[]): Promise<void> {
    try {
        await program.parseAsync(argv);
    } catch (err) {
        if (err instanceof CommanderError) {
            process.exit(err.exitCode === 0 ? 0 : 2);
        }
        const message = err instanceof Error ? err.message : String(err);
        fail(`tenantctl: ${message}`);
    }
}

if (require.main === module || path.basename(process.argv[1] ?? "") === "main.ts") {
    void main(process.argv);
}
