/**
 * Backups, restore and export against the real services of `make local-up`:
 * MariaDB (mariadb-dump / mariadb), the versitygw S3 server (archive bucket
 * with Object Lock, and standing in for the tenant buckets' MinIO) and
 * RabbitMQ's management API.
 *
 * A tenant is given real tables with rows and objects in its three buckets;
 * it is backed up into a fresh archive bucket; a table is dropped, rows
 * changed, objects deleted, overwritten and added; the restore brings back
 * exactly the original checksums. Retention, the final backup's Object Lock,
 * the dry-run plan of `tenantctl restore` and the export are checked the same
 * way. The size of the timed restore is CV_ARCHIVE_BENCH_MB (default 40 MB of
 * rows); its figures are printed and written to .work/archive-bench.json.
 * The tests run in order and build on each other (one tenant, one archive
 * bucket per run): the retention test adds the object the later ones list.
 * The final backup's locked objects stay in the run's archive bucket (the
 * S3 API cannot delete them); `local-down --purge` removes the store's files.
 */
import { DeleteObjectCommand, GetObjectRetentionCommand, ListObjectVersionsCommand, type S3Client } from "@aws-sdk/client-s3";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import {
    archiveContext,
    backupTenant,
    describePlan,
    exportTenant,
    listSets,
    planRestore,
    pruneLocal,
    pruneTenant,
    restore,
    sql,
    tenantData,
    type ArchiveContext,
    type DbConnection,
} from "../../core/archive";
import { deleteAllVersions, ensureBucket, getBuffer, listAll, objectStoreEnv, putObject } from "../../core/objectStore";
import { dumpKey, finalPrefix, setPrefix } from "../../lib/archiveLayout";
import { databaseName, vhostName } from "../../lib/naming";
import { backupCommand } from "../../components/tenantNamespace";
import { SERVICE_PRIVILEGES } from "../../components/tenantDatabase";
import { REPO_ROOT, localServices, readLocalEnv } from "../support/contract";

jest.setTimeout(600_000);

const TENANT = "arch-a";
const BENCH_MB = Number(process.env.CV_ARCHIVE_BENCH_MB ?? "40");
const data = tenantData(TENANT);
const [AUTH_DB, PRODUCTS_DB, ORDERS_DB] = data.databases.map((d) => d.database);
const [PRODUCTS_BUCKET, SAV_BUCKET, NEWSLETTERS_BUCKET] = data.buckets;
const figures: Record<string, number> = {};

let ctx: ArchiveContext;
let db: DbConnection;
let env: Record<string, string>;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** CHECKSUM TABLE of every table of a database, plus its row counts: `table=checksum/rows`. */
async function dbFingerprint(database: string): Promise<string[]> {
    const tables = (await sql(db, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='${database}' ORDER BY TABLE_NAME`))
        .trim()
        .split("\n")
        .filter(Boolean);
    const out: string[] = [];
    for (const t of tables) {
        const [, sum] = (await sql(db, `CHECKSUM TABLE \`${database}\`.\`${t}\``)).trim().split("\t");
        const rows = (await sql(db, `SELECT COUNT(*) FROM \`${database}\`.\`${t}\``)).trim();
        out.push(`${t}=${sum}/${rows}`);
    }
    return out;
}

async function bucketFingerprint(s3: S3Client, bucket: string): Promise<string[]> {
    const out: string[] = [];
    for (const o of await listAll(s3, bucket)) out.push(`${o.key}=${sha(await getBuffer(s3, bucket, o.key))}`);
    return out;
}

async function fingerprint(): Promise<Record<string, string[]>> {
    const fp: Record<string, string[]> = {};
    for (const d of data.databases) fp[d.database] = await dbFingerprint(d.database);
    for (const b of data.buckets) fp[b] = await bucketFingerprint(ctx.buckets, b);
    return fp;
}

async function dropTenant(): Promise<void> {
    for (const d of data.databases) await sql(db, `DROP DATABASE IF EXISTS \`${d.database}\``);
    for (const b of data.buckets) {
        try {
            await deleteAllVersions(ctx.buckets, b, "");
        } catch {
            /* bucket absent */
        }
    }
}

