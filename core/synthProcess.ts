/**
 * One synth in a fresh process. The Pulumi runtime is a process-wide
 * singleton, so every evaluation that must not share one (the two sides of a
 * diff, each size of the bench, whose peak RSS must be its own) runs this
 * module as a child:
 *
 *   node --import tsx core/synthProcess.ts --stack S [--manifest F] --out FILE [--full]
 *
 * It writes the figures (`{resources, seconds, peakRssMb}`) or, with --full,
 * every recorded resource, as JSON to FILE.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs, promisify } from "node:util";
import type { SynthResource } from "./synth";

const execFileAsync = promisify(execFile);

export interface SynthFigures {
    readonly resources: number;
    readonly seconds: number;
    readonly peakRssMb: number;
}

export interface SynthRecord {
    readonly stack: string;
    readonly region: string;
    readonly resources: SynthResource[];
}

interface ChildOptions {
    readonly stack: string;
    readonly manifest?: string;
    /** Where the child writes its JSON. */
    readonly out: string;
}

async function runChild(opts: ChildOptions, full: boolean): Promise<void> {
    const args = [...process.execArgv, __filename, "--stack", opts.stack, "--out", opts.out];
    if (opts.manifest) args.push("--manifest", opts.manifest);
    if (full) args.push("--full");
    // The child's own errors (an invalid manifest, a refused config) reach the caller in the rejection's stderr.
    await execFileAsync(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 });
}

/** Synthesizes in a child process and returns its figures. */
export async function synthFigures(opts: ChildOptions): Promise<SynthFigures> {
    await runChild(opts, false);
    return JSON.parse(fs.readFileSync(opts.out, "utf8")) as SynthFigures;
}

/** Synthesizes in a child process and returns every recorded resource. */
export async function synthRecord(opts: ChildOptions): Promise<SynthRecord> {
    await runChild(opts, true);
    return JSON.parse(fs.readFileSync(opts.out, "utf8")) as SynthRecord;
}

async function worker(argv: string[]): Promise<void> {
    const { values } = parseArgs({
        args: argv,
        options: { stack: { type: "string" }, manifest: { type: "string" }, out: { type: "string" }, full: { type: "boolean", default: false } },
        strict: true,
    });
    if (!values.stack || !values.out) throw new Error("synthProcess: --stack and --out are required");
    const { synthesize } = await import("./synth");
    const result = await synthesize({ stack: values.stack, manifest: values.manifest });
    const body: SynthRecord | SynthFigures = values.full
        ? { stack: result.stack, region: result.region, resources: result.resources }
        : { resources: result.resources.length, seconds: result.seconds, peakRssMb: process.resourceUsage().maxRSS / 1024 };
    fs.writeFileSync(values.out, JSON.stringify(body));
}

if (require.main === module || path.basename(process.argv[1] ?? "") === "synthProcess.ts") {
    worker(process.argv.slice(2)).catch((err: unknown) => {
        process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
    });
}
