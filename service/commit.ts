/**
 * Billing events into tenants.yaml: acknowledged fast, applied in batches,
 * committed and pushed to git.
 *
 * Acknowledgement (`accept`, synchronous up to its one SQLite write, about a
 * millisecond at any manifest size): an event id already recorded or
 * waiting is a duplicate (or a conflict when its body differs); otherwise
 * the event is decided on the in-memory index of the manifest
 * (service/manifestIndex.ts: the same edit and validator, on the tenants
 * the event touches, as the accepted events before it leave them). A
 * refusal (404, 409, 422) or a stale event is answered at once; an accepted
 * event is recorded durably (an intent, the inbox) and answered 202
 * `queued`: applied later.
 *
 * Group commit (`drain`, asynchronous): the open intents, oldest first, are
 * applied as one batch to the manifest at the git tip, off the event loop
 * (service/applier.ts: one parse, one validation, one serialisation of the
 * whole manifest), committed and pushed (core/manifestRepo.ts; without a
 * repository the file is written), with a push refused as not fast-forward
 * followed by a fetch and the batch applied again on the new tip. Then, in
 * one SQLite transaction, the events are recorded (applied, stale, or
 * refused: a change someone pushed meanwhile can refuse an event the index
 * accepted; it is then recorded with its reason and a
 * `tenant.provisioning_failed` event goes to the outbox), their jobs queued
 * and the intents closed. An event reads as applied (GET /events/:id,
 * GET /tenants/:id) only from then on: after its push.
 *
 * Guarantees, per event, as with one event at a time: nothing is written
 * for a refused event; an event id already in the store (or earlier in the
 * same batch) is a duplicate and changes nothing, or a conflict when its
 * body differs; an event older than the last one applied to its tenant is
 * stale and changes nothing; the events of a batch take effect in arrival
 * order. A batch that fails (git unreachable, the store locked) leaves its
 * intents open: it is applied again on a timer and when the service starts.
 */
import { createHash } from "node:crypto";
import type { ManifestFile } from "../core/manifestFile";
import { commitMessage } from "../core/manifestRepo";
import { isSuspensionEvent } from "../lib/billingEvent";
import { validateManifest, type TenantSpec } from "../lib/manifest";
import { EditError, StaleEvent, type TimedEvent } from "../lib/manifestEdit";
import { InlineApplier, type ApplyOutcome, type BatchApplier } from "./applier";
import { appliedEnvelope, envelope } from "./events";
import { settledState } from "./runner";
import { ManifestIndex } from "./manifestIndex";
import type { AcceptedEvent, EventRecord, IntentRecord, JobRecord, RefusedRecord, StaleRecord, Store, TenantRecord } from "./store";
import { Mutex } from "./storeDriver";

/**
 * Whether an applied event needs no deployment: a suspension event (its one
 * effect is the tenant's status) that changed nothing, on a tenant whose
 * last job succeeded with that status (`before`: the service's record of it
 * before this batch; its state is settled, so no job is queued or failed).
 * The monthly `invoice.payment_succeeded` of an active tenant is the usual
 * case. Anything else deploys, as does a tenant the service never deployed,
 * and a redelivery after a crash between the manifest write and the event's
 * record (the record still has the status before the event).
 */
export function deployedAlready(type: string, changed: boolean, tenant: TenantSpec, before: TenantRecord | undefined | null): boolean {
    if (changed || !isSuspensionEvent(type) || !before) return false;
    return before.manifestStatus === tenant.status && before.state === settledState(tenant.status);
}

/** The store-wide lock a batch is written under: one replica at a time applies the inbox (every replica's) to the manifest. */
export const BATCH_LOCK = "manifest-batch";

export interface Delivery {
    readonly id: string;
    readonly event: TimedEvent;
}

export type CommitOutcome =
    /** `record`: the first delivery's record, once it is applied (undefined while it waits in the inbox). */
    | { readonly kind: "duplicate"; readonly record?: EventRecord }
    /** The id was received before with another body: nothing is applied. `receivedAt`: when the first one was recorded, if it was. */
    | { readonly kind: "conflict"; readonly receivedAt?: string }
    | { readonly kind: "rejected"; readonly error: EditError }
    | { readonly kind: "stale"; readonly stale: StaleEvent }
    | { readonly kind: "applied"; readonly changed: boolean; readonly tenant: TenantSpec; readonly job: JobRecord | null; readonly newJob: boolean };

