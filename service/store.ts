/**
 * The service's durable state: every event id seen (with a digest of its
 * body), the deployment jobs (with their leases), the tenants' lifecycle
 * states (and the `created` time of the last event applied to each), the
 * intents of the batches being written to the manifest, the outbox of
 * events to publish, and what each tenant's last successful job reported.
 *
 * One implementation of the logic (`Store`, below) over one SQL text per
 * statement, on either of two drivers (service/storeDriver.ts):
 *
 * - SQLite (node:sqlite, a file next to the service): the embedded default,
 *   one replica. Owned by one process (service.ts, `<store>.lock`).
 * - MySQL / MariaDB (mysql2, `--store mysql://…` or STORE_URL): shared by
 *   every replica. Jobs are claimed under a lease (`SELECT … FOR UPDATE
 *   SKIP LOCKED`), kept alive by the runner's heartbeat and completed only by
 *   their lease holder (fencing: the lease token); the group commit runs
 *   under a named lock (GET_LOCK) so one replica at a time writes a batch.
 *
 * Every method is asynchronous; writes that belong together run in one
 * transaction. A store locked by another process never blocks the event
 * loop: the SQLite driver fails a locked call at once and retries it on
 * timers, the MySQL driver retries a deadlock or lock timeout, each up to a
 * deadline, then StoreBusy (503 store-busy).
 */
import { randomUUID } from "node:crypto";
import * as os from "node:os";
import type { TenantStatus } from "../lib/manifest";
import type { Region } from "../lib/regions";
import type { Tier } from "../lib/tiers";
import type { JobState, TenantState } from "./schemas";
import { isMysqlUrl, SqliteDriver, type DriverOptions, type Row, type SqlDriver, type SqlRunner } from "./storeDriver";
import { MysqlDriver } from "./storeMysql";

export { StoreBusy } from "./storeDriver";

/** The driver of a store target: a MySQL URL (`mysql://user:password@host:port/database`), else a SQLite file (or ":memory:"). */
export function openDriver(target: string, opts: DriverOptions): SqlDriver {
    return isMysqlUrl(target) ? new MysqlDriver(target, opts) : new SqliteDriver(target, opts);
}

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
    /** The lease of its current (or last) claim; null when never claimed or requeued. */
    readonly lease: Lease | null;
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

/** A job's lease: who runs it, the fencing token of this claim, until when (epoch ms) unless renewed. */
export interface Lease {
    readonly owner: string;
    readonly token: string;
    readonly expiresAt: number;
}

/** The lease of a job is held by another live runner (or it ended): this runner's heartbeat or completion is refused. */
export class LeaseLost extends Error {
    override readonly name = "LeaseLost";
    constructor(readonly jobId: string) {
        super(`the lease of job ${jobId} is no longer held by this replica (it expired and another replica took the job)`);
    }
}

/** What `claim` finds for a given job id (broker mode). */
export type ClaimResult =
    | { readonly kind: "claimed"; readonly job: JobRecord }
    /** Run by another replica whose lease is alive: try again after `retryInMs`. */
    | { readonly kind: "leased"; readonly retryInMs: number }
    /** Finished or unknown: nothing to run. */
    | { readonly kind: "done" };

/**
 * The tables: one text for both dialects (`{serial}`: the auto-increment
 * key; `{table}`: MySQL's engine and charset). Ids are VARCHAR(191) (the
 * longest indexable utf8mb4 key); lists that grow with a job are MEDIUMTEXT.
 */
