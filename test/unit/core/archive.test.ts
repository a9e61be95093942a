/**
 * The pure edges of core/archive.ts and core/objectStore.ts: export targets,
 * the restore plan's text, the tenant's data and the settings read from the
 * environment (errors name the variable and the fix). The I/O is proven in
 * test/contract/archive.test.ts against the real servers.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { credentialsDirConnections, dbConnectionEnv, describePlan, dumpArgs, parseExportTarget, tenantData } from "../../../core/archive";
import { objectStoreEnv } from "../../../core/objectStore";

describe("export targets", () => {
    test("a directory, or s3://bucket[/prefix]", () => {
        expect(parseExportTarget("s3://exports/gdpr/abc/")).toEqual({ kind: "s3", bucket: "exports", prefix: "gdpr/abc/" });
        expect(parseExportTarget("s3://exports")).toEqual({ kind: "s3", bucket: "exports", prefix: "" });
        expect(parseExportTarget("out/abc")).toEqual({ kind: "dir", dir: path.resolve("out/abc") });
    });

    test("an invalid bucket name is refused with an example", () => {
        expect(() => parseExportTarget("s3://Exports_1/x")).toThrow(
            "--out s3://Exports_1/x: not s3://<bucket>[/<prefix>] with a valid bucket name. Fix: e.g. s3://exports/client-abc",
        );
    });
});

describe("a tenant's data", () => {
    test("its databases per service and its three buckets, by the naming rules", () => {
        expect(tenantData("abc")).toEqual({
            tenantId: "abc",
            databases: [
                { service: "auth", database: "client_abc_auth_db" },
                { service: "products", database: "client_abc_products_db" },
                { service: "orders", database: "client_abc_orders_db" },
            ],
            buckets: ["client-abc-products", "client-abc-sav", "client-abc-newsletters"],
        });
    });
});

describe("the dump of one database", () => {
    test("runs as the service's own user: a consistent snapshot, no tablespaces (MySQL 8.0.21+ wants PROCESS for them), no events, the password not on the line", () => {
        expect(
            dumpArgs({ host: "mysql.e-commerce-shared.svc.cluster.local", port: 3306, user: "abc_auth_user", password: "s3cret" }, "client_abc_auth_db"),
        ).toEqual([
            "--no-defaults",
            "--protocol=TCP",
            "--host=mysql.e-commerce-shared.svc.cluster.local",
            "--port=3306",
            "--user=abc_auth_user",
            "--single-transaction",
            "--quick",
            "--no-tablespaces",
            "--routines",
            "--triggers",
            "--hex-blob",
            "client_abc_auth_db",
        ]);
    });
});

describe("the restore plan as printed", () => {
    test("one line per database and per bucket", () => {
        const text = describePlan(
            {
                tenantId: "abc",
                stamp: "20261201-020000",
                kind: "daily",
                prefix: "tenants/abc/sets/20261201-020000/",
                databases: [
                    {
                        service: "auth",
                        database: "client_abc_auth_db",
                        key: "tenants/abc/sets/20261201-020000/db/client_abc_auth_db.sql.gz",
                        bytes: 1234,
                        sqlBytes: 5000,
                        sha256: "ab".repeat(32),
                    },
                ],
                buckets: [
                    {
                        bucket: "client-abc-sav",
                        objects: [
                            { key: "k", size: 10, etag: "e", objectKey: "a" },
                            { key: "k2", size: 5, etag: "f", objectKey: "b" },
                        ],
                    },
                ],
            },
            "archive",
        );
        expect(text.split("\n")).toEqual([
            "restore tenant abc from the daily backup 20261201-020000 (s3://archive/tenants/abc/sets/20261201-020000/):",
            "  database client_abc_auth_db: drop, create and load tenants/abc/sets/20261201-020000/db/client_abc_auth_db.sql.gz (1234 bytes gzipped, sha256 abababababab…)",
            "  bucket client-abc-sav: make it hold exactly the 2 objects of the backup (15 bytes); other objects are deleted",
        ]);
    });
});

describe("settings from the environment", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cv-archive-unit-"));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    test("the archive: the secret from its file; the tenant buckets default to the archive's server", () => {
        fs.writeFileSync(path.join(dir, "s3"), "s3cr3t\n");
        const env = objectStoreEnv({
            CV_S3_REGION: "eu-west-1",
            CV_S3_ACCESS_KEY_ID: "id",
            CV_S3_SECRET_ACCESS_KEY_FILE: path.join(dir, "s3"),
            CV_ARCHIVE_BUCKET: "arch",
        });
        expect(env).toEqual({
            archive: { endpoint: undefined, region: "eu-west-1", accessKeyId: "id", secretAccessKey: "s3cr3t" },
            archiveBucket: "arch",
            buckets: { endpoint: undefined, region: "eu-west-1", accessKeyId: "id", secretAccessKey: "s3cr3t" },
        });
    });

    test("a missing variable is named with the fix", () => {
        expect(() => objectStoreEnv({})).toThrow("CV_S3_REGION is not set. Fix: source .work/local.env after `make local-up`");
        expect(() => dbConnectionEnv({ CV_MYSQL_HOST: "h" })).toThrow("CV_MYSQL_PORT is not set. Fix:");
    });

    test("per-service credentials from mounted Secret files; a missing file names the Secret to mount", () => {
        fs.mkdirSync(path.join(dir, "auth"));
        for (const [k, v] of Object.entries({ DB_HOST: "mysql", DB_PORT: "3306", DB_USERNAME: "client_abc_auth_user", DB_PASSWORD: "pw\n" }))
            fs.writeFileSync(path.join(dir, "auth", k), v);
        const dbFor = credentialsDirConnections(dir);
        expect(dbFor("auth")).toEqual({ host: "mysql", port: 3306, user: "client_abc_auth_user", password: "pw" });
        expect(() => dbFor("orders")).toThrow(
            `${path.join(dir, "orders", "DB_HOST")} cannot be read. Fix: mount the orders-db-credentials Secret at ${path.join(dir, "orders")}.`,
        );
    });
});
