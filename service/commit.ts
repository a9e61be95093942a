/**
 * Group commit of billing events into tenants.yaml.
 *
 * The manifest has one writer at a time (the lock), so events are applied
 * in batches: every delivery that arrives while a batch is being committed
 * waits for the next one, and a batch costs one lock, one read, one parse,
 * one validation of the result (lib/manifest.ts, the CLI's validator), one
 * atomic write and one SQLite transaction recording its events and jobs,
 * whatever its size. A batch whose combined result is invalid falls back to
 * applying its events one by one (applyEvents), so each bad event gets its
 * own 422 and the good ones still land.
 *
 * Guarantees, per event, as with one event at a time: nothing is written
 * for a refused event; an event id already in the store (or earlier in the
 * same batch) is a duplicate and changes nothing, or a conflict when its
 * body differs; an event older than the last one applied to its tenant is
 * stale and changes nothing; the events of a batch take effect in arrival
 * order.
 *
 * The store and the manifest are two files, so a batch is written in three
 * steps, each waiting for a locked store on timers (Store.attempt), never
 * inside a synchronous SQLite call:
 *   1. an intent (the batch's deliveries) is recorded durably in the store;
 *   2. the manifest is written;
 *   3. the events, jobs and tenant states are recorded, and the intent
 *      closed, in one transaction.
 * A locked store at step 1 refuses the batch (503) with nothing written.
 * Between 2 and 3 (the store locked for longer than its deadline, or a
 * crash) the intent stays open: its tenants read as pending, never as
 * deployed, and its deliveries are applied again (a no-op edit for a change
 * already in the manifest, which still records the event and queues its
 * job) at the next batch, on a timer, and when the service starts.
 */
import { createHash } from "node:crypto";
import type { ManifestFile } from "../core/manifestFile";
import type { TenantSpec } from "../lib/manifest";
import { applyEvents, EditError, StaleEvent, type TimedEvent } from "../lib/manifestEdit";
import type { AcceptedEvent, EventRecord, IntentRecord, JobRecord, StaleRecord, Store } from "./store";

export interface Delivery {
    readonly id: string;
    readonly event: TimedEvent;
}

export type CommitOutcome =
    | { readonly kind: "duplicate"; readonly record: EventRecord }
    /** The id was received before with another body: nothing is applied. `receivedAt`: when the first one was recorded, if it was. */
    | { readonly kind: "conflict"; readonly receivedAt?: string }
    | { readonly kind: "rejected"; readonly error: EditError }
    | { readonly kind: "stale"; readonly stale: StaleEvent }
    | { readonly kind: "applied"; readonly changed: boolean; readonly tenant: TenantSpec; readonly job: JobRecord | null; readonly newJob: boolean };

export interface CommitterOptions {
    /** The manifest's file name, for the validator's messages. */
    readonly file: string;
    /** The stack a tenant's deployment runs in: its region's stack, or its shard's (service/queue.ts, tenantStack). */
    readonly stackOf: (region: string, tenant: TenantSpec) => string;
    /** Most deliveries in one batch. Default 256. */
    readonly maxBatch?: number;
    /** Longest time the lock is held for consecutive batches before other writers get a turn, in ms. Default 250. */
    readonly maxLockMs?: number;
    /** Called after each committed batch (metrics). */
    readonly onBatch?: (stats: { size: number; validations: number; written: boolean }) => void;
    /** Announces a job created for a delivery applied again from an open intent (no request waits for it). */
    readonly announce?: (job: JobRecord) => Promise<void>;
    /** Delay before an open intent is applied again when no delivery comes, in ms. Default 1000. */
    readonly recoverDelayMs?: number;
}

/** Canonical JSON: object keys sorted at every level, so one event's digest does not depend on how its body was written. */
function canonical(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
    if (value !== null && typeof value === "object") {
        const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
        return `{${entries
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
            .join(",")}}`;
    }
    return JSON.stringify(value);
}

/** SHA-256 (hex) of an event's body (type, created, data) in canonical JSON: a redelivery has the same digest, another event under the same id does not. */
export function eventDigest(event: TimedEvent): string {
    return createHash("sha256")
        .update(canonical({ type: event.type, created: event.created, data: event.data }))
        .digest("hex");
}

interface Pending extends Delivery {
    readonly digest: string;
    readonly resolve: (o: CommitOutcome) => void;
    readonly reject: (err: unknown) => void;
}

type Slot =
    | { kind: "duplicate"; record: EventRecord }
    | { kind: "conflict"; receivedAt?: string }
    | { kind: "same-as"; index: number }
    | { kind: "apply"; index: number };

const ignore = () => undefined;