/** What `accept` answers: a decision at once, or the event queued (durably) with the promise of its outcome once pushed. */
export type Acceptance =
    | Exclude<CommitOutcome, { kind: "applied" }>
    | { readonly kind: "queued"; readonly changed: boolean; readonly tenant: TenantSpec; readonly applied: Promise<CommitOutcome> };

export interface BatchStats {
    readonly size: number;
    readonly validations: number;
    readonly written: boolean;
    /** git commit + push (+ fetch on retries) time of the batch, ms; 0 without a repository. */
    readonly gitMs: number;
    /** Attempts of the push (1: no race). */
    readonly attempts: number;
    /** Events the batch refused that the index had accepted (someone else's change). */
    readonly refusedLate: number;
}

export interface CommitterOptions {
    /** The manifest's file name, for the validator's messages. */
    readonly file: string;
    /** The stack a tenant's deployment runs in: its region's stack, or its shard's (service/queue.ts, tenantStack). */
    readonly stackOf: (region: string, tenant: TenantSpec) => string;
    /** Most deliveries in one batch. Default 2000. */
    readonly maxBatch?: number;
    /** Called after each committed batch (metrics). */
    readonly onBatch?: (stats: BatchStats) => void;
    /** Announces a job the group commit created (no request waits for it). */
    readonly announce?: (job: JobRecord) => Promise<void>;
    /** Delay before a failed batch is tried again, in ms. Default 1000. */
    readonly recoverDelayMs?: number;
    /** Where batches are applied. Default: in this thread (InlineApplier). */
    readonly applier?: BatchApplier;
    /** Called when a batch fails (its intents stay open and are tried again). */
    readonly onError?: (err: unknown) => void;
    /**
     * The store is shared with other replicas (MySQL): a refusal at the door is checked again on the manifest at the git
     * tip, and this process's deliveries another replica applied are settled from the store. Default false.
     */
    readonly shared?: boolean;
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

interface GroupItem {
    readonly row: Omit<IntentRecord, "batch">;
    readonly undo: (() => void) | undefined;
    readonly written: () => void;
    readonly failed: (err: unknown) => void;
}

type Slot =
    | { kind: "duplicate"; record: EventRecord }
    | { kind: "conflict"; receivedAt?: string }
    | { kind: "same-as"; index: number }
    | { kind: "apply"; index: number };

const ignore = () => undefined;

interface Waiter {
    resolve(o: CommitOutcome): void;
    reject(err: unknown): void;
}

export class EventCommitter {
    private draining: Promise<void> | undefined;
    private again = false;
    /** A manifest text known to be valid (the last one validated or written): the next batch skips re-validating it. */
    private knownValid: string | undefined;
    private recoverTimer: NodeJS.Timeout | undefined;
    private closed = false;
    private index: ManifestIndex | undefined;
    private invalidText: string | undefined;
    /** Event ids accepted by this process and not applied yet: their digest, tenant and event (the index counts them as pending). */
    private readonly inbox = new Map<string, { digest: string; tenantId: string; event: TimedEvent; durable: Promise<void>; stored: boolean }>();
    /** The door: deliveries are decided one at a time, in arrival order, each after its store reads. */
    private readonly door = new Mutex();
    /** Accepted deliveries whose intent is not written yet: written together, one transaction (one fsync) per turn of the event loop. */
    private group: GroupItem[] = [];
    private flushing = false;
    private readonly waiters = new Map<string, Waiter[]>();
    private readonly applier: BatchApplier;

    constructor(
        private readonly manifest: ManifestFile,
        private readonly store: Store,
        private readonly opts: CommitterOptions,
    ) {
        this.applier = opts.applier ?? new InlineApplier();
    }

    /**
     * Builds the index from the manifest (at the git tip when there is a
     * repository) and applies the intents a crash or a failed batch left
     * open. Called once when the service starts; without it the index is
     * built on the first delivery.
     */
    async start(): Promise<void> {
        if (this.manifest.repo) await this.manifest.withLock(() => this.manifest.repo!.sync());
        this.loadIndex();
        await this.recover();
    }

