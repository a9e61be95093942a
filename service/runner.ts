/**
 * Runs one claimed deployment job: the region stack's update with retries
 * (a stack locked by another update is waited out with exponential backoff),
 * an AbortSignal deadline for a stuck run, then the job's final state, the
 * tenants' states and the platform events, written in one transaction.
 *
 * The job is held under a lease (service/store.ts): the runner renews it
 * every third of its duration while the update runs (the heartbeat). A
 * renewal refused (the lease expired, e.g. the process was stopped for
 * longer than the lease, and another replica took the job) aborts the
 * update, and the finish is refused too: only the lease holder completes a
 * job (fencing).
 */
import { backOff } from "exponential-backoff";
import type { Logger } from "pino";
import type { Deployer } from "../core/deployer";
import { isConcurrentUpdate } from "../core/deployer";
import { appliedEnvelope, envelope, type Envelope } from "./events";
import type { Metrics } from "./metrics";
import type { TenantState } from "./schemas";
import { LeaseLost, type JobRecord, type Store, type TenantRecord } from "./store";
import type { CredentialLocations } from "../lib/credentials";
import type { TenantRotations } from "../lib/rotation";
import { mergeLocations, stackCredentials, type CredentialsResolver } from "./credentials";

export interface RunnerOptions {
    /** Attempts for errors other than a held stack lock. Default 3. */
    readonly maxAttempts?: number;
    /** Attempts while the stack is locked by another update. Default 40 (about 10 minutes with the default delays). */
    readonly lockAttempts?: number;
    /** First retry delay in ms. Default 1000. */
    readonly retryDelayMs?: number;
    /** Longest retry delay in ms. Default 20000. */
    readonly maxRetryDelayMs?: number;
    /** A run taking longer than this is cancelled through its AbortSignal. Default 30 minutes. */
    readonly timeoutMs?: number;
    /** Where a deployed tenant's credentials are. Default: from the stack settings files of this project (service/credentials.ts). */
    readonly credentials?: CredentialsResolver;
    /**
     * Runs before each update attempt. The service puts its git clone on the remote tip there: the job may come from a
     * batch another replica pushed, and an update of an older manifest misses its tenants (a targeted `up` then fails
     * "Target … could not be found in the stack"; a full one would plan to delete the newer tenants).
     */
    readonly beforeDeploy?: () => Promise<void>;
}

const LOG_TAIL = 50;

/** The tenant state after a successful deployment, from its manifest status. */
export function settledState(manifestStatus: string | null): TenantState {
    switch (manifestStatus) {
        case "cancelled":
            return "offboarding";
        case "suspended":
            return "suspended";
        default:
            return "active";
    }
}

export class AbortError extends Error {
    /** `requeue`: the service is stopping; the job goes back to its queue instead of ending cancelled. */
    constructor(
        message: string,
        readonly requeue = false,
    ) {
        super(message);
        this.name = "AbortError";
    }
}

export class JobRunner {
    /** Log tails of running jobs, by job id. */
    readonly liveTails = new Map<string, string[]>();
    private readonly controllers = new Map<string, AbortController>();
    private readonly resolveCredentials: CredentialsResolver;

    constructor(
        private readonly store: Store,
        private readonly deployer: Deployer,
        private readonly metrics: Metrics,
        private readonly log: Logger,
        private readonly opts: RunnerOptions = {},
        private readonly onFinished: () => void = () => undefined,
    ) {
        this.resolveCredentials = opts.credentials ?? stackCredentials();
    }

    /**
     * Where a tenant's credentials are: what its last successful job
     * reported, or, for a tenant the service never deployed (`stack`
     * given: deployed by the CLI), what the stack's settings say (no ARN).
     */
    async credentialsOf(tenantId: string, stack?: string, rotations?: TenantRotations): Promise<CredentialLocations | null> {
        const recorded = (await this.store.credentialsOf(tenantId)) as CredentialLocations | undefined;
        return recorded ?? (stack === undefined ? null : this.resolveCredentials(stack, tenantId, undefined, rotations));
    }