const TABLES: readonly string[] = [
    `CREATE TABLE IF NOT EXISTS events (
    id VARCHAR(191) PRIMARY KEY,
    type VARCHAR(64) NOT NULL,
    tenant_id VARCHAR(191) NOT NULL,
    region VARCHAR(64) NOT NULL,
    website_id INTEGER NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    job_id VARCHAR(64),
    received_at VARCHAR(32) NOT NULL
){table}`,
    `CREATE TABLE IF NOT EXISTS jobs (
    seq {serial},
    id VARCHAR(64) NOT NULL UNIQUE,
    region VARCHAR(64) NOT NULL,
    stack VARCHAR(128) NOT NULL,
    state VARCHAR(16) NOT NULL,
    tenants MEDIUMTEXT NOT NULL,
    events MEDIUMTEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    targeted INTEGER NOT NULL DEFAULT 0,
    created_at VARCHAR(32) NOT NULL,
    started_at VARCHAR(32),
    finished_at VARCHAR(32),
    error TEXT,
    log_tail MEDIUMTEXT NOT NULL DEFAULT '[]'
){table}`,
    `CREATE TABLE IF NOT EXISTS tenants (
    id VARCHAR(191) PRIMARY KEY,
    region VARCHAR(64),
    state VARCHAR(16) NOT NULL,
    manifest_status VARCHAR(16),
    tier VARCHAR(32),
    website_id INTEGER,
    last_job_id VARCHAR(64),
    updated_at VARCHAR(32)
){table}`,
    `CREATE TABLE IF NOT EXISTS outbox (
    seq {serial},
    routing_key VARCHAR(128) NOT NULL,
    body MEDIUMTEXT NOT NULL,
    published_at VARCHAR(32)
){table}`,
    `CREATE TABLE IF NOT EXISTS intents (
    seq {serial},
    batch VARCHAR(64) NOT NULL,
    event_id VARCHAR(191) NOT NULL,
    tenant_id VARCHAR(191) NOT NULL,
    body MEDIUMTEXT NOT NULL,
    digest VARCHAR(64) NOT NULL,
    created_at VARCHAR(32) NOT NULL
){table}`,
    `CREATE TABLE IF NOT EXISTS tenant_credentials (tenant_id VARCHAR(191) PRIMARY KEY, locations MEDIUMTEXT NOT NULL, updated_at VARCHAR(32) NOT NULL){table}`,
    `CREATE TABLE IF NOT EXISTS tenant_deployed_status (tenant_id VARCHAR(191) PRIMARY KEY, status VARCHAR(16) NOT NULL, updated_at VARCHAR(32) NOT NULL){table}`,
    // One row per job stack: the row a claim locks, so two replicas never claim jobs of one stack at once.
    `CREATE TABLE IF NOT EXISTS job_stacks (stack VARCHAR(128) PRIMARY KEY){table}`,
];

const INDEXES: readonly (readonly [name: string, table: string, columns: string])[] = [
    ["jobs_region_state", "jobs", "region, state, seq"],
    ["jobs_stack_state", "jobs", "stack, state, seq"],
    ["intents_tenant", "intents", "tenant_id"],
    ["intents_event", "intents", "event_id"],
];

/** Columns added after the first release: added to an existing store when it opens. */
const ADDED_COLUMNS: readonly (readonly [table: string, column: string, type: string])[] = [
    ["events", "body_sha256", "VARCHAR(64)"],
    ["tenants", "last_event_created", "BIGINT"],
    ["events", "error", "TEXT"],
    ["jobs", "lease_owner", "VARCHAR(191)"],
    ["jobs", "lease_token", "VARCHAR(64)"],
    ["jobs", "lease_expires_at", "BIGINT"],
];