export class EventCommitter {
    private pending: Pending[] = [];
    private draining: Promise<void> | undefined;
    /** A manifest text known to be valid (the last one validated or written): the next batch skips re-validating it. */
    private knownValid: string | undefined;
    /** A batch with no delivery is due, to apply open intents again. */
    private recoverDue = false;
    private recoverTimer: NodeJS.Timeout | undefined;
    private closed = false;

    constructor(
        private readonly manifest: ManifestFile,
        private readonly store: Store,
        private readonly opts: CommitterOptions,
    ) {}

    /** Queues a delivery for the next batch; resolves once its batch is committed (or refused). */
    submit(delivery: Delivery): Promise<CommitOutcome> {
        return new Promise<CommitOutcome>((resolve, reject) => {
            this.pending.push({ ...delivery, digest: eventDigest(delivery.event), resolve, reject });
            this.draining ??= this.drain();
        });
    }

    /** Applies the intents a crash or a locked store left open (at start, and on a timer after a failed batch); resolves when done. */
    async recover(): Promise<void> {
        this.recoverDue = true;
        this.draining ??= this.drain();
        await this.idle();
    }

    /** Whether `text` is a manifest the committer validated or wrote itself (then known valid). */
    knowsValid(text: string): boolean {
        return text === this.knownValid;
    }

    /** Resolves when every submitted delivery has been answered. */
    async idle(): Promise<void> {
        while (this.draining) await this.draining;
    }

    /** Stops the recovery timer (the service is stopping). */
    close(): void {
        this.closed = true;
        if (this.recoverTimer) clearTimeout(this.recoverTimer);
    }

    private async drain(): Promise<void> {
        // Let the deliveries parsed in this turn of the event loop join the first batch.
        await new Promise<void>((resolve) => setImmediate(resolve));
        while (this.pending.length > 0 || this.recoverDue) {
            try {
                await this.manifest.withLock(() => this.session());
            } catch (err) {
                // The lock could not be taken: the waiting deliveries fail (500) and their senders retry.
                for (const p of this.pending.splice(0)) p.reject(err);
                this.recoverDue = false;
            }
        }
        this.draining = undefined;
    }

    /**
     * Commits batches while deliveries keep arriving, holding the lock
     * between them (up to a time budget, so other writers get their turn).
     * Between two batches the event loop runs once: the answers go out and
     * the deliveries that arrived meanwhile form the next batch.
     */
    private async session(): Promise<void> {
        const started = performance.now();
        while (this.pending.length > 0 || this.recoverDue) {
            this.recoverDue = false;
            const batch = this.pending.splice(0, this.opts.maxBatch ?? 256);
            let outcomes: CommitOutcome[];
            try {
                outcomes = await this.commit(batch);
            } catch (err) {
                for (const p of batch) p.reject(err);
                this.scheduleRecovery();
                continue;
            }
            for (const [i, p] of batch.entries()) p.resolve(outcomes[i]);
            if (performance.now() - started > (this.opts.maxLockMs ?? 250)) return;
            await new Promise<void>((resolve) => setImmediate(resolve));
        }
    }

    /** After a failed batch: apply the intents it may have left open once the store is free again, even if no delivery comes. */
    private scheduleRecovery(): void {
        if (this.closed || this.recoverTimer) return;
        this.recoverTimer = setTimeout(() => {
            this.recoverTimer = undefined;
            if (this.closed) return;
            if (this.hasOpenIntents()) void this.recover();
        }, this.opts.recoverDelayMs ?? 1000);
        this.recoverTimer.unref();
    }

    /** Whether the store holds open intents; a store still locked counts as yes (the recovery then waits for it). */
    private hasOpenIntents(): boolean {
        try {
            return this.store.openIntents().length > 0;
        } catch {
            return true;
        }
    }

    /** The deliveries of open intents, as pendings nobody waits for; their new jobs are announced by the committer. */
    private replayed(intents: readonly IntentRecord[]): Pending[] {
        return intents.map((intent) => {
            const event = JSON.parse(intent.body) as TimedEvent;
            return {
                id: intent.eventId,
                event,
                digest: intent.digest,
                resolve: (o: CommitOutcome) => {
                    if (o.kind === "applied" && o.job && o.newJob) void this.opts.announce?.(o.job).catch(ignore);
                },
                reject: ignore,
            };
        });
    }

