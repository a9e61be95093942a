/**
 * The service's durable state in Node's built-in SQLite (node:sqlite, no
 * native build): every event id seen (with a digest of its body), the
 * deployment jobs, the tenants' lifecycle states (and the `created` time of
 * the last event applied to each), the intents of the batches being written
 * to the manifest, and the outbox of events to publish. Every method is
 * synchronous, so a method body is atomic within the process; writes that
 * belong together run in one transaction.
 *
 * A store locked by another process never blocks the event loop: SQLite's
 * busy timeout (a synchronous sleep inside the call) is 0, so a locked
 * database fails the call at once with StoreBusy, and `attempt` retries it
 * on timers, up to a deadline.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { TenantStatus } from "../lib/manifest";
import type { Region } from "../lib/regions";
import type { Tier } from "../lib/tiers";
import type { JobState, TenantState } from "./schemas";

export interface EventRecord {
    readonly id: string;
    readonly type: string;
    readonly tenantId: string;
    readonly region: string;
    readonly websiteId: number;
    /**
     * accepted, unchanged, stale (older than the tenant's last applied event: acknowledged, not applied), or refused (accepted at
     * the door, then refused by the group commit at the git tip: `error` says why).
     */
    readonly outcome: string;
    readonly jobId: string | null;
    readonly receivedAt: string;
    /** SHA-256 of the delivery's body (canonical JSON); null for events recorded before digests were kept. */
    readonly digest: string | null;
    /** Why a refused event was not applied. */
    readonly error: EventError | null;
}

/** The reason of a refusal, as the webhook answer would have said it. */
export interface EventError {
    readonly status: number;
    readonly code: string;
    readonly message: string;
    readonly field?: string;
}

export interface JobRecord {
    readonly id: string;
    readonly seq: number;
    readonly region: string;
    readonly stack: string;
    readonly state: JobState;
    readonly tenants: string[];
    readonly events: string[];
    readonly attempts: number;
    readonly targeted: boolean;
    readonly createdAt: string;
    readonly startedAt: string | null;
    readonly finishedAt: string | null;
    readonly error: string | null;
    readonly logTail: string[];
}

export interface TenantRecord {
    readonly id: string;
    readonly region: Region | null;
    readonly state: TenantState;
    readonly manifestStatus: TenantStatus | null;
    readonly tier: Tier | null;
    readonly websiteId: number | null;
    readonly lastJobId: string | null;
    readonly updatedAt: string | null;
    /** The `created` time (unix seconds) of the last event applied to the tenant; null when none carried one. */
    readonly lastEventCreated: number | null;
}

/** A delivery of a batch whose manifest write is under way (see EventCommitter). */
export interface IntentRecord {
    readonly batch: string;
    readonly eventId: string;
    readonly tenantId: string;
    /** The delivery's body (JSON): a batch left open by a crash is applied again from it. */
    readonly body: string;
    readonly digest: string;
}

export interface OutboxRecord {
    readonly seq: number;
    readonly routingKey: string;
    readonly body: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    region TEXT NOT NULL,
    website_id INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    job_id TEXT,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    region TEXT NOT NULL,
    stack TEXT NOT NULL,
    state TEXT NOT NULL,
    tenants TEXT NOT NULL,
    events TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    targeted INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    error TEXT,
    log_tail TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_region_state ON jobs (region, state, seq);
CREATE INDEX IF NOT EXISTS jobs_stack_state ON jobs (stack, state, seq);
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    region TEXT,
    state TEXT NOT NULL,
    manifest_status TEXT,
    tier TEXT,
    website_id INTEGER,
    last_job_id TEXT,
    updated_at TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    routing_key TEXT NOT NULL,
    body TEXT NOT NULL,
    published_at TEXT
);
CREATE TABLE IF NOT EXISTS intents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    batch TEXT NOT NULL,
    event_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    body TEXT NOT NULL,
    digest TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS intents_tenant ON intents (tenant_id);