export interface StoreOptions {
    /** How long a call retries a store locked by another process (SQLite) or a deadlock (MySQL), in ms. Default 5000. */
    readonly busyTimeoutMs?: number;
    /** How long a job's lease lasts unless its runner renews it, in ms. Default 30000. */
    readonly leaseMs?: number;
    /** This replica's name in the leases it holds. Default `<host>:<pid>:<random>`. */
    readonly owner?: string;
    /** The clock of the leases (epoch ms). Default Date.now; the unit tests inject one. */
    readonly clock?: () => number;
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
    /**
     * Whether the event needs a deployment. False when it changed nothing and
     * what it would deploy is deployed already (a suspension event whose
     * status the tenant already had when its last job succeeded): it is
     * recorded `unchanged`, with no job, and `outbox` is its platform event.
     */
    readonly deploy: boolean;
    /** The platform event of an event that needs no deployment, written in the same transaction. */
    readonly outbox?: { readonly event: string };
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
        lease:
            typeof row.lease_token === "string" && row.lease_expires_at !== null && row.lease_expires_at !== undefined
                ? { owner: String(row.lease_owner), token: row.lease_token, expiresAt: Number(row.lease_expires_at) }
                : null,
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

function eventFrom(row: Row): EventRecord {
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

/** Where each of a successful job's tenants stands: its deployed status and credential locations (null: none known). */
export interface DeployedRow {
    readonly tenantId: string;
    readonly status?: string;
    readonly credentials?: unknown;
}

/** No LIMIT: the largest row count a LIMIT accepts in both dialects. */
const ALL = 1e15;

/** This process's default name in the leases it takes. */
function defaultOwner(): string {
    return `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

export class Store {
    /** The SQL driver (SQLite or MySQL). */
    readonly driver: SqlDriver;
    /** How long a claimed job's lease lasts unless renewed, ms. */
    readonly leaseMs: number;
    /** This replica's name in its leases. */
    readonly owner: string;
    private readonly clock: () => number;
    private readonly ready: Promise<void>;
    /** Stacks whose job_stacks row this process has made sure of. */
    private readonly knownStacks = new Set<string>();

    /**
     * `target`: a SQLite file, ":memory:", a `mysql://user:password@host:port/database` URL, or a driver. The schema is
     * created (or migrated) before the first call; `Store.open` waits for it and reports a failure at once.
     */
    constructor(target: string | SqlDriver, opts: StoreOptions = {}) {
        this.driver = typeof target === "string" ? openDriver(target, { busyTimeoutMs: opts.busyTimeoutMs ?? 5000 }) : target;
        this.leaseMs = opts.leaseMs ?? 30_000;
        this.owner = opts.owner ?? defaultOwner();
        this.clock = opts.clock ?? Date.now;
        this.ready = this.migrate();
        this.ready.catch(() => undefined);
    }

    /** A store whose schema is in place (created, or migrated to this release's). */
    static async open(target: string | SqlDriver, opts: StoreOptions = {}): Promise<Store> {
        const store = new Store(target, opts);
        try {
            await store.ready;
        } catch (err) {
            await store.close();
            throw err;
        }
        return store;
    }

    /** Idempotent: tables and indexes created if missing, columns of later releases added; under a named lock (replicas start together). */
    private async migrate(): Promise<void> {
        const d = this.driver;
        await d.exclusive("cv-store-migrate", async () => {
            for (const t of TABLES) await d.run(t.replace(/\{serial\}/g, d.dialect.serial).replace("{table}", d.dialect.tableOptions));
            for (const [table, column, type] of ADDED_COLUMNS) {
                if ((await d.columns(table)).includes(column)) continue;
                try {
                    await d.run(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
                } catch (err) {
                    // Another process sharing a SQLite file added it first (the named lock is per process there).
                    if (!(await d.columns(table)).includes(column)) throw err;
                }
            }
            for (const [name, table, columns] of INDEXES) await d.ensureIndex(name, table, columns);
        });
    }

    private async q(): Promise<SqlDriver> {
        await this.ready;
        return this.driver;
    }

    /** What the store is, for logs and readiness (a URL without its password). */
    get description(): string {
        return this.driver.description;
    }

    /** Whether the store is open (not closed). */
    get isOpen(): boolean {
        return this.driver.isOpen;
    }

    /** Round trip to the database within `timeoutMs` (readiness). */
    async ping(timeoutMs: number): Promise<void> {
        await (await this.q()).ping(timeoutMs);
    }

    /** Runs `fn` while holding the store-wide named lock `name` (across every replica of a shared store; in-process for SQLite). */
    async exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
        return (await this.q()).exclusive(name, fn);
    }

    async close(): Promise<void> {
        await this.ready.catch(() => undefined);
        await this.driver.close();
    }

    private static async one(q: SqlRunner, sql: string, params: readonly (string | number | null)[] = []): Promise<Row | undefined> {
        return (await q.all(sql, params))[0];
    }

    async getEvent(id: string): Promise<EventRecord | undefined> {
        const row = await Store.one(await this.q(), "SELECT * FROM events WHERE id = ?", [id]);
        return row ? eventFrom(row) : undefined;
    }

    async eventCount(): Promise<number> {
        return Number((await Store.one(await this.q(), "SELECT count(*) AS n FROM events"))!.n);
    }

    /**
     * Records an applied event and attaches it to the region's queued job
     * (coalescing) or to a new one, in one transaction. Returns the job and
     * whether it is new (a new job must be announced to the queue).
     */
    async acceptEvent(e: AcceptedEvent, now = new Date()): Promise<{ job: JobRecord | null; newJob: boolean }> {
        return (await this.acceptEvents([e], now))[0];
    }

    /**
     * acceptEvent for a batch of events, in order, in one transaction (one
     * commit, one fsync): the group commit of the webhook service.
     */
    async acceptEvents(events: readonly AcceptedEvent[], now = new Date(), opts: AcceptOptions = {}): Promise<{ job: JobRecord | null; newJob: boolean }[]> {
        const stale = opts.stale ?? [];
        const refused = opts.refused ?? [];
        const intents = opts.closeIntents ?? [];
        const closeEvents = opts.closeEvents ?? [];
        if (events.length === 0 && stale.length === 0 && refused.length === 0 && intents.length === 0 && closeEvents.length === 0) return [];
        const ts = now.toISOString();
        return (await this.q()).tx(async (q) => {
            const out: { job: JobRecord | null; newJob: boolean }[] = [];
            for (const e of events) out.push(await this.recordEvent(q, e, ts));
            for (const e of stale) {
                await q.run(
                    "INSERT INTO events (id, type, tenant_id, region, website_id, outcome, job_id, received_at, body_sha256) VALUES (?, ?, ?, ?, ?, 'stale', NULL, ?, ?)",
                    [e.id, e.type, e.tenantId, e.region, e.websiteId, ts, e.digest ?? null],
                );
            }
            for (const e of refused) {
                await q.run(
                    "INSERT INTO events (id, type, tenant_id, region, website_id, outcome, job_id, received_at, body_sha256, error) VALUES (?, ?, ?, ?, ?, 'refused', NULL, ?, ?, ?)",
                    [e.id, e.type, e.tenantId, e.region, e.websiteId, ts, e.digest ?? null, JSON.stringify(e.error)],
                );
                await q.run("INSERT INTO outbox (routing_key, body) VALUES (?, ?)", [e.outbox.event, JSON.stringify(e.outbox)]);
            }
            for (const batch of intents) await q.run("DELETE FROM intents WHERE batch = ?", [batch]);
            for (const id of closeEvents) await q.run("DELETE FROM intents WHERE event_id = ?", [id]);
            return out;
        });
    }

    /**
     * Records, durably, the deliveries of a batch about to be written to the
     * manifest (before the write): until the batch's events are recorded
     * (acceptEvents with closeIntents), its tenants read as pending, and a
     * batch a crash left open is applied again on start. Returns the batch id.
     */
    async openIntent(deliveries: readonly Omit<IntentRecord, "batch">[], now = new Date()): Promise<string> {
        const batch = `batch_${randomUUID()}`;
        const ts = now.toISOString();
        await (
            await this.q()
        ).tx(async (q) => {
            for (const d of deliveries) {
                await q.run("INSERT INTO intents (batch, event_id, tenant_id, body, digest, created_at) VALUES (?, ?, ?, ?, ?, ?)", [
                    batch,
                    d.eventId,
                    d.tenantId,
                    d.body,
                    d.digest,
                    ts,
                ]);
            }
        });
        return batch;
    }

    /** The deliveries waiting to be applied (the inbox, every replica's), oldest first; at most `limit`. */
    async openIntents(limit = ALL): Promise<IntentRecord[]> {
        return (await (await this.q()).all("SELECT batch, event_id, tenant_id, body, digest FROM intents ORDER BY seq LIMIT ?", [limit])).map((r) => ({
            batch: String(r.batch),
            eventId: String(r.event_id),
            tenantId: String(r.tenant_id),
            body: String(r.body),
            digest: String(r.digest),
        }));
    }

    /** An event waiting in the inbox (accepted, not applied yet): its tenant, its digest and when it was stored. */
    async queuedEvent(eventId: string): Promise<{ tenantId: string; receivedAt: string; digest: string } | undefined> {
        const row = await Store.one(await this.q(), "SELECT tenant_id, created_at, digest FROM intents WHERE event_id = ? ORDER BY seq LIMIT 1", [eventId]);
        return row ? { tenantId: String(row.tenant_id), receivedAt: String(row.created_at), digest: String(row.digest) } : undefined;
    }

    /** Whether a batch being written (or left open) changes this tenant: its state is then pending, whatever the manifest says. */
    async hasOpenIntent(tenantId: string): Promise<boolean> {
        return (await Store.one(await this.q(), "SELECT 1 AS one FROM intents WHERE tenant_id = ? LIMIT 1", [tenantId])) !== undefined;
    }

    /** Drops the intents of a batch whose manifest write did not happen. */
    async dropIntent(batch: string): Promise<void> {
        await (await this.q()).run("DELETE FROM intents WHERE batch = ?", [batch]);
    }

    private async recordEvent(q: SqlRunner, e: AcceptedEvent, ts: string): Promise<{ job: JobRecord | null; newJob: boolean }> {
        let job: JobRecord | null = null;
        let newJob = false;
        if (e.deploy) {
            // Locked: a replica claiming this job waits for this transaction (its events are in the job it runs, or in a new one).
            const queued = await Store.one(
                q,
                `SELECT * FROM jobs WHERE region = ? AND stack = ? AND state = 'queued' ORDER BY seq LIMIT 1${this.driver.dialect.forUpdate}`,
                [e.region, e.stack],
            );
            if (queued) {
                const j = jobFrom(queued);
                const tenants = j.tenants.includes(e.tenantId) ? j.tenants : [...j.tenants, e.tenantId];
                await q.run("UPDATE jobs SET tenants = ?, events = ? WHERE id = ?", [JSON.stringify(tenants), JSON.stringify([...j.events, e.id]), j.id]);
                job = { ...j, tenants, events: [...j.events, e.id] };
            } else {
                const id = `job_${randomUUID()}`;
                await q.run("INSERT INTO jobs (id, region, stack, state, tenants, events, created_at) VALUES (?, ?, ?, 'queued', ?, ?, ?)", [
                    id,
                    e.region,
                    e.stack,
                    JSON.stringify([e.tenantId]),
                    JSON.stringify([e.id]),
                    ts,
                ]);
                job = (await this.jobIn(q, id))!;
                newJob = true;
            }
        }
        await q.run(
            "INSERT INTO events (id, type, tenant_id, region, website_id, outcome, job_id, received_at, body_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [e.id, e.type, e.tenantId, e.region, e.websiteId, job ? "accepted" : "unchanged", job?.id ?? null, ts, e.digest ?? null],
        );
        if (!job && e.outbox) await q.run("INSERT INTO outbox (routing_key, body) VALUES (?, ?)", [e.outbox.event, JSON.stringify(e.outbox)]);
        const row = await Store.one(q, "SELECT * FROM tenants WHERE id = ?", [e.tenantId]);
        const current = row ? tenantFrom(row) : undefined;
        const created = e.created === undefined ? (current?.lastEventCreated ?? null) : Math.max(e.created, current?.lastEventCreated ?? e.created);
        await q.run(
            this.driver.dialect.upsert(
                "tenants",
                ["id", "region", "state", "manifest_status", "tier", "website_id", "last_job_id", "updated_at", "last_event_created"],
                "id",
            ),
            [
                e.tenantId,
                e.region,
                job ? "pending" : (current?.state ?? "pending"),
                e.manifestStatus,
                e.tier,
                e.websiteId,
                job?.id ?? current?.lastJobId ?? null,
                ts,
                created,
            ],
        );
        return { job, newJob };
    }

    private async jobIn(q: SqlRunner, id: string): Promise<JobRecord | undefined> {
        const row = await Store.one(q, "SELECT * FROM jobs WHERE id = ?", [id]);
        return row ? jobFrom(row) : undefined;
    }

    async getJob(id: string): Promise<JobRecord | undefined> {
        return this.jobIn(await this.q(), id);
    }

    async jobs(): Promise<JobRecord[]> {
        return (await (await this.q()).all("SELECT * FROM jobs ORDER BY seq")).map(jobFrom);
    }

    /** Stacks (job queues) with queued or running jobs (running: maybe left by a replica that died; its lease decides). */
    async pendingStacks(): Promise<string[]> {
        return (await (await this.q()).all("SELECT DISTINCT stack FROM jobs WHERE state IN ('queued', 'running') ORDER BY stack")).map((r) => String(r.stack));
    }

    async queueDepth(): Promise<Map<string, number>> {
        const out = new Map<string, number>();
        for (const r of await (await this.q()).all("SELECT stack, count(*) AS n FROM jobs WHERE state = 'queued' GROUP BY stack"))
            out.set(String(r.stack), Number(r.n));
        return out;
    }

    /** Makes sure the stack has its job_stacks row (the row a claim locks); once per stack and process. */
    private async stackRow(stack: string): Promise<void> {
        if (this.knownStacks.has(stack)) return;
        const d = await this.q();
        await d.run(`${d.dialect.insertIgnore} INTO job_stacks (stack) VALUES (?)`, [stack]);
        this.knownStacks.add(stack);
    }

    /**
     * Takes the stack's next job under a lease (one queue per stack: a
     * region's, or one of its shards'): a job whose runner's lease expired
     * (state running, its replica dead) first, else the oldest queued one.
     * Nothing while another runner's lease on a job of this stack is alive,
     * or while another replica is claiming for this stack (its job_stacks row
     * is locked: skipped, not waited for). Marks the job running with a new
     * lease (owner, fencing token, expiry) and its tenants provisioning.
     */
    async claimNext(stack: string, now = new Date()): Promise<JobRecord | undefined> {
        await this.stackRow(stack);
        const d = await this.q();
        const lock = d.dialect.skipLocked;
        const t = this.clock();
        return d.tx(async (q) => {
            if (!(await Store.one(q, `SELECT stack FROM job_stacks WHERE stack = ?${lock}`, [stack]))) return undefined;
            if (await Store.one(q, "SELECT id FROM jobs WHERE stack = ? AND state = 'running' AND lease_expires_at > ? LIMIT 1", [stack, t])) return undefined;
            const row = await Store.one(
                q,
                `SELECT * FROM jobs WHERE stack = ? AND state IN ('running', 'queued') ORDER BY CASE state WHEN 'running' THEN 0 ELSE 1 END, seq LIMIT 1${lock}`,
                [stack],
            );
            return row ? this.markRunning(q, jobFrom(row), now, t) : undefined;
        });
    }

    /**
     * Claims a specific job (broker mode) under a lease: `leased` while
     * another runner's lease on it is alive (its message waits), `done` when
     * it is finished or unknown.
     */
    async claim(id: string, now = new Date()): Promise<ClaimResult> {
        const d = await this.q();
        const t = this.clock();
        return d.tx(async (q): Promise<ClaimResult> => {
            const row = await Store.one(q, `SELECT * FROM jobs WHERE id = ?${d.dialect.forUpdate}`, [id]);
            const job = row ? jobFrom(row) : undefined;
            if (!job || (job.state !== "queued" && job.state !== "running")) return { kind: "done" };
            if (job.state === "running" && job.lease && job.lease.expiresAt > t) return { kind: "leased", retryInMs: job.lease.expiresAt - t };
            return { kind: "claimed", job: await this.markRunning(q, job, now, t) };
        });
    }

    private async markRunning(q: SqlRunner, job: JobRecord, now: Date, t: number): Promise<JobRecord> {
        const ts = now.toISOString();
        await q.run(
            "UPDATE jobs SET state = 'running', started_at = ?, attempts = attempts + 1, lease_owner = ?, lease_token = ?, lease_expires_at = ? WHERE id = ?",
            [ts, this.owner, randomUUID(), t + this.leaseMs, job.id],
        );
        for (const tenant of job.tenants) {
            await q.run("UPDATE tenants SET state = 'provisioning', last_job_id = ?, updated_at = ? WHERE id = ?", [job.id, ts, tenant]);
        }
        return (await this.jobIn(q, job.id))!;
    }

    /** The heartbeat: extends the lease of a job this runner holds. Throws LeaseLost when it is no longer held (expired and taken, or finished). */
    async renewLease(job: JobRecord): Promise<Lease> {
        const expiresAt = this.clock() + this.leaseMs;
        const n = await (
            await this.q()
        ).run("UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND state = 'running' AND lease_token = ?", [expiresAt, job.id, tokenOf(job)]);
        if (n === 0) throw new LeaseLost(job.id);
        return { owner: this.owner, token: tokenOf(job), expiresAt };
    }

    /**
     * Ends every lease on running jobs now (their runners are gone): only by
     * the one owner of a store (SQLite without a broker, at start), so the
     * job a crash interrupted resumes at once instead of after its lease.
     */
    async expireLeases(): Promise<void> {
        await (await this.q()).run("UPDATE jobs SET lease_expires_at = 0 WHERE state = 'running'");
    }

    /** Puts an interrupted job back in its queue (the service is stopping); only by its lease holder. */
    async requeue(job: JobRecord): Promise<JobRecord> {
        const d = await this.q();
        await d.run(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL WHERE id = ? AND state = 'running' AND lease_token = ?",
            [job.id, tokenOf(job)],
        );
        return (await this.jobIn(d, job.id))!;
    }

    /**
     * Marks a job finished with its targeted flag, sets its tenants' states,
     * records the successful job's deployed statuses and credential
     * locations, and queues the events to publish, atomically; only by the
     * holder of its lease (LeaseLost otherwise, nothing written).
     */
    async finishJob(
        job: JobRecord,
        result: { state: "succeeded" | "failed" | "cancelled"; error?: string; logTail: string[]; targeted?: boolean },
        tenantStates: ReadonlyMap<string, TenantState>,
        outbox: readonly { routingKey: string; body: string }[],
        now = new Date(),
    ): Promise<JobRecord> {
        return (await this.q()).tx(async (q) => {
            const ts = now.toISOString();
            const n = await q.run(
                "UPDATE jobs SET state = ?, finished_at = ?, error = ?, log_tail = ?, targeted = ?, lease_expires_at = NULL WHERE id = ? AND state = 'running' AND lease_token = ?",
                [result.state, ts, result.error ?? null, JSON.stringify(result.logTail.slice(-50)), result.targeted ? 1 : 0, job.id, tokenOf(job)],
            );
            if (n === 0) throw new LeaseLost(job.id);
            for (const [tenant, state] of tenantStates) {
                await q.run("UPDATE tenants SET state = ?, updated_at = ? WHERE id = ? AND last_job_id = ?", [state, ts, tenant, job.id]);
            }
            for (const o of outbox) await q.run("INSERT INTO outbox (routing_key, body) VALUES (?, ?)", [o.routingKey, o.body]);
            return (await this.jobIn(q, job.id))!;
        });
    }

    async getTenant(id: string): Promise<TenantRecord | undefined> {
        const row = await Store.one(await this.q(), "SELECT * FROM tenants WHERE id = ?", [id]);
        return row ? tenantFrom(row) : undefined;
    }

    async eventsOf(job: JobRecord): Promise<EventRecord[]> {
        const out: EventRecord[] = [];
        for (const id of job.events) {
            const e = await this.getEvent(id);
            if (e) out.push(e);
        }
        return out;
    }

    async unpublished(limit = 100): Promise<OutboxRecord[]> {
        return (await (await this.q()).all("SELECT seq, routing_key, body FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?", [limit])).map((r) => ({
            seq: Number(r.seq),
            routingKey: String(r.routing_key),
            body: String(r.body),
        }));
    }

    async markPublished(seq: number, now = new Date()): Promise<void> {
        await (await this.q()).run("UPDATE outbox SET published_at = ? WHERE seq = ?", [now.toISOString(), seq]);
    }

    /** What a tenant's last successful job reported about its credentials (JSON as stored), if any. */
    async credentialsOf(tenantId: string): Promise<unknown> {
        const row = await Store.one(await this.q(), "SELECT locations FROM tenant_credentials WHERE tenant_id = ?", [tenantId]);
        return typeof row?.locations === "string" ? JSON.parse(row.locations) : undefined;
    }

    /**
     * Records what a successful job deployed, in one transaction: each
     * tenant's manifest status and, from `merge` (given what was recorded
     * before), its credential locations. Returns the status each tenant had
     * before (as the last successful job deployed it) and what is recorded.
     */
    async recordDeployed(
        rows: readonly DeployedRow[],
        merge: (tenantId: string, found: unknown, before: unknown) => unknown,
        now = new Date(),
    ): Promise<{ previous: Map<string, string | undefined>; credentials: Map<string, unknown> }> {
        const ts = now.toISOString();
        const d = await this.q();
        return d.tx(async (q) => {
            const previous = new Map<string, string | undefined>();
            const credentials = new Map<string, unknown>();
            for (const r of rows) {
                const status = await Store.one(q, "SELECT status FROM tenant_deployed_status WHERE tenant_id = ?", [r.tenantId]);
                previous.set(r.tenantId, typeof status?.status === "string" ? status.status : undefined);
                if (r.status)
                    await q.run(d.dialect.upsert("tenant_deployed_status", ["tenant_id", "status", "updated_at"], "tenant_id"), [r.tenantId, r.status, ts]);
                if (r.credentials === undefined) continue;
                if (r.credentials === null) {
                    credentials.set(r.tenantId, null);
                    continue;
                }
                const before = await Store.one(q, "SELECT locations FROM tenant_credentials WHERE tenant_id = ?", [r.tenantId]);
                const merged = merge(r.tenantId, r.credentials, typeof before?.locations === "string" ? JSON.parse(before.locations) : undefined);
                await q.run(d.dialect.upsert("tenant_credentials", ["tenant_id", "locations", "updated_at"], "tenant_id"), [
                    r.tenantId,
                    JSON.stringify(merged),
                    ts,
                ]);
                credentials.set(r.tenantId, merged);
            }
            return { previous, credentials };
        });
    }
}

function tokenOf(job: JobRecord): string {
    if (!job.lease) throw new LeaseLost(job.id);
    return job.lease.token;
}