async function seedTenant(): Promise<void> {
    await dropTenant();
    for (const d of data.databases) await sql(db, `CREATE DATABASE \`${d.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await sql(
        db,
        `CREATE TABLE \`${AUTH_DB}\`.users (id INT PRIMARY KEY, email VARCHAR(190) NOT NULL UNIQUE, password_hash CHAR(64) NOT NULL, created DATETIME NOT NULL);
         INSERT INTO \`${AUTH_DB}\`.users VALUES (1,'ana@example.com',SHA2('a',256),'2026-01-02 03:04:05'),(2,'bo@example.com',SHA2('b',256),'2026-02-03 04:05:06'),(3,'céline@example.com',SHA2('c',256),'2026-03-04 05:06:07');
         CREATE TABLE \`${PRODUCTS_DB}\`.products (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, price DECIMAL(10,2) NOT NULL, image VARBINARY(64));
         INSERT INTO \`${PRODUCTS_DB}\`.products VALUES (1,'Mug',12.50,UNHEX(SHA2('mug',256))),(2,'T-shirt',19.99,NULL),(3,'Poster',7.00,UNHEX('00FF00FF'));
         CREATE TABLE \`${PRODUCTS_DB}\`.stock (product_id INT PRIMARY KEY, quantity INT NOT NULL);
         INSERT INTO \`${PRODUCTS_DB}\`.stock VALUES (1,40),(2,0),(3,12);
         CREATE TABLE \`${ORDERS_DB}\`.orders (id INT PRIMARY KEY, customer VARCHAR(40) NOT NULL, total DECIMAL(12,2) NOT NULL, payload TEXT NOT NULL) ENGINE=InnoDB;`,
    );
    // About BENCH_MB of order rows (≈ 330 bytes each), generated in the server.
    const rows = Math.max(1000, Math.round((BENCH_MB * 1024 * 1024) / 330));
    await sql(
        db,
        `SET SESSION max_recursive_iterations = ${rows + 10}; INSERT INTO \`${ORDERS_DB}\`.orders WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ${rows}) SELECT n, CONCAT('customer-', n MOD 9973), (n MOD 1000) + 0.99, CONCAT(SHA2(n, 256), MD5(n), SHA2(n * 7, 256), SHA2(n * 13, 256), MD5(n * 3)) FROM seq`,
    );
    figures.rows = rows;
    await sql(db, `ANALYZE TABLE \`${ORDERS_DB}\`.orders`);
    figures.innodbBytes = Number(
        (await sql(db, `SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${ORDERS_DB}'`)).trim(),
    );
    for (const b of data.buckets) await ensureBucket(ctx.buckets, b);
    await putObject(ctx.buckets, PRODUCTS_BUCKET, "images/mug.jpg", randomBytes(200_000), { contentType: "image/jpeg" });
    await putObject(ctx.buckets, PRODUCTS_BUCKET, "images/t-shirt.jpg", randomBytes(50_000), { contentType: "image/jpeg" });
    await putObject(ctx.buckets, PRODUCTS_BUCKET, "catalog.json", JSON.stringify({ products: [1, 2, 3] }), { contentType: "application/json" });
    await putObject(ctx.buckets, SAV_BUCKET, "tickets/2026/ticket-1.txt", "Mon colis est arrivé cassé.", { contentType: "text/plain" });
    await putObject(ctx.buckets, NEWSLETTERS_BUCKET, "2026-11.html", "<h1>Novembre</h1>", { contentType: "text/html" });
}

beforeAll(async () => {
    env = readLocalEnv();
    const store = objectStoreEnv({ ...env, CV_ARCHIVE_BUCKET: `cv-archive-test-${randomBytes(4).toString("hex")}` });
    const s = localServices();
    db = { host: s.mysql.host, port: s.mysql.port, user: s.mysql.user, password: s.mysql.password };
    ctx = archiveContext(store, db);
    await seedTenant();
});

