/**
 * A deployer that deploys nothing: each "update" succeeds after `delayMs`
 * (or fails as told). It ships for `tenantctl serve --fake-deployer`, the
 * target of the webhook benchmark and of the API fuzzer, where the engine
 * is not the point; the unit tests use it in-process for its records.
 */
import * as fs from "node:fs";
import type { Deployer, DeployRequest, DeployResult } from "../core/deployer";

export interface FakeDeployerOptions {
    /** Duration of each fake update in ms. Default 0. */
    readonly delayMs?: number;
    /** The error a call fails with, if any (`call` counts from 1). */
    readonly failures?: (req: DeployRequest, call: number) => Error | undefined;
    /** Awaited before the delay: a test holds a deployment until it says so. */
    readonly gate?: (req: DeployRequest, call: number) => Promise<void> | undefined;
    /**
     * A file that gets one JSON line when an update starts and one when it is
     * done (`{ event, jobId, stack, tenants, pid, t }`): a record that survives
     * the process (`kill -9` tests count what ran where).
     */
    readonly journal?: string;
}

export class FakeDeployer implements Deployer {
    readonly calls: DeployRequest[] = [];
    readonly completed: { jobId: string; stack: string; tenants: readonly string[] }[] = [];
    /** The most updates ever running at once on one stack. */
    maxActivePerStack = 0;
    private readonly activeByStack = new Map<string, number>();

    constructor(private readonly opts: FakeDeployerOptions = {}) {}

    private record(event: "start" | "done", req: DeployRequest): void {
        if (this.opts.journal === undefined) return;
        fs.appendFileSync(
            this.opts.journal,
            `${JSON.stringify({ event, jobId: req.jobId, stack: req.stack, tenants: req.tenants, pid: process.pid, t: Date.now() })}\n`,
        );
    }

    async deploy(req: DeployRequest): Promise<DeployResult> {
        this.calls.push(req);
        this.record("start", req);
        const n = (this.activeByStack.get(req.stack) ?? 0) + 1;
        this.activeByStack.set(req.stack, n);
        this.maxActivePerStack = Math.max(this.maxActivePerStack, n);
        try {
            const err = this.opts.failures?.(req, this.calls.length);
            if (err) throw err;
            req.onOutput(`Updating (${req.stack}) for ${req.tenants.join(", ")}`);
            await this.opts.gate?.(req, this.calls.length);
            await new Promise<void>((resolve, reject) => {
                const timer = setTimeout(resolve, this.opts.delayMs ?? 0);
                req.signal.addEventListener("abort", () => {
                    clearTimeout(timer);
                    reject(new Error("update cancelled"));
                });
            });
            this.completed.push({ jobId: req.jobId, stack: req.stack, tenants: req.tenants });
            this.record("done", req);
            return { targeted: false, changes: { update: req.tenants.length } };
        } finally {
            this.activeByStack.set(req.stack, (this.activeByStack.get(req.stack) ?? 1) - 1);
        }
    }
}
