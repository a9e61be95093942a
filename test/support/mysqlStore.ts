/**
 * Fresh MySQL databases on the local MariaDB (`make local-up`) for the
 * service-store tests: created with the admin account, dropped at the end.
 * The URL carries the admin's password: tests never print it.
 */
import { randomBytes } from "node:crypto";
import * as mysql from "mysql2/promise";
import { localServices } from "./contract";

export class TestDatabases {
    private readonly created: string[] = [];
    private admin?: mysql.Connection;
    private readonly services = localServices();

    private async conn(): Promise<mysql.Connection> {
        this.admin ??= await mysql.createConnection({
            host: this.services.mysql.host,
            port: this.services.mysql.port,
            user: this.services.mysql.user,
            password: this.services.mysql.password,
        });
        return this.admin;
    }

    /** A new empty database; its `mysql://` URL for `--store`. */
    async create(prefix = "cv_store"): Promise<string> {
        const name = `${prefix}_${randomBytes(4).toString("hex")}`;
        await (await this.conn()).query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
        this.created.push(name);
        return this.url(name);
    }

    url(database: string, password = this.services.mysql.password): string {
        const m = this.services.mysql;
        return `mysql://${encodeURIComponent(m.user)}:${encodeURIComponent(password)}@${m.host}:${m.port}/${database}`;
    }

    get password(): string {
        return this.services.mysql.password;
    }

    /** Rows of a query in one of the created databases (the tests' own reads). */
    async query(database: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
        await (await this.conn()).query(`USE \`${database}\``);
        const [out] = await (await this.conn()).query(sql, params);
        return out as Record<string, unknown>[];
    }

    async dropAll(): Promise<void> {
        const c = await this.conn();
        for (const name of this.created.splice(0)) await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
        await c.end();
        this.admin = undefined;
    }
}

/** The database name of a store URL. */
export function databaseOf(url: string): string {
    return new URL(url).pathname.slice(1);
}