afterAll(async () => {
    if (!ctx) return;
    await dropTenant();
    // The archive bucket of this run: everything but the final backup's locked objects goes.
    await deleteAllVersions(ctx.archive, ctx.archiveBucket, "");
    fs.mkdirSync(path.join(REPO_ROOT, ".work"), { recursive: true });
    fs.writeFileSync(path.join(REPO_ROOT, ".work", "archive-bench.json"), `${JSON.stringify({ benchMb: BENCH_MB, ...figures }, null, 2)}\n`);
    process.stdout.write(`archive figures: ${JSON.stringify(figures)}\n`);
});

let stamp: string;

describe("backup, damage, restore", () => {
    let original: Record<string, string[]>;

    test("a daily backup set holds a verified dump of every database and every bucket object", async () => {
        original = await fingerprint();
        expect(original[AUTH_DB]).toHaveLength(1);
        expect(original[PRODUCTS_DB]).toHaveLength(2);
        expect(original[PRODUCTS_BUCKET]).toHaveLength(3);
        const t0 = Date.now();
        const m = await backupTenant(ctx, data, { now: new Date() });
        figures.backupSeconds = (Date.now() - t0) / 1000;
        figures.dumpBytesGzipped = m.databases.reduce((n, d) => n + d.bytes, 0);
        figures.sqlBytes = m.databases.reduce((n, d) => n + d.sqlBytes, 0);
        figures.backupMBps = figures.sqlBytes / 1024 / 1024 / figures.backupSeconds;
        stamp = m.stamp;
        expect(m.kind).toBe("daily");
        expect(m.databases.map((d) => d.database)).toEqual([AUTH_DB, PRODUCTS_DB, ORDERS_DB]);
        expect(m.objectCount).toBe(5);
        expect(m.objectBytes).toBe(
            200_000 + 50_000 + JSON.stringify({ products: [1, 2, 3] }).length + Buffer.byteLength("Mon colis est arrivé cassé.") + "<h1>Novembre</h1>".length,
        );
        for (const d of m.databases) {
            const stored = await getBuffer(ctx.archive, ctx.archiveBucket, dumpKey(setPrefix(TENANT, stamp), d.database));
            expect(sha(stored)).toBe(d.sha256);
            expect(stored.length).toBe(d.bytes);
            const text = zlib.gunzipSync(stored);
            expect(text.length).toBe(d.sqlBytes);
            expect(text.subarray(-200).toString("utf8")).toContain("-- Dump completed"); // the dump's last line: not truncated
        }
        expect(await listSets(ctx, TENANT)).toEqual([stamp]);
    });

    test("after a dropped table, changed rows and deleted, overwritten and new objects, restore --from latest brings every checksum back", async () => {
        await sql(
            db,
            `DROP TABLE \`${PRODUCTS_DB}\`.stock; UPDATE \`${AUTH_DB}\`.users SET email = 'x@example.com' WHERE id = 1; DELETE FROM \`${ORDERS_DB}\`.orders WHERE id <= 500`,
        );
        await deleteAllVersions(ctx.buckets, PRODUCTS_BUCKET, "images/mug.jpg");
        await putObject(ctx.buckets, SAV_BUCKET, "tickets/2026/ticket-1.txt", "overwritten");
        await putObject(ctx.buckets, NEWSLETTERS_BUCKET, "spam.html", "added after the backup");
        const damaged = await fingerprint();
        expect(damaged[PRODUCTS_DB]).toHaveLength(1);
        expect(damaged[PRODUCTS_BUCKET]).toHaveLength(2);
        expect(damaged).not.toEqual(original);

        const plan = await planRestore(ctx, data, "latest");
        expect(plan.stamp).toBe(stamp);
        expect(plan.databases.map((d) => d.database)).toEqual([AUTH_DB, PRODUCTS_DB, ORDERS_DB]);
        expect(plan.buckets.map((b) => [b.bucket, b.objects.length])).toEqual([
            [PRODUCTS_BUCKET, 3],
            [SAV_BUCKET, 1],
            [NEWSLETTERS_BUCKET, 1],
        ]);
        const t0 = Date.now();
        const report = await restore(ctx, plan);
        figures.restoreSeconds = (Date.now() - t0) / 1000;
        figures.restoreMBps = figures.sqlBytes / 1024 / 1024 / figures.restoreSeconds;
        expect(report).toEqual({
            databases: 3,
            dumpBytes: figures.dumpBytesGzipped,
            objectsWritten: 2,
            objectsDeleted: 1,
            objectBytes: 200_000 + Buffer.byteLength("Mon colis est arrivé cassé."),
        });
        expect(await fingerprint()).toEqual(original);
    });

    test("--service restores one database only; --service buckets the objects only", async () => {
        await sql(db, `DROP TABLE \`${AUTH_DB}\`.users; DROP TABLE \`${PRODUCTS_DB}\`.products`);
        await putObject(ctx.buckets, SAV_BUCKET, "extra.txt", "x");
        const authOnly = await planRestore(ctx, data, "latest", "auth");
        expect(authOnly.databases.map((d) => d.database)).toEqual([AUTH_DB]);
        expect(authOnly.buckets).toEqual([]);
        await restore(ctx, authOnly);
        expect(await dbFingerprint(AUTH_DB)).toEqual(original[AUTH_DB]);
        expect(await dbFingerprint(PRODUCTS_DB)).toHaveLength(1);
        const bucketsOnly = await planRestore(ctx, data, "latest", "buckets");
        expect(bucketsOnly.databases).toEqual([]);
        await restore(ctx, bucketsOnly);
        expect(await bucketFingerprint(ctx.buckets, SAV_BUCKET)).toEqual(original[SAV_BUCKET]);
        await restore(ctx, await planRestore(ctx, data, "latest", "products"));
        expect(await fingerprint()).toEqual(original);
        await expect(planRestore(ctx, data, "latest", "billing")).rejects.toThrow(
            "--service billing: not a service of tenant arch-a. Fix: use one of auth, products, orders, buckets.",
        );
    });

    test("a corrupted dump is refused before the database is touched", async () => {
        const plan = await planRestore(ctx, data, "latest", "auth");
        const forged = { ...plan, databases: plan.databases.map((d) => ({ ...d, sha256: "0".repeat(64) })) };
        await sql(db, `INSERT INTO \`${AUTH_DB}\`.users VALUES (9,'new@example.com',SHA2('n',256),'2026-12-01 00:00:00')`);
        await expect(restore(ctx, forged)).rejects.toThrow(`differs from the backup manifest's ${"0".repeat(64)}; the database was not touched.`);
        expect((await sql(db, `SELECT email FROM \`${AUTH_DB}\`.users WHERE id = 9`)).trim()).toBe("new@example.com");
        await restore(ctx, plan);
    });

    test("tenantctl restore without --yes prints the plan and changes nothing", async () => {
        const planned = await planRestore(ctx, data, "latest");
        const before = await fingerprint();
        const archiveEnv = { ...process.env, ...env, CV_ARCHIVE_BUCKET: ctx.archiveBucket };
        const out = execFileSync(path.join(REPO_ROOT, "tenantctl"), ["restore", "--tenant", TENANT], { env: archiveEnv, encoding: "utf8", cwd: REPO_ROOT });
        const lines = out.trim().split("\n");
        expect(lines[0]).toBe(`restore tenant ${TENANT} from the daily backup ${stamp} (s3://${ctx.archiveBucket}/tenants/${TENANT}/sets/${stamp}/):`);
        expect(lines.slice(1, 4).map((l) => l.split(":")[0])).toEqual([`  database ${AUTH_DB}`, `  database ${PRODUCTS_DB}`, `  database ${ORDERS_DB}`]);
        const catalog = JSON.stringify({ products: [1, 2, 3] }).length;
        expect(lines[4]).toBe(
            `  bucket ${PRODUCTS_BUCKET}: make it hold exactly the 3 objects of the backup (${250_000 + catalog} bytes); other objects are deleted`,
        );
        expect(lines.slice(5)).toEqual([
            `  bucket ${SAV_BUCKET}: make it hold exactly the 1 objects of the backup (${Buffer.byteLength("Mon colis est arrivé cassé.")} bytes); other objects are deleted`,
            `  bucket ${NEWSLETTERS_BUCKET}: make it hold exactly the 1 objects of the backup (17 bytes); other objects are deleted`,
            "dry run: nothing changed. Run again with --yes to restore.",
        ]);
        expect(out).toContain(describePlan(planned, ctx.archiveBucket));
        expect(await fingerprint()).toEqual(before);
    });
});