    /** The index of the manifest as it is on disk; none while the file is invalid (the batch then refuses every event). */
    private loadIndex(): ManifestIndex | undefined {
        const text = this.manifest.read();
        // An invalid file is validated again only once it has changed.
        if (text === this.invalidText) return undefined;
        const checked = validateManifest(text, this.opts.file);
        this.index = checked.ok ? new ManifestIndex([...checked.manifest.tenants, ...(checked.manifest.tombstones ?? [])], this.opts.file) : undefined;
        this.invalidText = checked.ok ? undefined : text;
        if (checked.ok) this.knownValid = text;
        return this.index;
    }

    /** Whether `text` is a manifest the committer validated or wrote itself (then known valid). */
    knowsValid(text: string): boolean {
        return text === this.knownValid;
    }

    /** The index: tenant count and whether one is loaded (readiness, metrics). */
    get indexed(): number | undefined {
        return this.index?.size;
    }

    /**
     * Decides a delivery now: a duplicate, a conflict, a refusal or a stale
     * event are answered; an accepted one is recorded as an intent and
     * queued for the next batch. The decision runs in one turn of the event
     * loop, so deliveries are decided in arrival order, each seeing the ones
     * accepted before it. The intents of the deliveries accepted in one turn
     * are written in one transaction (one fsync), and each answer waits for
     * it. Rejects with StoreBusy when the store stays locked (the deliveries
     * of that transaction are then undone in the index: nothing is accepted).
     */
    async accept(delivery: Delivery): Promise<Acceptance> {
        const digest = eventDigest(delivery.event);
        const decided = await this.door.run(() => this.decide(delivery, digest));
        return decided.answer;
    }

    /** accept, then the outcome once applied (the unit tests, and callers that wait for the push). */
    async submit(delivery: Delivery): Promise<CommitOutcome> {
        const a = await this.accept(delivery);
        return a.kind === "queued" ? a.applied : a;
    }

    /**
     * The decision (inside the door): the store's records of the id and the
     * tenant, read first, then everything else synchronously. The answer is
     * wrapped: an accepted delivery's answer waits for its intent's write,
     * which the door does not wait for (the deliveries of one turn share it).
     */
    private async decide(d: Delivery, digest: string): Promise<{ answer: Acceptance | Promise<Acceptance> }> {
        const store = this.store;
        const tenantId = d.event.data.tenantId;
        const [record, queued, tenantRecord] = await Promise.all([store.getEvent(d.id), store.queuedEvent(d.id), store.getTenant(tenantId)]);
        if (record) {
            return {
                answer:
                    record.digest === null || record.digest === digest ? { kind: "duplicate", record } : { kind: "conflict", receivedAt: record.receivedAt },
            };
        }
        const waiting = this.inbox.get(d.id);
        // A duplicate of a delivery whose intent is being written is answered once it is written (or fails with it).
        if (waiting) return { answer: waiting.durable.then((): Acceptance => (waiting.digest === digest ? { kind: "duplicate" } : { kind: "conflict" })) };
        // In the inbox of another replica sharing the store.
        if (queued) return { answer: queued.digest === digest ? { kind: "duplicate" } : { kind: "conflict", receivedAt: queued.receivedAt } };
        let index = this.index ?? this.loadIndex();
        const stored = tenantRecord?.lastEventCreated;
        let verdict = index?.check(d.event, stored);
        // A shared store: another replica may have pushed what this index does not know yet; a refusal is decided on the tip.
        if (verdict?.kind === "rejected" && this.opts.shared) {
            index = await this.refreshIndex();
            verdict = index?.check(d.event, stored);
        }
        if (verdict?.kind === "rejected") return { answer: verdict };
        if (verdict?.kind === "stale") {
            const t = verdict.stale.tenant;
            await store.acceptEvents([], new Date(), {
                stale: [{ id: d.id, type: d.event.type, tenantId, region: t?.region ?? "", websiteId: t?.websiteId ?? 0, digest }],
            });
            return { answer: verdict };
        }
        const undo = verdict ? index!.accept(d.event, verdict.tenant) : undefined;
        let written!: () => void;
        let failed!: (err: unknown) => void;
        const durable = new Promise<void>((resolve, reject) => {
            written = resolve;
            failed = reject;
        });
        durable.catch(ignore);
        const entry = { digest, tenantId, event: d.event, durable, stored: false };
        durable.then(() => (entry.stored = true), ignore);
        this.inbox.set(d.id, entry);
        const row = { eventId: d.id, tenantId, body: JSON.stringify({ type: d.event.type, created: d.event.created, data: d.event.data }), digest };
        this.group.push({ row, undo, written, failed });
        if (this.group.length === 1 && !this.flushing) setImmediate(() => void this.flush());
        const applied = new Promise<CommitOutcome>((resolve, reject) => {
            const list = this.waiters.get(d.id) ?? [];
            list.push({ resolve, reject });
            this.waiters.set(d.id, list);
        });
        // Nobody has to wait for it (the route answers 202 at once): a failure is retried from the intent.
        applied.catch(ignore);
        // Without an index (the manifest on disk is invalid) the batch decides.
        const tenant = verdict?.tenant ?? ({ id: tenantId } as TenantSpec);
        const changed = verdict?.changed ?? true;
        return { answer: durable.then((): Acceptance => ({ kind: "queued", changed, tenant, applied })) };
    }

