/**
 * The MySQL / MariaDB driver of the service's store (mysql2): the store
 * every replica shares. `mysql://user:password@host:port/database` (or
 * `mariadb://`); the password is never part of `description` or of an error
 * this driver raises.
 *
 * - A pool of connections; transactions in READ COMMITTED: a locking read
 *   and the reads after it see what other replicas committed.
 * - `tx`: BEGIN … COMMIT on one pooled connection; a deadlock (1213) or a
 *   lock wait timeout (1205) rolls back and runs the transaction again, up
 *   to `busyTimeoutMs`, then StoreBusy.
 * - `exclusive`: GET_LOCK on a connection of its own, held while `fn` runs,
 *   then RELEASE_LOCK; the server releases it when that connection dies (a
 *   replica killed with -9 does not hold it).
 * - A server that cannot be reached is StoreUnavailable (a StoreBusy: 503).
 */
import * as mysql from "mysql2/promise";
import { StoreBusy, type Dialect, type DriverOptions, type Row, type SqlDriver, type SqlRunner, type SqlValue } from "./storeDriver";

const MYSQL: Dialect = {
    name: "mysql",
    serial: "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
    // Binary collation: ids compare byte for byte, as in SQLite.
    tableOptions: " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    forUpdate: " FOR UPDATE",
    skipLocked: " FOR UPDATE SKIP LOCKED",
    insertIgnore: "INSERT IGNORE",
    upsert: (table, columns, key) =>
        `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")}) ON DUPLICATE KEY UPDATE ${columns
            .filter((c) => c !== key)
            .map((c) => `${c} = VALUES(${c})`)
            .join(", ")}`,
};

/** The MySQL server cannot be reached (or refused the login): nothing was done. */
export class StoreUnavailable extends StoreBusy {
    constructor(description: string, code: string) {
        super(0, `the store ${description} cannot be reached (${code})`);
        this.name = "StoreUnavailable";
    }
}

const RETRIED = new Set([1213, 1205]);
const UNREACHABLE = new Set([
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "EHOSTUNREACH",
    "ENOTFOUND",
    "PROTOCOL_CONNECTION_LOST",
    "ER_ACCESS_DENIED_ERROR",
    "ER_DBACCESS_DENIED_ERROR",
    "ER_BAD_DB_ERROR",
    "ER_CON_COUNT_ERROR",
]);

export interface MysqlTarget {
    readonly host: string;
    readonly port: number;
    readonly user: string;
    readonly password: string;
    readonly database: string;
    /** The URL without its password. */
    readonly description: string;
}

/** Parses `mysql://user:password@host:port/database`; the error names the part to fix and never shows the password. */
export function parseMysqlUrl(target: string): MysqlTarget {
    let url: URL;
    try {
        url = new URL(target);
    } catch {
        throw new Error("the store URL is not a URL. Fix: --store mysql://user:password@host:port/database (or STORE_URL)");
    }
    const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
    const user = decodeURIComponent(url.username);
    if (!url.hostname || !user || !database || database.includes("/"))
        throw new Error(
            `the store URL ${url.protocol}//${user || "?"}@${url.host || "?"}/${database || "?"} needs a user, a host and a database. Fix: --store mysql://user:password@host:port/database (or STORE_URL)`,
        );
    const port = url.port ? Number(url.port) : 3306;
    return {
        host: url.hostname,
        port,
        user,
        password: decodeURIComponent(url.password),
        database,
        description: `mysql://${user}@${url.hostname}:${port}/${database}`,
    };
}

export class MysqlDriver implements SqlDriver {
    readonly dialect = MYSQL;
    readonly description: string;
    private readonly pool: mysql.Pool;
    private readonly database: string;
    private open = true;

    constructor(
        target: string,
        private readonly opts: DriverOptions,
    ) {
        const t = parseMysqlUrl(target);
        this.description = t.description;
        this.database = t.database;
        this.pool = mysql.createPool({
            host: t.host,
            port: t.port,
            user: t.user,
            password: t.password,
            database: t.database,
            connectionLimit: 10,
            waitForConnections: true,
            connectTimeout: 5000,
            charset: "utf8mb4",
        });
    }