describe("retention over the archive", () => {
    test("GFS pruning deletes exactly the sets the policy drops and the object versions only they referred to; the kept sets still restore", async () => {
        // Sets on 2026-03-01 .. 2026-03-05 (a Sunday-to-Thursday span), each after an object change.
        const days = ["20260301", "20260302", "20260303", "20260304", "20260305"];
        const stamps: string[] = [];
        for (const [i, day] of days.entries()) {
            await putObject(ctx.buckets, NEWSLETTERS_BUCKET, "rolling.txt", `version ${i}`);
            const m = await backupTenant(ctx, data, { now: new Date(`${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6, 8)}T02:00:00Z`) });
            stamps.push(m.stamp);
        }
        expect(stamps).toEqual(["20260301-020000", "20260302-020000", "20260303-020000", "20260304-020000", "20260305-020000"]);
        expect(await listSets(ctx, TENANT)).toEqual([...stamps, stamp]);
        // daily 2, weekly 3, monthly 1, newest first: the first set's (December, week 2026-W49) is daily, weekly and
        // monthly; 20260305 daily and weekly (2026-W10); 0304-0302 are in W10 and past the two days; 20260301, a Sunday,
        // is the newest of 2026-W09.
        // A run that failed on 2026-03-03 at 03:00 left a set without its manifest: never restored, pruned.
        await putObject(ctx.archive, ctx.archiveBucket, dumpKey(setPrefix(TENANT, "20260303-030000"), AUTH_DB), "partial");
        expect(await listSets(ctx, TENANT)).toEqual([...stamps, stamp]);
        const report = await pruneTenant(ctx, TENANT, { daily: 2, weekly: 3, monthly: 1 });
        expect(report.deleted).toEqual(["20260302-020000", "20260303-020000", "20260304-020000"]);
        expect(report.incomplete).toEqual(["20260303-030000"]);
        expect(await listAll(ctx.archive, ctx.archiveBucket, setPrefix(TENANT, "20260303-030000"))).toEqual([]);
        expect(report.kept).toEqual(["20260301-020000", "20260305-020000", stamp]);
        expect(report.versionsDeleted).toBe(3); // rolling.txt versions 1, 2 and 3
        expect(await listSets(ctx, TENANT)).toEqual(report.kept);
        const plan = await planRestore(ctx, data, "2026-03-01");
        expect(plan.stamp).toBe("20260301-020000");
        await restore(ctx, await planRestore(ctx, data, "2026-03-01", "buckets"));
        expect((await getBuffer(ctx.buckets, NEWSLETTERS_BUCKET, "rolling.txt")).toString()).toBe("version 0");
        await expect(planRestore(ctx, data, "2026-02-28")).rejects.toThrow(
            "no backup of tenant arch-a taken on or before 2026-02-28; the oldest is 20260301-020000. Fix: choose --from 2026-03-01 or later, or latest.",
        );
    });
});