    /**
     * The index rebuilt from the manifest at the git tip (a shared store:
     * other replicas push batches this one has not seen), with the events
     * this process accepted and not applied yet laid over it again.
     */
    private async refreshIndex(): Promise<ManifestIndex | undefined> {
        await this.manifest.withLock(async () => {
            if (this.manifest.repo) await this.manifest.repo.sync();
        });
        const index = this.loadIndex();
        if (!index) return undefined;
        for (const e of this.inbox.values()) {
            const v = index.check(e.event);
            if (v.kind === "ok") index.accept(e.event, v.tenant);
        }
        return index;
    }

    /**
     * Deliveries this process accepted that another replica applied (their
     * intents are closed, an open batch reads every replica's): settled from
     * the store's records, their overlay dropped from the index.
     */
    private async settleForeign(open: readonly IntentRecord[]): Promise<void> {
        if (!this.opts.shared || open.length >= (this.opts.maxBatch ?? 2000)) return;
        const ids = new Set(open.map((i) => i.eventId));
        const foreign = [...this.inbox.entries()].filter(([id, e]) => e.stored && !ids.has(id));
        if (foreign.length === 0) return;
        const records = await Promise.all(foreign.map(([id]) => this.store.getEvent(id)));
        for (const [k, [id]] of foreign.entries()) {
            this.inbox.delete(id);
            const record = records[k];
            this.settle(id, record ? { kind: "duplicate", record } : { kind: "duplicate" });
        }
        this.index?.rebase(
            undefined,
            foreign.map(([, e]) => e.tenantId),
        );
    }

    /**
     * Writes the intents of the deliveries accepted since the last write, in
     * one transaction, then lets their answers go and the group commit run.
     * When the store stays locked, those deliveries and every one accepted
     * after them (decided on their effect) are undone and refused (503).
     */
    private async flush(): Promise<void> {
        if (this.flushing) return;
        this.flushing = true;
        try {
            while (this.group.length > 0) {
                const items = this.group.splice(0);
                try {
                    await this.store.openIntent(items.map((i) => i.row));
                } catch (err) {
                    const all = [...items, ...this.group.splice(0)];
                    for (const item of [...all].reverse()) {
                        item.undo?.();
                        this.inbox.delete(item.row.eventId);
                        const list = this.waiters.get(item.row.eventId);
                        this.waiters.delete(item.row.eventId);
                        for (const w of list ?? []) w.reject(err);
                        item.failed(err);
                    }
                    this.index?.reindex();
                    continue;
                }
                for (const item of items) item.written();
                this.kick();
            }
        } finally {
            this.flushing = false;
        }
    }

    /** Applies the open intents (at start, and on a timer after a failed batch); resolves when the inbox is empty or a batch failed. */
    async recover(): Promise<void> {
        this.kick();
        await this.idle();
    }

    /** Resolves when no batch is running or due. */
    async idle(): Promise<void> {
        while (this.draining) await this.draining;
    }

    /** Stops the retry timer and the applier (the service is stopping). */
    async close(): Promise<void> {
        this.closed = true;
        if (this.recoverTimer) clearTimeout(this.recoverTimer);
        await this.idle();
        await this.applier.close();
    }