CREATE INDEX IF NOT EXISTS intents_event ON intents (event_id);
`;

/** Columns added after the first release: added to an existing store when it opens. */
const ADDED_COLUMNS: readonly (readonly [table: string, column: string, type: string])[] = [
    ["events", "body_sha256", "TEXT"],
    ["tenants", "last_event_created", "INTEGER"],
    ["events", "error", "TEXT"],
];

/** SQLITE_BUSY (5), whatever its extended code. */
function isBusy(err: unknown): boolean {
    const code = (err as { errcode?: unknown } | null)?.errcode;
    return typeof code === "number" && (code & 0xff) === 5;
}

/** The store is locked by another process (a second replica, a sqlite3 shell) for longer than the caller's deadline. */
export class StoreBusy extends Error {
    constructor(readonly waitedMs: number) {
        super(`the store is locked by another process (waited ${waitedMs} ms)`);
        this.name = "StoreBusy";
    }
}

export interface StoreOptions {
    /** How long `attempt` retries a call that finds the database locked, in ms. Default 5000. */
    readonly busyTimeoutMs?: number;
}

type Row = Record<string, unknown>;

function jobFrom(row: Row): JobRecord {
    return {
        id: String(row.id),
        seq: Number(row.seq),
        region: String(row.region),
        stack: String(row.stack),
        state: row.state as JobState,
        tenants: JSON.parse(String(row.tenants)) as string[],
        events: JSON.parse(String(row.events)) as string[],
        attempts: Number(row.attempts),
        targeted: Number(row.targeted) === 1,
        createdAt: String(row.created_at),
        startedAt: (row.started_at as string | null) ?? null,
        finishedAt: (row.finished_at as string | null) ?? null,
        error: (row.error as string | null) ?? null,
        logTail: JSON.parse(typeof row.log_tail === "string" ? row.log_tail : "[]") as string[],
    };
}

function optionalNumber(value: unknown): number | null {
    return value === null || value === undefined ? null : Number(value);
}

function tenantFrom(row: Row): TenantRecord {
    return {
        id: String(row.id),
        // Written from validated manifest entries only (acceptEvents).
        region: (row.region as Region | null) ?? null,
        state: row.state as TenantState,
        manifestStatus: (row.manifest_status as TenantStatus | null) ?? null,
        tier: (row.tier as Tier | null) ?? null,
        websiteId: optionalNumber(row.website_id),
        lastJobId: (row.last_job_id as string | null) ?? null,
        updatedAt: (row.updated_at as string | null) ?? null,
        lastEventCreated: optionalNumber(row.last_event_created),
    };
}

export interface AcceptedEvent {
    readonly id: string;
    readonly type: string;
    readonly tenantId: string;
    readonly region: Region;
    readonly stack: string;
    readonly websiteId: number;
    readonly manifestStatus: TenantStatus;
    readonly tier: Tier;
    /** Whether the event needs a deployment (false: the manifest already said so and a job already covers it). */
    readonly deploy: boolean;
    /** SHA-256 of the delivery's body (canonical JSON). */
    readonly digest?: string;
    /** The event's own `created` time (unix seconds), when it carries one. */
    readonly created?: number;
}

/** An event acknowledged without being applied (older than the tenant's last applied event): recorded so a redelivery is a duplicate. */
export interface StaleRecord {
    readonly id: string;
    readonly type: string;
    readonly tenantId: string;
    readonly region: string;
    readonly websiteId: number;
    readonly digest?: string;
}

/** An event accepted at the door and refused by the group commit (the manifest at the git tip refuses it): recorded with its reason and its outbox event. */
export interface RefusedRecord extends StaleRecord {
    readonly error: EventError;
    /** The `tenant.provisioning_failed` envelope to publish. */
    readonly outbox: { readonly event: string };
}

export interface AcceptOptions {
    /** Events acknowledged without being applied, recorded in the same transaction. */
    readonly stale?: readonly StaleRecord[];
    /** Events refused by the group commit, recorded (outcome refused) with their outbox events in the same transaction. */
    readonly refused?: readonly RefusedRecord[];
    /** Intent batches this transaction completes: deleted in it. */
    readonly closeIntents?: readonly string[];
    /** Event ids whose intents this transaction completes: deleted in it. */
    readonly closeEvents?: readonly string[];
}

export class Store {
    readonly db: DatabaseSync;

    private readonly busyTimeoutMs: number;

    /** `file` is a path or ":memory:". */
    constructor(
        readonly file: string,
        opts: StoreOptions = {},
    ) {
        this.busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
        if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
        this.db = new DatabaseSync(file);
        // Opening may wait for another process (at start, before anything is served); afterwards nothing waits inside a call.
        this.db.exec("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
        this.db.exec(SCHEMA);
        for (const [table, column, type] of ADDED_COLUMNS) {
            const columns = (this.db.prepare(`PRAGMA table_info(${table})`).all() as Row[]).map((r) => String(r.name));
            if (!columns.includes(column)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
        }
        this.db.exec("PRAGMA busy_timeout = 0;");
    }

    /**
     * Runs a store call; while the database is locked by another process,
     * tries again on a timer (5 ms, doubling up to 100 ms) until `timeoutMs`
     * have passed, then rejects with StoreBusy. The event loop keeps running
     * meanwhile: SQLite never sleeps inside the call (busy timeout 0).
     */
    async attempt<T>(fn: () => T, timeoutMs = this.busyTimeoutMs): Promise<T> {
        const started = Date.now();
        let delay = 5;
        for (;;) {
            try {
                return fn();
            } catch (err) {
                if (!isBusy(err)) throw err;
                const waited = Date.now() - started;
                if (waited >= timeoutMs) throw new StoreBusy(waited);
                await new Promise((resolve) => setTimeout(resolve, Math.min(delay, timeoutMs - waited)));
                delay = Math.min(delay * 2, 100);
            }
        }
    }

    private readonly statements = new Map<string, StatementSync>();

    /** A prepared statement, prepared once per connection. */
    private stmt(sql: string): StatementSync {
        let s = this.statements.get(sql);
        if (!s) {
            s = this.db.prepare(sql);
            this.statements.set(sql, s);
        }
        return s;
    }

    close(): void {
        if (this.db.isOpen) this.db.close();
    }

    /** One write transaction; throws SQLITE_BUSY at once (nothing done) when another process holds the write lock. */
    private tx<T>(fn: () => T): T {
        this.db.exec("BEGIN IMMEDIATE");
        try {
            const out = fn();
            this.db.exec("COMMIT");
            return out;
        } catch (err) {
            this.db.exec("ROLLBACK");
            throw err;
        }
    }

    getEvent(id: string): EventRecord | undefined {
        const row = this.stmt("SELECT * FROM events WHERE id = ?").get(id) as Row | undefined;
        if (!row) return undefined;
        return {
            id: String(row.id),
            type: String(row.type),
            tenantId: String(row.tenant_id),
            region: String(row.region),
            websiteId: Number(row.website_id),
            outcome: String(row.outcome),
            jobId: (row.job_id as string | null) ?? null,
            receivedAt: String(row.received_at),
            digest: (row.body_sha256 as string | null) ?? null,
            error: typeof row.error === "string" ? (JSON.parse(row.error) as EventError) : null,
        };
    }

    eventCount(): number {
        return Number((this.stmt("SELECT count(*) AS n FROM events").get() as Row).n);
    }

    /**
     * Records an applied event and attaches it to the region's queued job
     * (coalescing) or to a new one, in one transaction. Returns the job and
     * whether it is new (a new job must be announced to the queue).
     */
    acceptEvent(e: AcceptedEvent, now = new Date()): { job: JobRecord | null; newJob: boolean } {
        return this.acceptEvents([e], now)[0];
    }

    /**
     * acceptEvent for a batch of events, in order, in one transaction (one
     * commit, one fsync): the group commit of the webhook service.
     */
    acceptEvents(events: readonly AcceptedEvent[], now = new Date(), opts: AcceptOptions = {}): { job: JobRecord | null; newJob: boolean }[] {
        const stale = opts.stale ?? [];
        const refused = opts.refused ?? [];
        const intents = opts.closeIntents ?? [];
        const closeEvents = opts.closeEvents ?? [];
        if (events.length === 0 && stale.length === 0 && refused.length === 0 && intents.length === 0 && closeEvents.length === 0) return [];
        const ts = now.toISOString();
        return this.tx(() => {
            const out = events.map((e) => this.recordEvent(e, ts));
            for (const e of stale) {
                this.stmt(
                    "INSERT INTO events (id, type, tenant_id, region, website_id, outcome, job_id, received_at, body_sha256) VALUES (?, ?, ?, ?, ?, 'stale', NULL, ?, ?)",
                ).run(e.id, e.type, e.tenantId, e.region, e.websiteId, ts, e.digest ?? null);
            }
            for (const e of refused) {
                this.stmt(
                    "INSERT INTO events (id, type, tenant_id, region, website_id, outcome, job_id, received_at, body_sha256, error) VALUES (?, ?, ?, ?, ?, 'refused', NULL, ?, ?, ?)",
                ).run(e.id, e.type, e.tenantId, e.region, e.websiteId, ts, e.digest ?? null, JSON.stringify(e.error));
                this.stmt("INSERT INTO outbox (routing_key, body) VALUES (?, ?)").run(e.outbox.event, JSON.stringify(e.outbox));
            }
            for (const batch of intents) this.stmt("DELETE FROM intents WHERE batch = ?").run(batch);
            for (const id of closeEvents) this.stmt("DELETE FROM intents WHERE event_id = ?").run(id);
            return out;
        });
    }

    /**
     * Records, durably, the deliveries of a batch about to be written to the
     * manifest (before the write): until the batch's events are recorded
     * (acceptEvents with closeIntents), its tenants read as pending, and a
     * batch a crash left open is applied again on start. Returns the batch id.
     */
    openIntent(deliveries: readonly Omit<IntentRecord, "batch">[], now = new Date()): string {
        const batch = `batch_${randomUUID()}`;
        const ts = now.toISOString();
        this.tx(() => {
            for (const d of deliveries) {
                this.stmt("INSERT INTO intents (batch, event_id, tenant_id, body, digest, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(
                    batch,
                    d.eventId,
                    d.tenantId,
                    d.body,
                    d.digest,
                    ts,
                );
            }
        });
        return batch;
    }

    /** The deliveries waiting to be applied (the inbox), oldest first; at most `limit`. */
    openIntents(limit = -1): IntentRecord[] {
        return (this.stmt("SELECT batch, event_id, tenant_id, body, digest FROM intents ORDER BY seq LIMIT ?").all(limit) as Row[]).map((r) => ({
            batch: String(r.batch),
            eventId: String(r.event_id),
            tenantId: String(r.tenant_id),
            body: String(r.body),
            digest: String(r.digest),
        }));
    }

    /** An event waiting in the inbox (accepted, not applied yet): its tenant and when it was stored. */
    queuedEvent(eventId: string): { tenantId: string; receivedAt: string } | undefined {
        const row = this.stmt("SELECT tenant_id, created_at FROM intents WHERE event_id = ? ORDER BY seq LIMIT 1").get(eventId) as Row | undefined;
        return row ? { tenantId: String(row.tenant_id), receivedAt: String(row.created_at) } : undefined;
    }

    /** Whether a batch being written (or left open) changes this tenant: its state is then pending, whatever the manifest says. */
    hasOpenIntent(tenantId: string): boolean {
        return this.stmt("SELECT 1 FROM intents WHERE tenant_id = ? LIMIT 1").get(tenantId) !== undefined;
    }

    /** Drops the intents of a batch whose manifest write did not happen. */
    dropIntent(batch: string): void {
        this.stmt("DELETE FROM intents WHERE batch = ?").run(batch);
    }

    private recordEvent(e: AcceptedEvent, ts: string): { job: JobRecord | null; newJob: boolean } {
        let job: JobRecord | null = null;
        let newJob = false;
        if (e.deploy) {
            const queued = this.stmt("SELECT * FROM jobs WHERE region = ? AND stack = ? AND state = 'queued' ORDER BY seq LIMIT 1").get(e.region, e.stack) as
                Row | undefined;
            if (queued) {
                const j = jobFrom(queued);
                const tenants = j.tenants.includes(e.tenantId) ? j.tenants : [...j.tenants, e.tenantId];
                this.stmt("UPDATE jobs SET tenants = ?, events = ? WHERE id = ?").run(JSON.stringify(tenants), JSON.stringify([...j.events, e.id]), j.id);
                job = { ...j, tenants, events: [...j.events, e.id] };
            } else {
                const id = `job_${randomUUID()}`;
                this.stmt("INSERT INTO jobs (id, region, stack, state, tenants, events, created_at) VALUES (?, ?, ?, 'queued', ?, ?, ?)").run(
                    id,
                    e.region,
                    e.stack,
                    JSON.stringify([e.tenantId]),
                    JSON.stringify([e.id]),
                    ts,
                );
                job = this.getJob(id)!;
                newJob = true;
            }
        }
        this.stmt(
            "INSERT INTO events (id, type, tenant_id, region, website_id, outcome, job_id, received_at, body_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ).run(e.id, e.type, e.tenantId, e.region, e.websiteId, job ? "accepted" : "unchanged", job?.id ?? null, ts, e.digest ?? null);
        const current = this.getTenant(e.tenantId);
        const created = e.created === undefined ? (current?.lastEventCreated ?? null) : Math.max(e.created, current?.lastEventCreated ?? e.created);
        this.stmt(
            `INSERT INTO tenants (id, region, state, manifest_status, tier, website_id, last_job_id, updated_at, last_event_created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(id) DO UPDATE SET region = excluded.region, state = excluded.state, manifest_status = excluded.manifest_status,
               tier = excluded.tier, website_id = excluded.website_id, last_job_id = excluded.last_job_id, updated_at = excluded.updated_at,
               last_event_created = excluded.last_event_created`,
        ).run(
            e.tenantId,
            e.region,
            job ? "pending" : (current?.state ?? "pending"),
            e.manifestStatus,
            e.tier,
            e.websiteId,
            job?.id ?? current?.lastJobId ?? null,
            ts,
            created,
        );
        return { job, newJob };
    }

    getJob(id: string): JobRecord | undefined {
        const row = this.stmt("SELECT * FROM jobs WHERE id = ?").get(id) as Row | undefined;
        return row ? jobFrom(row) : undefined;
    }

    jobs(): JobRecord[] {
        return (this.stmt("SELECT * FROM jobs ORDER BY seq").all() as Row[]).map(jobFrom);
    }

    /** Stacks (job queues) with queued or interrupted (running) jobs. */
    pendingStacks(): string[] {
        return (this.stmt("SELECT DISTINCT stack FROM jobs WHERE state IN ('queued', 'running') ORDER BY stack").all() as Row[]).map((r) => String(r.stack));
    }

    queueDepth(): Map<string, number> {
        const out = new Map<string, number>();
        for (const r of this.stmt("SELECT stack, count(*) AS n FROM jobs WHERE state = 'queued' GROUP BY stack").all() as Row[])
            out.set(String(r.stack), Number(r.n));
        return out;
    }

    /**
     * Takes the stack's next job (one queue per stack: a region's, or one of
     * its shards'): an interrupted one (state running, left by a process that
     * died) first, else the oldest queued one. Marks it running and its
     * tenants provisioning.
     */
    claimNext(stack: string, now = new Date()): JobRecord | undefined {
        return this.tx(() => {
            const row = this.stmt(
                "SELECT * FROM jobs WHERE stack = ? AND state IN ('running', 'queued') ORDER BY CASE state WHEN 'running' THEN 0 ELSE 1 END, seq LIMIT 1",
            ).get(stack) as Row | undefined;
            if (!row) return undefined;
            return this.markRunning(jobFrom(row), now);
        });
    }

    /** Claims a specific job (broker mode); undefined when it is already finished. */
    claim(id: string, now = new Date()): JobRecord | undefined {
        return this.tx(() => {
            const job = this.getJob(id);
            if (!job || (job.state !== "queued" && job.state !== "running")) return undefined;
            return this.markRunning(job, now);
        });
    }

    private markRunning(job: JobRecord, now: Date): JobRecord {
        const ts = now.toISOString();
        this.stmt("UPDATE jobs SET state = 'running', started_at = ?, attempts = attempts + 1 WHERE id = ?").run(ts, job.id);
        for (const t of job.tenants) {
            this.stmt("UPDATE tenants SET state = 'provisioning', last_job_id = ?, updated_at = ? WHERE id = ?").run(job.id, ts, t);
        }
        return this.getJob(job.id)!;
    }

    /** Puts an interrupted job back in its queue (the service is stopping). */
    requeue(id: string): JobRecord {
        this.stmt("UPDATE jobs SET state = 'queued' WHERE id = ? AND state = 'running'").run(id);
        return this.getJob(id)!;
    }

    setTargeted(id: string, targeted: boolean): void {
        this.stmt("UPDATE jobs SET targeted = ? WHERE id = ?").run(targeted ? 1 : 0, id);
    }

    /** Marks a job finished, sets its tenants' states and queues the events to publish, atomically. */
    finishJob(
        id: string,
        result: { state: "succeeded" | "failed" | "cancelled"; error?: string; logTail: string[] },
        tenantStates: ReadonlyMap<string, TenantState>,
        outbox: readonly { routingKey: string; body: string }[],
        now = new Date(),
    ): JobRecord {
        return this.tx(() => {
            const ts = now.toISOString();
            this.stmt("UPDATE jobs SET state = ?, finished_at = ?, error = ?, log_tail = ? WHERE id = ?").run(
                result.state,
                ts,
                result.error ?? null,
                JSON.stringify(result.logTail.slice(-50)),
                id,
            );
            for (const [tenant, state] of tenantStates) {
                this.stmt("UPDATE tenants SET state = ?, updated_at = ? WHERE id = ? AND last_job_id = ?").run(state, ts, tenant, id);
            }
            for (const o of outbox) this.stmt("INSERT INTO outbox (routing_key, body) VALUES (?, ?)").run(o.routingKey, o.body);
            return this.getJob(id)!;
        });
    }

    getTenant(id: string): TenantRecord | undefined {
        const row = this.stmt("SELECT * FROM tenants WHERE id = ?").get(id) as Row | undefined;
        return row ? tenantFrom(row) : undefined;
    }

    eventsOf(job: JobRecord): EventRecord[] {
        return job.events.map((e) => this.getEvent(e)).filter((e): e is EventRecord => e !== undefined);
    }

    unpublished(limit = 100): OutboxRecord[] {
        return (this.stmt("SELECT seq, routing_key, body FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?").all(limit) as Row[]).map((r) => ({
            seq: Number(r.seq),
            routingKey: String(r.routing_key),
            body: String(r.body),
        }));
    }

    markPublished(seq: number, now = new Date()): void {
        this.stmt("UPDATE outbox SET published_at = ? WHERE seq = ?").run(now.toISOString(), seq);
    }
}