describe("the backup job's command", () => {
    const creds = fs.mkdtempSync(path.join(os.tmpdir(), "cv-creds-"));
    const local = fs.mkdtempSync(path.join(os.tmpdir(), "cv-backup-volume-"));
    const users = data.databases.map((d) => ({ ...d, user: `cvarch_${d.service}`, password: randomBytes(12).toString("hex") }));

    beforeAll(async () => {
        for (const u of users) {
            // The grants the program declares for a service user (components/tenantDatabase.ts SERVICE_PRIVILEGES).
            await sql(
                db,
                `DROP USER IF EXISTS '${u.user}'@'%'; CREATE USER '${u.user}'@'%' IDENTIFIED BY '${u.password}'; GRANT ${SERVICE_PRIVILEGES.join(", ")} ON \`${u.database}\`.* TO '${u.user}'@'%'`,
            );
            const dir = path.join(creds, u.service);
            fs.mkdirSync(dir);
            for (const [k, v] of Object.entries({
                DB_HOST: db.host,
                DB_PORT: String(db.port),
                DB_USERNAME: u.user,
                DB_PASSWORD: u.password,
                DB_DATABASE: u.database,
            })) {
                fs.writeFileSync(path.join(dir, k), v);
            }
        }
    });
    afterAll(async () => {
        for (const u of users) await sql(db, `DROP USER IF EXISTS '${u.user}'@'%'`);
        fs.rmSync(creds, { recursive: true, force: true });
        fs.rmSync(local, { recursive: true, force: true });
    });

    test("tenantctl backup --credentials-dir --local-dir --prune: dumps with each service's own user, keeps a local copy, prunes the archive", async () => {
        // The CronJob's command (components/tenantNamespace.ts backupCommand), with the archive settings the pod gets in its env.
        const cmdEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...env, CV_ARCHIVE_BUCKET: ctx.archiveBucket };
        for (const k of ["CV_MYSQL_ADMIN_USER", "CV_MYSQL_ADMIN_PASSWORD_FILE"]) delete cmdEnv[k];
        const [cmd, ...args] = backupCommand(TENANT, ["auth", "products", "orders"], "daily").map((a) =>
            a === "/credentials" ? creds : a === "/backup" ? local : a,
        );
        expect(cmd).toBe("tenantctl");
        const out = execFileSync(path.join(REPO_ROOT, "tenantctl"), args, { env: cmdEnv, encoding: "utf8", cwd: REPO_ROOT });
        const lines = out.trim().split("\n");
        expect(lines[0]).toMatch(
            new RegExp(`^daily backup (\\d{8}-\\d{6}) of tenant ${TENANT}: 3 database\\(s\\), \\d+ bytes gzipped; 6 object\\(s\\), \\d+ bytes; \\d+\\.\\d s$`),
        );
        // The earlier set of today is no longer the newest of its day, week or month: GFS drops it.
        expect(lines[1]).toBe(`retention: kept 3 set(s), deleted 1 (${stamp}), 0 unreferenced object version(s)`);
        const setStamp = /^daily backup (\d{8}-\d{6})/.exec(lines[0])![1];
        expect(fs.readdirSync(path.join(local, "sets"))).toEqual([setStamp]);
        expect(fs.readdirSync(path.join(local, "sets", setStamp)).sort()).toEqual([`${AUTH_DB}.sql.gz`, `${ORDERS_DB}.sql.gz`, `${PRODUCTS_DB}.sql.gz`]);
        expect(await listSets(ctx, TENANT)).toEqual(["20260301-020000", "20260305-020000", setStamp]);
    });

    test("the local copies fit the volume: a capacity for two sets keeps the newest two", () => {
        const root = path.join(local, "sets");
        for (const stamp of ["20260101-020000", "20260102-020000", "20260103-020000"]) {
            fs.mkdirSync(path.join(root, stamp));
            fs.writeFileSync(path.join(root, stamp, "x.sql.gz"), Buffer.alloc(1000));
        }
        const newest = fs.readdirSync(root).sort().at(-1)!;
        const newestBytes = fs.readdirSync(path.join(root, newest)).reduce((n, f) => n + fs.statSync(path.join(root, newest, f)).size, 0);
        // Half the capacity holds the newest set and one 1000-byte set, not two.
        expect(pruneLocal(local, 2 * (newestBytes + 1000) + 1)).toEqual(["20260103-020000", newest]);
        expect(fs.readdirSync(root).sort()).toEqual(["20260103-020000", newest]);
    });
});

