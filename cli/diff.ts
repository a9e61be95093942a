/**
 * `tenantctl diff`: what a manifest change does to each region stack, per
 * tenant, computed from two offline synths (base and changed manifest), each
 * in its own process. This is what a reviewer reads on a pull request; an
 * unsafe change (see lib/manifestDiff.ts) exits 1.
 */
import type { Command } from "commander";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { synthRecord } from "../core/synthProcess";
import { formatIssues, validateManifest } from "../lib/manifest";
import { diffResources, isUnsafe, markdown, movesTouching, regionMoves, type StackDiff } from "../lib/manifestDiff";
import { REGIONS } from "../lib/regions";
import { choice } from "./args";
import { CliError, EXIT, ExitStatus } from "./errors";
import { readManifestSource } from "./files";

/** Runs `tasks` with at most `limit` at a time. */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
    const results = new Array<T>(tasks.length);
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.min(limit, tasks.length) }, async () => {
            while (next < tasks.length) {
                const i = next++;
                results[i] = await tasks[i]();
            }
        }),
    );
    return results;
}

export interface DiffOptions {
    readonly stacks: string;
    readonly base: string;
    readonly manifest: string;
    readonly format: "markdown" | "json";
}

/** Prints the diff; returns whether the change is unsafe. */
export async function runDiff(opts: DiffOptions): Promise<boolean> {
    const baseSrc = readManifestSource(opts.base);
    const nextSrc = readManifestSource(opts.manifest);
    const baseRes = validateManifest(baseSrc, opts.base);
    const nextRes = validateManifest(nextSrc, opts.manifest);
    if (!nextRes.ok) throw new CliError(formatIssues(nextRes.issues));
    if (!baseRes.ok) {
        process.stderr.write(`the base manifest is invalid; diffing against an empty base.\n`);
    }
    const baseTenants = baseRes.ok ? baseRes.manifest.tenants : [];
    const moves = regionMoves(baseTenants, nextRes.manifest.tenants);

    const stacks = opts.stacks === "all" ? [...REGIONS] : opts.stacks.split(",");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tenantctl-diff-"));
    try {
        const emptyBase = path.join(dir, "empty.yaml");
        fs.writeFileSync(emptyBase, "tenants: []\n");
        const baseFile = baseRes.ok ? opts.base : emptyBase;
        const jobs = stacks.flatMap((stack) => [
            () => synthRecord({ stack, manifest: baseFile, out: path.join(dir, `${stack}-base.json`) }),
            () => synthRecord({ stack, manifest: opts.manifest, out: path.join(dir, `${stack}-next.json`) }),
        ]);
        const synths = await pool(jobs, Math.max(1, Math.min(os.availableParallelism(), 4)));
        const diffs: StackDiff[] = stacks.map((stack, i) => {
            const [b, n] = [synths[2 * i], synths[2 * i + 1]];
            const region = n.region;
            return {
                stack,
                region,
                changes: diffResources(b.resources, n.resources),
                findings: movesTouching(moves, region).map((m) => m.message),
            };
        });
        process.stdout.write(opts.format === "json" ? `${JSON.stringify(diffs, null, 2)}\n` : `${markdown(diffs)}\n`);
        const unsafe = isUnsafe(diffs);
        if (unsafe) process.stderr.write("tenantctl diff: this change is unsafe (see ⛔ / Refused above)\n");
        return unsafe;
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

export function register(program: Command): void {
    program
        .command("diff")
        .description("Show which resources a manifest change adds, changes or removes, grouped by tenant; exit 1 when the change is unsafe.")
        .requiredOption("--stack <stack>", "stack name, a comma-separated list, or 'all' for every region stack")
        .requiredOption("--base <file>", "the base manifest (e.g. from the target branch)")
        .option("--manifest <file>", "the changed manifest", "tenants.yaml")
        .option("--format <format>", "markdown or json", choice(["markdown", "json"] as const), "markdown")
        .action(async (opts: { stack: string; base: string; manifest: string; format: "markdown" | "json" }) => {
            const unsafe = await runDiff({ stacks: opts.stack, base: opts.base, manifest: opts.manifest, format: opts.format });
            if (unsafe) throw new ExitStatus(EXIT.failed);
        });
}
