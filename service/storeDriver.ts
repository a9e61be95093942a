/**
 * The two SQL drivers of the service's store (service/store.ts holds the
 * one implementation of its logic): what differs between SQLite and
 * MySQL/MariaDB is here, as a few dialect fragments and the way a
 * statement, a transaction and a named lock are run.
 *
 * - SqliteDriver (node:sqlite): one connection, synchronous calls. The busy
 *   timeout is 0, so a database locked by another process fails a call at
 *   once; the call is retried on timers (5 ms, doubling to 100 ms) up to
 *   `busyTimeoutMs`, then StoreBusy. A transaction holds the connection
 *   across its awaits: every call goes through a FIFO mutex.
 * - MysqlDriver (service/storeMysql.ts): a mysql2 pool; READ COMMITTED; a
 *   transaction that meets a deadlock or a lock wait timeout is run again up
 *   to `busyTimeoutMs`; named locks are GET_LOCK, released by the server
 *   when the holder's connection dies.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";

export type Row = Record<string, unknown>;
export type SqlValue = string | number | null;

/** Runs statements (`?` placeholders): on a driver, or inside one of its transactions. */
export interface SqlRunner {
    all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
    /** Returns the number of rows the statement changed. */
    run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

/** What differs in the SQL text. */
export interface Dialect {
    readonly name: "sqlite" | "mysql";
    /** The auto-increment key column. */
    readonly serial: string;
    /** After CREATE TABLE (...): engine and charset. */
    readonly tableOptions: string;
    /** A locking read's suffix (SQLite: none, a write transaction holds the database). */
    readonly forUpdate: string;
    /** A locking read that skips rows another transaction holds. */
    readonly skipLocked: string;
    /** An INSERT that does nothing when the key exists. */
    readonly insertIgnore: string;
    /** INSERT of `columns` (one `?` each) that updates the other columns when `key` exists. */
    upsert(table: string, columns: readonly string[], key: string): string;
}

export interface SqlDriver extends SqlRunner {
    readonly dialect: Dialect;
    /** What the store is, without a password (logs, readiness). */
    readonly description: string;
    readonly isOpen: boolean;
    /** One transaction; `fn` must use the runner it is given. Run again after a deadlock (MySQL), so `fn` must only touch the database. */
    tx<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T>;
    /** Runs `fn` holding the named lock: across every process of a MySQL store, within this process for SQLite (owned by one process). */
    exclusive<T>(name: string, fn: () => Promise<T>): Promise<T>;
    ping(timeoutMs: number): Promise<void>;
    columns(table: string): Promise<string[]>;
    ensureIndex(name: string, table: string, columns: string): Promise<void>;
    close(): Promise<void>;
}

export interface DriverOptions {
    /** How long a call retries a locked database (SQLite) or a deadlocked transaction (MySQL), ms. */
    readonly busyTimeoutMs: number;
}

/** The store stayed locked (by another process, a deadlock) for longer than the caller's deadline. */
export class StoreBusy extends Error {
    constructor(
        readonly waitedMs: number,
        message = `the store is locked by another process (waited ${waitedMs} ms)`,
    ) {
        super(message);
        this.name = "StoreBusy";
    }
}

/** A FIFO mutex: `run` calls one at a time, in call order. */
export class Mutex {
    private tail: Promise<unknown> = Promise.resolve();

    run<T>(fn: () => Promise<T>): Promise<T> {
        const out = this.tail.then(fn, fn);
        this.tail = out.catch(() => undefined);
        return out;
    }
}

/** Named in-process mutexes. */
export class NamedMutexes {
    private readonly locks = new Map<string, Mutex>();