    private kick(): void {
        if (this.draining) {
            this.again = true;
            return;
        }
        this.draining = this.drain().finally(() => (this.draining = undefined));
    }

    private async drain(): Promise<void> {
        // Let the deliveries of this turn of the event loop join the first batch.
        await new Promise<void>((resolve) => setImmediate(resolve));
        for (;;) {
            this.again = false;
            try {
                // Under the store-wide batch lock (one replica at a time) and the manifest lock; the inbox read inside both.
                const applied = await this.store.exclusive(BATCH_LOCK, () =>
                    this.manifest.withLock(async () => {
                        const intents = await this.store.openIntents(this.opts.maxBatch ?? 2000);
                        await this.settleForeign(intents);
                        if (intents.length === 0) return false;
                        await this.commit(intents);
                        return true;
                    }),
                );
                if (!applied) {
                    if (this.again) continue;
                    return;
                }
            } catch (err) {
                this.opts.onError?.(err);
                for (const list of this.waiters.values()) for (const w of list) w.reject(err);
                this.waiters.clear();
                this.scheduleRecovery();
                return;
            }
        }
    }

    /** After a failed batch: try the open intents again once the cause may be gone, even if no delivery comes. */
    private scheduleRecovery(): void {
        if (this.closed || this.recoverTimer) return;
        this.recoverTimer = setTimeout(() => {
            this.recoverTimer = undefined;
            if (!this.closed) this.kick();
        }, this.opts.recoverDelayMs ?? 1000);
        this.recoverTimer.unref();
    }

    private settle(id: string, outcome: CommitOutcome): void {
        const list = this.waiters.get(id);
        this.waiters.delete(id);
        for (const w of list ?? []) w.resolve(outcome);
    }

    /** One batch, under the lock: read at the tip, apply in order, validate once, commit and push, record in one transaction. */
    private async commit(intents: readonly IntentRecord[]): Promise<void> {
        const store = this.store;
        const all = intents.map((i) => ({ id: i.eventId, digest: i.digest, event: JSON.parse(i.body) as TimedEvent, batch: i.batch }));
        const seen = await Promise.all(all.map((p) => store.getEvent(p.id)));
        // An id already recorded (a crash after the record) or twice in this batch is a duplicate (or a conflict, another body).
        const firstIndex = new Map<string, { index: number; digest: string }>();
        const toApply: TimedEvent[] = [];
        const toApplyIds: string[] = [];
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
            toApplyIds.push(p.id);
            return { kind: "apply", index: toApply.length - 1 };
        });
        const tenantIds = [...new Set(toApply.map((e) => e.data.tenantId))];
        const known = await Promise.all(tenantIds.map((id) => store.getTenant(id)));
        const lastApplied: [string, number][] = [];
        for (const t of known) if (t?.lastEventCreated !== null && t?.lastEventCreated !== undefined) lastApplied.push([t.id, t.lastEventCreated]);

        const message = commitMessage(
            "billing",
            toApply.map((e, i) => ({ id: toApplyIds[i], type: e.type, tenantId: e.data.tenantId })),
        );
        let written = false;
        const pushed = await this.manifest.transact(async (current) => {
            const out: ApplyOutcome =
                toApply.length === 0
                    ? { source: current, valid: true, results: [], validations: 0 }
                    : await this.applier.apply(current, toApply, {
                          file: this.opts.file,
                          sourceIsValid: current === this.knownValid,
                          lastApplied,
                          // Someone else changed the file (a newer git tip, another writer): the index is rebuilt from the result.
                          tenants: current !== this.knownValid,
                      });
            const text = out.valid ? out.source : current;
            written = text !== current;
            return { text, message, result: out };
        });
        const applied = pushed.result;
        if (applied.valid) this.knownValid = applied.source;