describe("the final backup of a cancelled tenant", () => {
    test("is under Object Lock in compliance mode for 7 years: its versions cannot be deleted, even bypassing governance", async () => {
        const now = new Date();
        const m = await backupTenant(ctx, data, { final: true, now });
        const until = new Date(now);
        until.setUTCFullYear(until.getUTCFullYear() + 7);
        expect(m.kind).toBe("final");
        expect(m.retainUntil).toBe(until.toISOString());
        const prefix = finalPrefix(TENANT, m.stamp);
        const keys = (await listAll(ctx.archive, ctx.archiveBucket, prefix)).map((o) => o.key.slice(prefix.length));
        expect(keys).toEqual(
            [
                `db/${AUTH_DB}.sql.gz`,
                `db/${ORDERS_DB}.sql.gz`,
                `db/${PRODUCTS_DB}.sql.gz`,
                "manifest.json",
                `objects/${NEWSLETTERS_BUCKET}/2026-11.html`,
                `objects/${NEWSLETTERS_BUCKET}/rolling.txt`,
                `objects/${PRODUCTS_BUCKET}/catalog.json`,
                `objects/${PRODUCTS_BUCKET}/images/mug.jpg`,
                `objects/${PRODUCTS_BUCKET}/images/t-shirt.jpg`,
                `objects/${SAV_BUCKET}/tickets/2026/ticket-1.txt`,
                "objects.json",
            ].sort(),
        );
        for (const k of keys) {
            const r = await ctx.archive.send(new GetObjectRetentionCommand({ Bucket: ctx.archiveBucket, Key: `${prefix}${k}` }));
            expect(r.Retention?.Mode).toBe("COMPLIANCE");
            expect(r.Retention?.RetainUntilDate?.toISOString()).toBe(until.toISOString());
        }
        const key = `${prefix}db/${AUTH_DB}.sql.gz`;
        const versions = await ctx.archive.send(new ListObjectVersionsCommand({ Bucket: ctx.archiveBucket, Prefix: key }));
        const versionId = versions.Versions?.[0]?.VersionId;
        expect(versionId).toBeDefined();
        await expect(
            ctx.archive.send(new DeleteObjectCommand({ Bucket: ctx.archiveBucket, Key: key, VersionId: versionId, BypassGovernanceRetention: true })),
        ).rejects.toMatchObject({
            name: "AccessDenied",
        });
        const swept = await deleteAllVersions(ctx.archive, ctx.archiveBucket, prefix);
        expect(swept.deleted).toBe(0);
        expect(swept.refused).toHaveLength(keys.length);
        expect(await getBuffer(ctx.archive, ctx.archiveBucket, key)).toHaveLength(m.databases[0].bytes);
    });
});