    /** Cancels a running job (or every running job): its update is interrupted through its AbortSignal. */
    cancel(jobId?: string, reason = "cancelled by the service", requeue = false): void {
        for (const [id, c] of this.controllers) if (jobId === undefined || id === jobId) c.abort(new AbortError(reason, requeue));
    }

    get running(): number {
        return this.controllers.size;
    }

    async run(job: JobRecord): Promise<JobRecord> {
        const log = this.log.child({ jobId: job.id, stack: job.stack, region: job.region, tenantId: job.tenants.join(",") });
        const controller = new AbortController();
        this.controllers.set(job.id, controller);
        const timer = setTimeout(
            () => controller.abort(new AbortError(`the update ran longer than ${this.opts.timeoutMs ?? 1_800_000} ms`)),
            this.opts.timeoutMs ?? 1_800_000,
        );
        const tail: string[] = [];
        this.liveTails.set(job.id, tail);
        // The heartbeat: the lease renewed every third of its duration; lost, the update is aborted (another replica has the job).
        let leaseLost = false;
        const heartbeat = setInterval(
            () => {
                this.store.renewLease(job).catch((err: unknown) => {
                    if (!(err instanceof LeaseLost)) return log.warn({ err: errorText(err) }, "lease not renewed; trying again");
                    leaseLost = true;
                    controller.abort(new AbortError("the job's lease was lost: another replica runs it"));
                });
            },
            Math.max(1, Math.floor(this.store.leaseMs / 3)),
        );
        const started = process.hrtime.bigint();
        const maxAttempts = this.opts.maxAttempts ?? 3;
        const lockAttempts = this.opts.lockAttempts ?? 40;
        let otherFailures = 0;
        let lockFailures = 0;
        log.info({ attempt: job.attempts, events: job.events }, "job started");
        let targeted = false;
        let outputs: Readonly<Record<string, unknown>> | undefined;
        let error: string | undefined;
        let state: "succeeded" | "failed" | "cancelled" = "succeeded";
        try {
            const result = await backOff(
                async () => {
                    await this.opts.beforeDeploy?.();
                    return this.deployer.deploy({
                        jobId: job.id,
                        region: job.region,
                        stack: job.stack,
                        tenants: job.tenants,
                        signal: controller.signal,
                        onOutput: (line) => {
                            tail.push(line);
                            if (tail.length > LOG_TAIL) tail.shift();
                        },
                    });
                },
                {
                    numOfAttempts: maxAttempts + lockAttempts,
                    startingDelay: this.opts.retryDelayMs ?? 1000,
                    maxDelay: this.opts.maxRetryDelayMs ?? 20_000,
                    timeMultiple: 2,
                    jitter: "full",
                    retry: (err: unknown, attempt: number) => {
                        if (controller.signal.aborted) return false;
                        if (isConcurrentUpdate(err)) {
                            lockFailures++;
                            this.metrics.lockRetries.inc({ stack: job.stack });
                            log.warn({ attempt }, "stack locked by another update; waiting");
                            return lockFailures < lockAttempts;
                        }
                        otherFailures++;
                        log.warn({ attempt, err: errorText(err) }, "update failed; retrying");
                        return otherFailures < maxAttempts;
                    },
                },
            );
            targeted = result.targeted;
            outputs = result.outputs;
            log.info({ changes: result.changes, targeted }, "update succeeded");
        } catch (err) {
            state = controller.signal.aborted ? "cancelled" : "failed";
            error = controller.signal.aborted ? errorText(controller.signal.reason) : errorText(err);
            const shutdown = controller.signal.reason instanceof AbortError && controller.signal.reason.requeue;
            if (!shutdown) log.error({ err: error, state }, "job did not succeed");
        } finally {
            clearTimeout(timer);
            clearInterval(heartbeat);
            this.controllers.delete(job.id);
            this.liveTails.delete(job.id);
        }
        if (leaseLost) {
            log.warn("the job's lease was lost while it ran; its new holder finishes it");
            return job;
        }
        const reason: unknown = controller.signal.reason;
        if (state === "cancelled" && reason instanceof AbortError && reason.requeue) {
            log.warn("update interrupted by shutdown; the job stays queued and resumes on restart");
            return this.store.requeue(job);
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.metrics.jobSeconds.observe({ stack: job.stack, state, targeted: String(targeted) }, seconds);
        if (state !== "succeeded") this.metrics.jobFailures.inc({ stack: job.stack, state });

        const tenantStates = new Map<string, TenantState>();
        const outbox: { routingKey: string; body: string }[] = [];
        const now = new Date();
        const tenants = new Map<string, TenantRecord>();
        for (const id of job.tenants) {
            const t = await this.store.getTenant(id);
            if (t) tenants.set(id, t);
            tenantStates.set(id, state === "succeeded" ? settledState(t?.manifestStatus ?? null) : "failed");
        }
        // Where each deployed tenant's credentials are (names and ARNs, never values), kept for GET /tenants/:id.
        let credentials = new Map<string, CredentialLocations | null>();
        // The status each tenant had before this job, as the last successful one deployed it (undefined: none known).
        let previous = new Map<string, string | undefined>();
        if (state === "succeeded") {
            // The rows of the whole job in one transaction (one fsync, not two per tenant: a job coalescing 500 tenants stalled the
            // event loop for seconds).
            const rows = job.tenants.map((id) => {
                let found: CredentialLocations | null;
                try {
                    found = this.resolveCredentials(job.stack, id, outputs);
                } catch (err) {
                    log.warn({ err: errorText(err) }, "credential locations not recorded");
                    found = null;
                }
                return { tenantId: id, status: tenants.get(id)?.manifestStatus ?? undefined, credentials: found };
            });
            try {
                const recorded = await this.store.recordDeployed(rows, (_id, found, before) =>
                    mergeLocations(found as CredentialLocations, before as CredentialLocations | undefined),
                );
                previous = recorded.previous;
                credentials = recorded.credentials as Map<string, CredentialLocations | null>;
            } catch (err) {
                log.warn({ err: errorText(err) }, "deployed status and credential locations not recorded");
            }
        }
        const announced = new Set<string>();
        for (const ev of await this.store.eventsOf(job)) {
            const t = tenants.get(ev.tenantId);
            const info = { id: ev.tenantId, websiteId: ev.websiteId, region: ev.region };
            let env: Envelope;
            if (state === "succeeded") {
                const deployed = t ? { tier: t.tier, status: t.manifestStatus } : undefined;
                env = appliedEnvelope(ev, deployed, previous.get(ev.tenantId), job.id, now, () => credentials.get(ev.tenantId));
            } else {
                // One failure event per tenant, whatever number of events it had in the job.
                if (announced.has(ev.tenantId)) continue;
                announced.add(ev.tenantId);
                env = envelope("tenant.provisioning_failed", info, { job_id: job.id, billing_event_id: ev.id, error: error ?? state }, now);
            }
            outbox.push({ routingKey: env.event, body: JSON.stringify(env) });
        }
        let done: JobRecord;
        try {
            done = await this.store.finishJob(job, { state, error, logTail: tail, targeted }, tenantStates, outbox, now);
        } catch (err) {
            if (!(err instanceof LeaseLost)) throw err;
            log.warn("the job's lease expired before it finished; its new holder finishes it");
            return job;
        }
        log.info({ state, seconds: Math.round(seconds * 1000) / 1000 }, "job finished");
        this.onFinished();
        return done;
    }
}

export function errorText(err: unknown): string {
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    // The engine's messages can be long; the tail is in the job's log.
    return text.length > 2000 ? `${text.slice(0, 2000)}...` : text;
}
