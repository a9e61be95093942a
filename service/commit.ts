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
 * same batch) is a duplicate and changes nothing; the events of a batch
 * take effect in arrival order.
 */
import type { ManifestFile } from "../core/manifestFile";
import type { BillingEvent } from "../lib/billingEvent";
import type { TenantSpec } from "../lib/manifest";
import { applyEvents, EditError } from "../lib/manifestEdit";
import type { AcceptedEvent, EventRecord, JobRecord, Store } from "./store";

export interface Delivery {
    readonly id: string;
    readonly event: BillingEvent;
}

export type CommitOutcome =
    | { readonly kind: "duplicate"; readonly record: EventRecord }
    | { readonly kind: "rejected"; readonly error: EditError }
    | { readonly kind: "applied"; readonly changed: boolean; readonly tenant: TenantSpec; readonly job: JobRecord | null; readonly newJob: boolean };

export interface CommitterOptions {
    /** The manifest's file name, for the validator's messages. */
    readonly file: string;
    /** Region to stack. */
    readonly stackOf: (region: string) => string;
    /** Most deliveries in one batch. Default 256. */
    readonly maxBatch?: number;
    /** Longest time the lock is held for consecutive batches before other writers get a turn, in ms. Default 250. */
    readonly maxLockMs?: number;
    /** Called after each committed batch (metrics). */
    readonly onBatch?: (stats: { size: number; validations: number; written: boolean }) => void;
}

interface Pending extends Delivery {
    readonly resolve: (o: CommitOutcome) => void;
    readonly reject: (err: unknown) => void;
}

type Slot = { kind: "duplicate"; record: EventRecord } | { kind: "same-as"; index: number } | { kind: "apply"; index: number };

export class EventCommitter {
    private pending: Pending[] = [];
    private draining: Promise<void> | undefined;
    /** A manifest text known to be valid (the last one validated or written): the next batch skips re-validating it. */
    private knownValid: string | undefined;

    constructor(
        private readonly manifest: ManifestFile,
        private readonly store: Store,
        private readonly opts: CommitterOptions,
    ) {}

    /** Queues a delivery for the next batch; resolves once its batch is committed (or refused). */
    submit(delivery: Delivery): Promise<CommitOutcome> {
        return new Promise<CommitOutcome>((resolve, reject) => {
            this.pending.push({ ...delivery, resolve, reject });
            this.draining ??= this.drain();
        });
    }

    /** Resolves when every submitted delivery has been answered. */
    async idle(): Promise<void> {
        while (this.draining) await this.draining;
    }

    private async drain(): Promise<void> {
        // Let the deliveries parsed in this turn of the event loop join the first batch.
        await new Promise<void>((resolve) => setImmediate(resolve));
        while (this.pending.length > 0) {
            try {
                await this.manifest.withLock(() => this.session());
            } catch (err) {
                // The lock could not be taken: the waiting deliveries fail (500) and their senders retry.
                for (const p of this.pending.splice(0)) p.reject(err);
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
        while (this.pending.length > 0) {
            const batch = this.pending.splice(0, this.opts.maxBatch ?? 256);
            let outcomes: CommitOutcome[];
            try {
                outcomes = this.commit(batch);
            } catch (err) {
                for (const p of batch) p.reject(err);
                continue;
            }
            for (const [i, p] of batch.entries()) p.resolve(outcomes[i]);
            if (performance.now() - started > (this.opts.maxLockMs ?? 250)) return;
            await new Promise<void>((resolve) => setImmediate(resolve));
        }
    }

    /** One batch, under the lock: read, apply in order, validate once, write once, record in one transaction. */
    private commit(batch: readonly Pending[]): CommitOutcome[] {
        const current = this.manifest.read();
        // An id recorded since the delivery's first check, or twice in this batch, is a duplicate.
        const firstIndex = new Map<string, number>();
        const toApply: BillingEvent[] = [];
        const slots = batch.map((p): Slot => {
            const record = this.store.getEvent(p.id);
            if (record) return { kind: "duplicate", record };
            const first = firstIndex.get(p.id);
            if (first !== undefined) return { kind: "same-as", index: first };
            firstIndex.set(p.id, toApply.length);
            toApply.push(p.event);
            return { kind: "apply", index: toApply.length - 1 };
        });
        const applied =
            toApply.length === 0
                ? { source: current, valid: current === this.knownValid, results: [], validations: 0 }
                : applyEvents(current, toApply, { file: this.opts.file, sourceIsValid: current === this.knownValid });
        const written = applied.source !== current;
        // The manifest first, then the records: a crash in between is healed by the redelivery (a no-op edit that still records).
        if (written) this.manifest.write(applied.source);
        if (applied.valid) this.knownValid = applied.source;

        const accepted: number[] = [];
        const records: AcceptedEvent[] = [];
        for (const [i, slot] of slots.entries()) {
            if (slot.kind !== "apply") continue;
            const r = applied.results[slot.index];
            if (r instanceof EditError) continue;
            const t = r.tenant;
            accepted.push(slot.index);
            records.push({
                id: batch[i].id,
                type: batch[i].event.type,
                tenantId: t.id,
                region: t.region,
                stack: this.opts.stackOf(t.region),
                websiteId: t.websiteId,
                manifestStatus: t.status,
                tier: t.tier,
                deploy: true,
            });
        }
        const jobs = this.store.acceptEvents(records);
        this.opts.onBatch?.({ size: batch.length, validations: applied.validations, written });
        const jobOf = new Map(accepted.map((index, k) => [index, jobs[k]]));
        const resultOf = (index: number): CommitOutcome => {
            const r = applied.results[index];
            if (r instanceof EditError) return { kind: "rejected", error: r };
            const job = jobOf.get(index)!;
            return { kind: "applied", changed: r.changed, tenant: r.tenant, job: job.job, newJob: job.newJob };
        };
        return slots.map((slot, i): CommitOutcome => {
            if (slot.kind === "duplicate") return slot;
            if (slot.kind === "apply") return resultOf(slot.index);
            // The same id twice in one batch: a duplicate of the first delivery, or refused like it.
            const first = resultOf(slot.index);
            return first.kind === "rejected" ? first : { kind: "duplicate", record: this.store.getEvent(batch[i].id)! };
        });
    }
}
