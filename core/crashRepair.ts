/**
 * The repair of a stack after a crashed update, shared by the region runner
 * (core/region.ts) and the webhook service's deployer (core/deployer.ts):
 * the stale-lock test and the pending-operation repair of
 * lib/crashRecovery.ts, run with the documented commands (`pulumi cancel`,
 * `pulumi refresh --import-pending-creates/--clear-pending-creates`,
 * `pulumi stack export/import`). README, "After a crash".
 */
import type { Deployment, Stack } from "@pulumi/pulumi/automation";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import { allStale, needsRepair, parseLocks, pendingRepair, refreshRepairArgs, repairLines, type PendingOperation, type StackLock } from "../lib/crashRecovery";

/** Whether a process of this host runs: signal 0 reaches it and, where /proc tells, it is not a zombie (killed, not yet reaped). */
export function processAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
    } catch (err) {
        return (err as NodeJS.ErrnoException).code === "EPERM";
    }
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
        return true;
    }
}

/** The locks an error names when every one was left by a process of this host that no longer runs; undefined otherwise (no lock, or a live or foreign one). */
export function staleLocks(err: unknown): StackLock[] | undefined {
    const locks = parseLocks(err instanceof Error ? err.message : String(err));
    return allStale(locks, os.hostname(), processAlive) ? locks : undefined;
}

/** The report line of a removed lock. */
export function lockRemovedLine(locks: readonly StackLock[]): string {
    return `removed the lock of ${locks.map((l) => `pid ${l.pid} on ${l.host} (since ${l.at})`).join(", ")}, a process that no longer runs, with pulumi cancel`;
}

/** Runs the pulumi CLI (non-interactive, no colour) in `cwd`; rejects with the end of its output. */
export function runPulumi(args: readonly string[], cwd: string, envVars: Readonly<Record<string, string>>): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile(
            "pulumi",
            [...args, "--non-interactive", "--color", "never"],
            { cwd, env: { ...process.env, ...envVars }, maxBuffer: 256 * 1024 * 1024 },
            (err, stdout, stderr) => {
                if (err) reject(new Error(`pulumi ${args.slice(0, 2).join(" ")} failed: ${`${stdout}\n${stderr}`.trim().split("\n").slice(-15).join("\n")}`));
                else resolve(stdout);
            },
        );
    });
}

interface Body {
    resources?: { urn: string }[];
    pending_operations?: PendingOperation[];
}

/**
 * Resolves the pending operations a crashed update left in `stack`'s
 * checkpoint: `refresh(args)` runs `pulumi refresh --yes --skip-preview`
 * with the flags of lib/crashRecovery.ts's plan (the caller knows the
 * stack's project directory and config file); whatever the refresh left
 * pending (it reads every resource, so their state is current) is removed
 * with `pulumi stack export` / `import` through `scratch`. Returns what was
 * done, one line each; nothing when nothing was pending.
 */
export async function repairPendingOperations(scratch: Stack, refresh: (args: string[]) => Promise<unknown>): Promise<string[]> {
    const before = (await scratch.exportStack()).deployment as Body;
    const pending = before.pending_operations ?? [];
    if (pending.length === 0) return [];
    const repair = pendingRepair(pending, new Set((before.resources ?? []).map((r) => r.urn)));
    if (!needsRepair(repair)) return [];
    await refresh(refreshRepairArgs(repair));
    const lines = repairLines(repair).map((l) => `${l} (pulumi refresh)`);
    const after: Deployment = await scratch.exportStack();
    const left = (after.deployment as Body).pending_operations ?? [];
    if (left.length > 0) {
        await scratch.importStack({ ...after, deployment: { ...(after.deployment as Body), pending_operations: [] } });
        lines.push(
            `removed ${left.length} pending operation(s) the refresh left (${left.map((p) => `${p.type} ${p.resource.urn}`).join(", ")}) with pulumi stack export/import`,
        );
    }
    return lines;
}