    run<T>(name: string, fn: () => Promise<T>): Promise<T> {
        let m = this.locks.get(name);
        if (!m) {
            m = new Mutex();
            this.locks.set(name, m);
        }
        return m.run(fn);
    }
}

/** SQLITE_BUSY (5), whatever its extended code. */
function isBusy(err: unknown): boolean {
    const code = (err as { errcode?: unknown } | null)?.errcode;
    return typeof code === "number" && (code & 0xff) === 5;
}

const SQLITE: Dialect = {
    name: "sqlite",
    serial: "INTEGER PRIMARY KEY AUTOINCREMENT",
    tableOptions: "",
    forUpdate: "",
    skipLocked: "",
    insertIgnore: "INSERT OR IGNORE",
    upsert: (table, columns, key) =>
        `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")}) ON CONFLICT(${key}) DO UPDATE SET ${columns
            .filter((c) => c !== key)
            .map((c) => `${c} = excluded.${c}`)
            .join(", ")}`,
};

export class SqliteDriver implements SqlDriver {
    readonly dialect = SQLITE;
    readonly db: DatabaseSync;
    private readonly statements = new Map<string, StatementSync>();
    private readonly connection = new Mutex();
    private readonly named = new NamedMutexes();
    private readonly inner: SqlRunner;

    /** `file` is a path or ":memory:". */
    constructor(
        readonly file: string,
        private readonly opts: DriverOptions,
    ) {
        if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
        this.db = new DatabaseSync(file);
        // Opening may wait for another process (at start, before anything is served); afterwards nothing waits inside a call.
        this.db.exec("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 0;");
        this.inner = {
            all: (sql, params = []) => this.attempt(() => this.stmt(sql).all(...params) as Row[]),
            run: (sql, params = []) => this.attempt(() => Number(this.stmt(sql).run(...params).changes)),
        };
    }

    get description(): string {
        return `sqlite:${this.file}`;
    }

    get isOpen(): boolean {
        return this.db.isOpen;
    }

    /**
     * Runs a call; while the database is locked by another process, tries
     * again on a timer (5 ms, doubling up to 100 ms) until `timeoutMs` have
     * passed, then rejects with StoreBusy. SQLite never sleeps inside the
     * call (busy timeout 0): the event loop keeps running.
     */
    async attempt<T>(fn: () => T, timeoutMs = this.opts.busyTimeoutMs): Promise<T> {
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

    /** A prepared statement, prepared once per connection. */
    private stmt(sql: string): StatementSync {
        let s = this.statements.get(sql);
        if (!s) {
            s = this.db.prepare(sql);
            this.statements.set(sql, s);
        }
        return s;
    }

    all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
        return this.connection.run(() => this.inner.all(sql, params));
    }

    run(sql: string, params?: readonly SqlValue[]): Promise<number> {
        return this.connection.run(() => this.inner.run(sql, params));
    }

    tx<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T> {
        return this.connection.run(async () => {
            // Throws SQLITE_BUSY at once (nothing done) while another process holds the write lock: retried on timers.
            await this.attempt(() => this.db.exec("BEGIN IMMEDIATE"));
            try {
                const out = await fn(this.inner);
                await this.attempt(() => this.db.exec("COMMIT"));
                return out;
            } catch (err) {
                if (this.db.isTransaction) this.db.exec("ROLLBACK");
                throw err;
            }
        });
    }

    exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
        return this.named.run(name, fn);
    }

    async ping(timeoutMs: number): Promise<void> {
        if (!this.db.isOpen) throw new Error("the store is closed");
        // Outside the connection's mutex: SELECT 1 touches no table, so it cannot interleave with a transaction's writes, and
        // it answers while a call waits for a database another process has locked.
        await this.attempt(() => this.stmt("SELECT 1").get(), timeoutMs);
    }

    async columns(table: string): Promise<string[]> {
        return (await this.all(`PRAGMA table_info(${table})`)).map((r) => String(r.name));
    }

    async ensureIndex(name: string, table: string, columns: string): Promise<void> {
        await this.run(`CREATE INDEX IF NOT EXISTS ${name} ON ${table} (${columns})`);
    }

    async close(): Promise<void> {
        await this.connection.run(() => {
            if (this.db.isOpen) this.db.close();
            return Promise.resolve();
        });
    }
}

/** Whether a store target is a MySQL URL (`mysql://` or `mariadb://`). */
export function isMysqlUrl(target: string): boolean {
    return /^(mysql|mariadb):\/\//i.test(target);
}