describe("export", () => {
    const entry = { id: TENANT, websiteId: 9301, name: "Archive contract tenant", tier: "standard", region: "eu-west" };
    let mq: { mgmtUrl: string; user: string; password: string };
    const api = (method: string, p: string, body?: unknown) =>
        fetch(`${mq.mgmtUrl}${p}`, {
            method,
            headers: { authorization: `Basic ${Buffer.from(`${mq.user}:${mq.password}`).toString("base64")}`, "content-type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
    const vhost = vhostName(TENANT);

    beforeAll(async () => {
        const s = localServices();
        mq = { mgmtUrl: s.rabbitmq.mgmtUrl, user: s.rabbitmq.user, password: s.rabbitmq.password };
        expect((await api("PUT", `/api/vhosts/${encodeURIComponent(vhost)}`)).ok).toBe(true);
        expect((await api("PUT", `/api/queues/${encodeURIComponent(vhost)}/orders`, { durable: true, arguments: { "x-queue-type": "quorum" } })).ok).toBe(true);
        expect((await api("PUT", `/api/exchanges/${encodeURIComponent(vhost)}/client-arch-a-events`, { type: "topic", durable: true })).ok).toBe(true);
    });
    afterAll(async () => {
        await api("DELETE", `/api/vhosts/${encodeURIComponent(vhost)}`);
    });

    test("to a directory: every dump, every object, the vhost definitions and the manifest entry, verified by sha256sum -c", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cv-export-"));
        try {
            const t0 = Date.now();
            const report = await exportTenant(ctx, data, entry, vhost, mq, { kind: "dir", dir }, new Date("2026-12-01T10:00:00Z"));
            figures.exportSeconds = (Date.now() - t0) / 1000;
            figures.exportBytes = report.bytes;
            expect(report.root).toBe(path.join(dir, "arch-a-export-20261201-100000"));
            expect(report.entries.map((e) => e.path)).toEqual([
                `databases/${AUTH_DB}.sql.gz`,
                `databases/${PRODUCTS_DB}.sql.gz`,
                `databases/${ORDERS_DB}.sql.gz`,
                `buckets/${PRODUCTS_BUCKET}/catalog.json`,
                `buckets/${PRODUCTS_BUCKET}/images/mug.jpg`,
                `buckets/${PRODUCTS_BUCKET}/images/t-shirt.jpg`,
                `buckets/${SAV_BUCKET}/tickets/2026/ticket-1.txt`,
                `buckets/${NEWSLETTERS_BUCKET}/2026-11.html`,
                `buckets/${NEWSLETTERS_BUCKET}/rolling.txt`,
                "rabbitmq/definitions.json",
                "tenant.json",
                "SHA256SUMS",
            ]);
            const check = execFileSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: report.root, encoding: "utf8" });
            expect(check.trim().split("\n")).toHaveLength(11);
            expect(check).not.toContain("FAILED");
            for (const b of data.buckets) {
                for (const o of await listAll(ctx.buckets, b)) {
                    expect(sha(fs.readFileSync(path.join(report.root, "buckets", b, o.key)))).toBe(sha(await getBuffer(ctx.buckets, b, o.key)));
                }
            }
            const defs = JSON.parse(fs.readFileSync(path.join(report.root, "rabbitmq/definitions.json"), "utf8")) as {
                queues: { name: string }[];
                exchanges: { name: string }[];
            };
            expect(defs.queues.map((q) => q.name)).toEqual(["orders"]);
            expect(defs.exchanges.map((e) => e.name)).toEqual(["client-arch-a-events"]);
            expect(JSON.parse(fs.readFileSync(path.join(report.root, "tenant.json"), "utf8"))).toEqual(entry);
            // The dump is portable: loaded into a scratch database it has the same checksums.
            const scratch = "cv_export_scratch";
            await sql(db, `DROP DATABASE IF EXISTS ${scratch}; CREATE DATABASE ${scratch}`);
            execFileSync(
                "bash",
                [
                    "-c",
                    `gunzip -c "$1" | mariadb --no-defaults --protocol=TCP -h "$2" -P "$3" -u "$4" ${scratch}`,
                    "x",
                    path.join(report.root, `databases/${PRODUCTS_DB}.sql.gz`),
                    db.host,
                    String(db.port),
                    db.user,
                ],
                {
                    env: { ...process.env, MYSQL_PWD: db.password },
                },
            );
            expect(await dbFingerprint(scratch)).toEqual(await dbFingerprint(PRODUCTS_DB));
            await sql(db, `DROP DATABASE ${scratch}`);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("to s3://bucket/prefix: the same files, the checksums in SHA256SUMS match the stored objects", async () => {
        const bucket = `cv-export-test-${randomBytes(4).toString("hex")}`;
        try {
            const report = await exportTenant(ctx, data, entry, vhost, mq, { kind: "s3", bucket, prefix: "gdpr/" }, new Date("2026-12-01T10:00:00Z"));
            expect(report.root).toBe(`s3://${bucket}/gdpr/arch-a-export-20261201-100000`);
            const root = "gdpr/arch-a-export-20261201-100000/";
            const stored = await listAll(ctx.archive, bucket, root);
            expect(stored.map((o) => o.key.slice(root.length)).sort()).toEqual(report.entries.map((e) => e.path).sort());
            const sums = (await getBuffer(ctx.archive, bucket, `${root}SHA256SUMS`)).toString("utf8").trim().split("\n");
            expect(sums).toHaveLength(11);
            for (const line of sums) {
                const [sum, rel] = line.split("  ");
                expect(sha(await getBuffer(ctx.archive, bucket, `${root}${rel}`))).toBe(sum);
            }
        } finally {
            await deleteAllVersions(ctx.archive, bucket, "");
        }
    });
});

test("the measured figures are present", () => {
    expect(databaseName(TENANT, "orders")).toBe(ORDERS_DB);
    for (const k of ["backupSeconds", "restoreSeconds", "exportSeconds", "dumpBytesGzipped"]) expect(figures[k]).toBeGreaterThan(0);
});