        const records: AcceptedEvent[] = [];
        const recordIndex: number[] = [];
        const stale: StaleRecord[] = [];
        const refused: RefusedRecord[] = [];
        const now = new Date();
        for (const [i, slot] of slots.entries()) {
            if (slot.kind !== "apply") continue;
            const r = applied.results[slot.index];
            const p = all[i];
            if (r instanceof EditError) {
                // Refused here although accepted at the door (someone else's change in between, or no index while the manifest
                // on disk was invalid): recorded with its reason, and the sender's operators learn it from the outbox.
                const t = this.index?.get(p.event.data.tenantId) ?? known.find((k) => k?.id === p.event.data.tenantId);
                const region = t?.region ?? "";
                const websiteId = t?.websiteId ?? 0;
                const error = { status: r.status, code: r.code, message: r.message, ...(r.field ? { field: r.field } : {}) };
                const env = envelope(
                    "tenant.provisioning_failed",
                    { id: p.event.data.tenantId, websiteId, region },
                    { billing_event_id: p.id, billing_event: p.event.type, error: r.message, code: r.code },
                    now,
                );
                refused.push({ id: p.id, type: p.event.type, tenantId: p.event.data.tenantId, region, websiteId, digest: p.digest, error, outbox: env });
                continue;
            }
            if (r instanceof StaleEvent) {
                const t = r.tenant ?? known.find((k) => k?.id === r.tenantId);
                stale.push({ id: p.id, type: p.event.type, tenantId: r.tenantId, region: t?.region ?? "", websiteId: t?.websiteId ?? 0, digest: p.digest });
                continue;
            }
            const t = r.tenant;
            recordIndex.push(slot.index);
            const before = known.find((k) => k?.id === t.id);
            const deploy = !deployedAlready(p.event.type, r.changed, t, before);
            records.push({
                id: p.id,
                type: p.event.type,
                tenantId: t.id,
                region: t.region,
                stack: this.opts.stackOf(t.region, t),
                websiteId: t.websiteId,
                manifestStatus: t.status,
                tier: t.tier,
                deploy,
                digest: p.digest,
                created: p.event.created,
                // Announced now, as its job would have announced it.
                ...(deploy
                    ? {}
                    : {
                          outbox: appliedEnvelope(
                              { id: p.id, type: p.event.type, tenantId: t.id, websiteId: t.websiteId, region: t.region },
                              t,
                              before?.manifestStatus,
                              null,
                              now,
                          ),
                      }),
            });
        }

        // Closed by event id: one write of intents (one batch id) may be split over two batches.
        const closeEvents = [...new Set(all.map((p) => p.id))];
        const jobs = await store.acceptEvents(records, now, { stale, refused, closeEvents });
        this.opts.onBatch?.({
            size: all.length,
            validations: applied.validations,
            written,
            gitMs: pushed.gitMs,
            attempts: pushed.attempts,
            refusedLate: refused.length,
        });

        // The index: the new manifest, without the overlay of the events just settled.
        const settled = all.filter((p) => this.inbox.has(p.id)).map((p) => p.event.data.tenantId);
        for (const p of all) this.inbox.delete(p.id);
        const updated = applied.results.flatMap((r) => (r instanceof EditError || r instanceof StaleEvent ? [] : [r.tenant]));
        if (this.index) this.index.rebase(applied.tenants, settled, updated);
        else if (applied.valid) this.loadIndex();

        const jobOf = new Map(recordIndex.map((index, k) => [index, jobs[k]]));
        const resultOf = (index: number): CommitOutcome => {
            const r = applied.results[index];
            if (r instanceof EditError) return { kind: "rejected", error: r };
            if (r instanceof StaleEvent) return { kind: "stale", stale: r };
            const job = jobOf.get(index)!;
            return { kind: "applied", changed: r.changed, tenant: r.tenant, job: job.job, newJob: job.newJob };
        };
        const sameAs = new Map<string, EventRecord | undefined>();
        for (const [i, slot] of slots.entries()) if (slot.kind === "same-as") sameAs.set(all[i].id, await store.getEvent(all[i].id));
        for (const [i, slot] of slots.entries()) {
            const id = all[i].id;
            let outcome: CommitOutcome;
            if (slot.kind === "duplicate" || slot.kind === "conflict") outcome = slot;
            else if (slot.kind === "apply") outcome = resultOf(slot.index);
            else {
                const first = resultOf(slot.index);
                outcome = first.kind === "rejected" || first.kind === "stale" ? first : { kind: "duplicate", record: sameAs.get(id) };
            }
            if (outcome.kind === "applied" && outcome.job && outcome.newJob) void this.opts.announce?.(outcome.job).catch(ignore);
            this.settle(id, outcome);
        }
    }
}
