/**
 * What the region commands (cli/region.ts, cli/shards.ts) print: each
 * stack's live progress with listr2, and the summary table. No commander
 * here, so the unit tests can load it.
 */
import type { RegionOp, StackOutcome, StackProgress } from "../core/region";

/** One stack's progress in a few words: `running 34/52`, `succeeded 52`. */
export function progressText(p: StackProgress): string {
    const count = p.total !== undefined && p.total >= p.done ? `${p.done}/${p.total}` : `${p.done}`;
    if (p.state === "queued") return `queued${p.total !== undefined ? ` (${p.total} resources)` : ""}`;
    if (p.state === "failed") return `failed after ${count} resources`;
    return `${p.state} ${count} resources`;
}

/** `create 17, same 3`: the engine's counts by operation, `same` last. */
export function changesText(changes: Readonly<Record<string, number>>): string {
    const ops = Object.entries(changes).filter(([, n]) => n > 0);
    ops.sort(([a], [b]) => (a === "same" ? 1 : b === "same" ? -1 : a.localeCompare(b)));
    return ops.map(([op, n]) => `${op} ${n}`).join(", ") || "-";
}

/** The summary table of a region run, and the failures' reasons under it. */
export function summaryTable(outcomes: readonly StackOutcome[]): string {
    const rows = [["stack", "result", "changes", "seconds"], ...outcomes.map((o) => [o.stack, o.result, changesText(o.changes), o.seconds.toFixed(1)])];
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    const line = (r: string[]) =>
        r
            .map((cell, c) => (c === 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
            .join("  ")
            .trimEnd();
    const out = [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)];
    const failed = outcomes.filter((o) => o.result === "failed");
    out.push("", `${outcomes.length - failed.length} of ${outcomes.length} stack(s) succeeded`);
    for (const o of outcomes.filter((x) => x.recovered.length > 0))
        out.push("", `${o.stack} recovered from a crashed update:`, ...o.recovered.map((l) => `  ${l}`));
    for (const f of failed)
        out.push(
            "",
            `${f.stack} failed:`,
            ...(f.error ?? "unknown error")
                .split("\n")
                .slice(0, 12)
                .map((l) => `  ${l}`),
        );
    return out.join("\n");
}

/** The machine-readable summary of a region run (`--json`): every stack's outcome, in run order. */
export interface RegionSummary {
    readonly region: string;
    readonly op: RegionOp;
    /** Whether every stack succeeded (the exit code is 0 exactly then). */
    readonly succeeded: boolean;
    readonly failed: string[];
    readonly stacks: {
        stack: string;
        result: StackOutcome["result"];
        changes: Record<string, number>;
        seconds: number;
        error?: string;
        /** What was repaired after a crashed update (StackOutcome.recovered); absent when nothing was. */
        recovered?: string[];
    }[];
}

export function regionSummary(regionStack: string, op: RegionOp, outcomes: readonly StackOutcome[]): RegionSummary {
    const failed = outcomes.filter((o) => o.result === "failed").map((o) => o.stack);
    return {
        region: regionStack,
        op,
        succeeded: failed.length === 0,
        failed,
        stacks: outcomes.map((o) => ({
            stack: o.stack,
            result: o.result,
            changes: { ...o.changes },
            seconds: Math.round(o.seconds * 10) / 10,
            ...(o.error !== undefined ? { error: o.error } : {}),
            ...(o.recovered.length > 0 ? { recovered: [...o.recovered] } : {}),
        })),
    };
}

/** Progress as plain lines (`--json` writes them to stderr): every state change, a running stack at most every `everyMs`. */
export function plainProgress(op: RegionOp, write: (line: string) => void, everyMs = 2000, now = () => Date.now()): (p: StackProgress) => void {
    const last = new Map<string, { state: string; at: number }>();
    return (p) => {
        const prev = last.get(p.stack);
        if (prev && prev.state === p.state && now() - prev.at < everyMs) return;
        last.set(p.stack, { state: p.state, at: now() });
        write(`${p.stack}  ${op}  ${progressText(p)}${p.state === "failed" && p.error ? `: ${p.error.split("\n")[0]}` : ""}`);
    };
}

/** Whether progress is drawn in place (a terminal, not CI) or printed as plain lines. */
function interactive(): boolean {
    return process.stdout.isTTY === true && !process.env.CI;
}

/**
 * Runs `op` over the region with listr2 showing each stack's progress.
 * listr2 only draws: the order and the bound come from core/region.ts.
 */
export async function runWithProgress(
    run: (onProgress: (p: StackProgress) => void) => Promise<StackOutcome[]>,
    stacks: readonly string[],
    op: RegionOp,
): Promise<StackOutcome[]> {
    const { Listr } = await import("listr2");
    type Task = { title: string | undefined; output: string | undefined };
    const tty = interactive();
    const width = Math.max(...stacks.map((s) => s.length));
    const latest = new Map<string, StackProgress>();
    const tasks = new Map<string, Task>();
    const printed = new Map<string, number>();
    const settle = new Map<string, { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void }>();
    for (const s of stacks) {
        let resolve!: () => void;
        let reject!: (e: Error) => void;
        const promise = new Promise<void>((res, rej) => {
            resolve = res;
            reject = rej;
        });
        settle.set(s, { promise, resolve, reject });
    }
    const show = (p: StackProgress) => {
        const task = tasks.get(p.stack);
        if (!task) return;
        const text = `${p.stack.padEnd(width)}  ${op}  ${progressText(p)}`;
        if (tty) task.title = text;
        else if (p.state === "running" && Date.now() - (printed.get(p.stack) ?? 0) >= 2000) {
            // Plain lines: at most one every 2 s per stack.
            printed.set(p.stack, Date.now());
            task.output = text;
        } else if (p.state !== "running") task.title = text;
    };
    const onProgress = (p: StackProgress) => {
        latest.set(p.stack, p);
        show(p);
        if (p.state === "succeeded") settle.get(p.stack)?.resolve();
        if (p.state === "failed") settle.get(p.stack)?.reject(new Error((p.error ?? "failed").split("\n")[0]));
    };
    const list = new Listr(
        stacks.map((stack) => ({
            title: `${stack.padEnd(width)}  ${op}  queued`,
            task: async (_ctx: unknown, task: Task) => {
                tasks.set(stack, task);
                const p = latest.get(stack);
                if (p) show(p);
                await settle.get(stack)!.promise;
            },
        })),
        {
            concurrent: true,
            exitOnError: false,
            renderer: tty ? "default" : "simple",
            rendererOptions: { collapseErrors: false },
        },
    );
    const drawn = list.run();
    let outcomes: StackOutcome[];
    try {
        outcomes = await run(onProgress);
    } finally {
        // A stack that never reported an end (the run threw) must not hold the display open.
        for (const s of stacks) settle.get(s)!.resolve();
        await drawn.catch(() => undefined);
    }
    return outcomes;
}