    get isOpen(): boolean {
        return this.open;
    }

    /** A server-side error as is; a connection failure as StoreUnavailable (no password in it). */
    private failure(err: unknown): unknown {
        const code = (err as { code?: unknown } | null)?.code;
        return typeof code === "string" && UNREACHABLE.has(code) ? new StoreUnavailable(this.description, code) : err;
    }

    private static runner(c: mysql.Pool | mysql.PoolConnection): SqlRunner {
        return {
            async all(sql, params = []) {
                const [rows] = await c.query(sql, params as SqlValue[]);
                return rows as Row[];
            },
            async run(sql, params = []) {
                const [res] = await c.query(sql, params as SqlValue[]);
                return (res as mysql.ResultSetHeader).affectedRows;
            },
        };
    }

    async all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
        try {
            return await MysqlDriver.runner(this.pool).all(sql, params);
        } catch (err) {
            throw this.failure(err);
        }
    }

    async run(sql: string, params?: readonly SqlValue[]): Promise<number> {
        try {
            return await MysqlDriver.runner(this.pool).run(sql, params);
        } catch (err) {
            throw this.failure(err);
        }
    }

    private async connection(): Promise<mysql.PoolConnection> {
        try {
            return await this.pool.getConnection();
        } catch (err) {
            throw this.failure(err);
        }
    }

    async tx<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T> {
        const started = Date.now();
        let delay = 5;
        for (;;) {
            const conn = await this.connection();
            try {
                // READ COMMITTED: a locking read and the reads after it see what the other replicas committed.
                await conn.query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
                await conn.beginTransaction();
                const out = await fn(MysqlDriver.runner(conn));
                await conn.commit();
                return out;
            } catch (err) {
                await conn.rollback().catch(() => undefined);
                const errno = (err as { errno?: unknown } | null)?.errno;
                const waited = Date.now() - started;
                if (typeof errno !== "number" || !RETRIED.has(errno)) throw this.failure(err);
                if (waited >= this.opts.busyTimeoutMs) throw new StoreBusy(waited, `the store stayed deadlocked or locked (waited ${waited} ms)`);
                await new Promise((resolve) => setTimeout(resolve, delay));
                delay = Math.min(delay * 2, 100);
            } finally {
                conn.release();
            }
        }
    }

    /** GET_LOCK names are server-wide: scoped by the database. */
    private lockName(name: string): string {
        return `${this.database}.${name}`.slice(0, 64);
    }

    async exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
        const conn = await this.connection();
        const lock = this.lockName(name);
        try {
            // Waits in slices of 10 s (a batch takes well under that): the holder is alive, else the server has released its lock.
            for (;;) {
                const [rows] = await conn.query("SELECT GET_LOCK(?, 10) AS ok", [lock]);
                if (Number((rows as Row[])[0]?.ok) === 1) break;
            }
            try {
                return await fn();
            } finally {
                await conn.query("SELECT RELEASE_LOCK(?)", [lock]).catch(() => undefined);
            }
        } catch (err) {
            throw this.failure(err);
        } finally {
            conn.release();
        }
    }

    async ping(timeoutMs: number): Promise<void> {
        let timer: NodeJS.Timeout | undefined;
        try {
            await Promise.race([
                this.all("SELECT 1 AS one"),
                new Promise((_, reject) => {
                    timer = setTimeout(() => reject(new Error(`no answer from ${this.description} within ${timeoutMs} ms`)), timeoutMs);
                }),
            ]);
        } finally {
            clearTimeout(timer);
        }
    }

    async columns(table: string): Promise<string[]> {
        return (await this.all("SELECT column_name AS name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?", [table])).map(
            (r) => String(r.name),
        );
    }

    async ensureIndex(name: string, table: string, columns: string): Promise<void> {
        const found = await this.all(
            "SELECT 1 AS one FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ? LIMIT 1",
            [table, name],
        );
        if (found.length === 0) await this.run(`CREATE INDEX ${name} ON ${table} (${columns})`);
    }

    async close(): Promise<void> {
        if (!this.open) return;
        this.open = false;
        await this.pool.end();
    }
}
