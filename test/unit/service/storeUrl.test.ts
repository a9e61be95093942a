/**
 * The MySQL store's URL (`--store mysql://…` / STORE_URL): what it is
 * parsed into, the errors that name the fix, and the password kept out of
 * every description and error, including a server that cannot be reached
 * (a closed loopback port: no database needed).
 */
import { Store } from "../../../service/store";
import { isMysqlUrl } from "../../../service/storeDriver";
import { parseMysqlUrl, StoreUnavailable } from "../../../service/storeMysql";

const PASSWORD = "s3cr3t-p%40ss";

describe("the MySQL store URL", () => {
    it("is told from a SQLite path by its scheme", () => {
        expect(["mysql://u:p@h/db", "MariaDB://u@h/db", ".work/webhooks/service.db", ":memory:", "/tmp/mysql://x"].map(isMysqlUrl)).toEqual([
            true,
            true,
            false,
            false,
            false,
        ]);
    });

    it("parses user, password (percent-decoded), host, port (default 3306) and database; the description has no password", () => {
        expect(parseMysqlUrl(`mysql://platform:${PASSWORD}@db.internal/tenant_platform`)).toEqual({
            host: "db.internal",
            port: 3306,
            user: "platform",
            password: "s3cr3t-p@ss",
            database: "tenant_platform",
            description: "mysql://platform@db.internal:3306/tenant_platform",
        });
        expect(parseMysqlUrl("mysql://a:b@127.0.0.1:13306/x").port).toBe(13306);
    });

    it("refuses a URL without a user or a database, naming the fix and not the password", () => {
        expect(() => parseMysqlUrl(`mysql://:${PASSWORD}@db.internal/tenant_platform`)).toThrow(
            "the store URL mysql://?@db.internal/tenant_platform needs a user, a host and a database. Fix: --store mysql://user:password@host:port/database (or STORE_URL)",
        );
        expect(() => parseMysqlUrl(`mysql://platform:${PASSWORD}@db.internal/`)).toThrow(
            "the store URL mysql://platform@db.internal/? needs a user, a host and a database. Fix: --store mysql://user:password@host:port/database (or STORE_URL)",
        );
    });

    it("a server that cannot be reached: StoreUnavailable (a 503), naming the store without its password", async () => {
        let err: unknown;
        try {
            await Store.open(`mysql://platform:${PASSWORD}@127.0.0.1:1/tenant_platform`, { busyTimeoutMs: 500 });
        } catch (e) {
            err = e;
        }
        expect(err).toBeInstanceOf(StoreUnavailable);
        expect((err as Error).message).toBe("the store mysql://platform@127.0.0.1:1/tenant_platform cannot be reached (ECONNREFUSED)");
        expect(JSON.stringify(err) + String((err as Error).stack)).not.toContain("s3cr3t");
    });
});