    /** One batch, under the lock: intents, read, apply in order, validate once, write once, record in one transaction. */
    private async commit(batch: readonly Pending[]): Promise<CommitOutcome[]> {
        const store = this.store;
        const intents = await store.attempt(() => store.openIntents());
        const openBatches = [...new Set(intents.map((i) => i.batch))];
        const replayed = this.replayed(intents);
        const all = [...replayed, ...batch];
        if (all.length === 0) return [];

        const current = this.manifest.read();
        const seen = await store.attempt(() => all.map((p) => store.getEvent(p.id)));
        // An id recorded since the delivery's first check, or twice in this batch, is a duplicate (or a conflict, another body).
        const firstIndex = new Map<string, { index: number; digest: string }>();
        const toApply: TimedEvent[] = [];
        const slots = all.map((p, i): Slot => {
            const record = seen[i];
            if (record)
                return record.digest === null || record.digest === p.digest
                    ? { kind: "duplicate", record }
                    : { kind: "conflict", receivedAt: record.receivedAt };
            const first = firstIndex.get(p.id);
            if (first !== undefined) return first.digest === p.digest ? { kind: "same-as", index: first.index } : { kind: "conflict" };
            firstIndex.set(p.id, { index: toApply.length, digest: p.digest });
            toApply.push(p.event);
            return { kind: "apply", index: toApply.length - 1 };
        });
        const tenantIds = [...new Set(toApply.map((e) => e.data.tenantId))];
        const known = await store.attempt(() => tenantIds.map((id) => store.getTenant(id)));
        const lastApplied = new Map<string, number>();
        for (const t of known) if (t?.lastEventCreated !== null && t?.lastEventCreated !== undefined) lastApplied.set(t.id, t.lastEventCreated);
        const applied =
            toApply.length === 0
                ? { source: current, valid: current === this.knownValid, results: [], validations: 0 }
                : applyEvents(current, toApply, { file: this.opts.file, sourceIsValid: current === this.knownValid, lastApplied });
        const written = applied.source !== current;

        const records: AcceptedEvent[] = [];
        const recordIndex: number[] = [];
        const stale: StaleRecord[] = [];
        for (const [i, slot] of slots.entries()) {
            if (slot.kind !== "apply") continue;
            const r = applied.results[slot.index];
            if (r instanceof EditError) continue;
            const p = all[i];
            if (r instanceof StaleEvent) {
                const t = r.tenant ?? known.find((k) => k?.id === r.tenantId);
                stale.push({ id: p.id, type: p.event.type, tenantId: r.tenantId, region: t?.region ?? "", websiteId: t?.websiteId ?? 0, digest: p.digest });
                continue;
            }
            const t = r.tenant;
            recordIndex.push(slot.index);
            records.push({
                id: p.id,
                type: p.event.type,
                tenantId: t.id,
                region: t.region,
                stack: this.opts.stackOf(t.region, t),
                websiteId: t.websiteId,
                manifestStatus: t.status,
                tier: t.tier,
                deploy: true,
                digest: p.digest,
                created: p.event.created,
            });
        }

        // 1. The intent, durable before the manifest changes; 2. the manifest.
        let intent: string | undefined;
        if (written) {
            const deliveries = records.map((r) => {
                const p = all.find((x) => x.id === r.id)!;
                return {
                    eventId: r.id,
                    tenantId: r.tenantId,
                    body: JSON.stringify({ type: p.event.type, created: p.event.created, data: p.event.data }),
                    digest: r.digest ?? p.digest,
                };
            });
            intent = await store.attempt(() => store.openIntent(deliveries));
            try {
                this.manifest.write(applied.source);
            } catch (err) {
                const unwritten = intent;
                await store.attempt(() => store.dropIntent(unwritten)).catch(ignore);
                throw err;
            }
        }
        if (applied.valid) this.knownValid = applied.source;

        // 3. The events, jobs and tenant states, closing the intents this batch completes.
        const closeIntents = intent ? [...openBatches, intent] : openBatches;
        const nothing = records.length === 0 && stale.length === 0 && closeIntents.length === 0;
        const jobs = nothing ? [] : await store.attempt(() => store.acceptEvents(records, new Date(), { stale, closeIntents }));
        this.opts.onBatch?.({ size: all.length, validations: applied.validations, written });
        const jobOf = new Map(recordIndex.map((index, k) => [index, jobs[k]]));
        const resultOf = (index: number): CommitOutcome => {
            const r = applied.results[index];
            if (r instanceof EditError) return { kind: "rejected", error: r };
            if (r instanceof StaleEvent) return { kind: "stale", stale: r };
            const job = jobOf.get(index)!;
            return { kind: "applied", changed: r.changed, tenant: r.tenant, job: job.job, newJob: job.newJob };
        };
        const outcomes = slots.map((slot, i): CommitOutcome => {
            if (slot.kind === "duplicate" || slot.kind === "conflict") return slot;
            if (slot.kind === "apply") return resultOf(slot.index);
            // The same id twice in one batch: a duplicate of the first delivery, or refused (or stale) like it.
            const first = resultOf(slot.index);
            if (first.kind === "rejected" || first.kind === "stale") return first;
            return { kind: "duplicate", record: store.getEvent(all[i].id)! };
        });
        for (const [i, p] of replayed.entries()) p.resolve(outcomes[i]);
        return outcomes.slice(replayed.length);
    }
}
