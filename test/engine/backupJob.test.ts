/**
 * The backups really run (issue 11): the real engine deploys tenant nordic (standard) on the local node, the
 * pods run the backup image (scripts/lib/backup-image.sh: Node 24, the bundled tenantctl, Debian's
 * mariadb-client) and reach the loopback MariaDB and object store through the shared namespace
 * (test/support/podAccess.ts), so the tenant's NetworkPolicy is the one that lets them through.
 *
 * - The db-backup CronJob, triggered as a Job (`kubectl create job --from=cronjob/db-backup`), dumps the
 *   tenant's three databases, each as its own service user (only the grants the program gives,
 *   components/tenantDatabase.ts), to the backup volume and the region's archive; each dump restored into a
 *   scratch database has the source's CHECKSUM TABLE.
 * - Cancelled, the tenant's final-backup Job runs for real. Reactivated, the Job goes; cancelled again, a new
 *   Job takes a new final backup, and purge accepts only that one.
 *
 * The local stack has no database provider (features.databases: false), so the test plays its part: it
 * creates the databases, the accounts with SERVICE_PRIVILEGES on their own database, and the
 * <service>-db-credentials Secrets, as TenantDatabase declares them. There is no volume provisioner either:
 * the backup claim is bound to a hostPath PersistentVolume (Retain), whose directory the test reads.
 */
import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { finalBackupProblems, purge } from "../../cli/purge";
import { grantDatabasePattern, SERVICE_PRIVILEGES } from "../../components/tenantDatabase";
import { archiveContext, dbConnectionEnv, listFinals, listSets, sql, tenantData, type ArchiveContext, type DbConnection } from "../../core/archive";
import { getBuffer, objectStoreEnv } from "../../core/objectStore";
import { manifestKey, setPrefix, type SetManifest } from "../../lib/archiveLayout";
import { databaseUser, dbCredentialsSecretName } from "../../lib/naming";
import { EngineFixture, HOOK_TIMEOUT_MS, REPO_ROOT, STACK, assertClusterFree, manifestOf } from "../support/engine";
import { paths, type KubeObject } from "../support/k8s";
import { nodeEnv, type NodeEnv } from "../support/node";
import { MYSQL_SERVICE_IP, S3_SERVICE_IP, SHARED_NS, createSharedRelays, startHostRelays } from "../support/podAccess";

jest.setTimeout(HOOK_TIMEOUT_MS);

const TENANT = "nordic";
const NS = `e-commerce-client-${TENANT}`;
const SERVICES = ["auth", "products", "orders"];
const data = tenantData(TENANT, SERVICES);
const PV = `cv-backupjob-${TENANT}`;
const ARCHIVE_BUCKET = `cv-backupjob-${Date.now().toString(36)}`;
const FIRST_CANCEL = "2026-11-20";
const SECOND_CANCEL = "2026-12-01";

const fixture = new EngineFixture("backupjob");
const volumeDir = fs.mkdtempSync(path.join(os.tmpdir(), "cv-backupjob-volume-"));
const figures: Record<string, number | string> = {};
let node: NodeEnv;
let relays: { stop: () => Promise<void> } | undefined;
let admin: DbConnection;
let archive: ArchiveContext;
const passwords = new Map(SERVICES.map((s) => [s, randomBytes(18).toString("base64url")]));

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(cmd: string, args: string[], opts: { input?: Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (c: Buffer) => (out += c.toString()));
        child.stderr.on("data", (c: Buffer) => (err += c.toString()));
        child.on("error", reject);
        child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${err.trim()}`))));
        child.stdin.end(opts.input);
    });
}

/** SQL as one service's own account, over TCP like the applications. */
function asService(service: string, database: string, statements: string): Promise<string> {
    return run(
        "mariadb",
        [
            "--no-defaults",
            "--protocol=TCP",
            `--host=${admin.host}`,
            `--port=${admin.port}`,
            `--user=${databaseUser(TENANT, service)}`,
            database,
            "-e",
            statements,
        ],
        { env: { MYSQL_PWD: passwords.get(service) } },
    );
}

/** What TenantDatabase declares for each service, played here: the database, its account and grant, the data the service writes. */
async function seedDatabases(): Promise<void> {
    for (const { service, database } of data.databases) {
        const user = databaseUser(TENANT, service);
        await sql(
            admin,
            `DROP DATABASE IF EXISTS \`${database}\`; CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
             DROP USER IF EXISTS '${user}'@'%'; CREATE USER '${user}'@'%' IDENTIFIED BY '${passwords.get(service)}';
             GRANT ${SERVICE_PRIVILEGES.join(", ")} ON \`${grantDatabasePattern(database)}\`.* TO '${user}'@'%'`,
        );
    }
    const [auth, products, orders] = data.databases.map((d) => d.database);
    await asService(
        "auth",
        auth,
        `CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(190) NOT NULL UNIQUE, password_hash CHAR(64) NOT NULL, created DATETIME NOT NULL);
         INSERT INTO users VALUES (1,'ana@example.com',SHA2('a',256),'2026-01-02 03:04:05'),(2,'bo@example.com',SHA2('b',256),'2026-02-03 04:05:06'),(3,'céline@example.com',SHA2('c',256),'2026-03-04 05:06:07');
         CREATE VIEW user_emails AS SELECT id, email FROM users;`,
    );
    await asService(
        "products",
        products,
        `CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, price DECIMAL(10,2) NOT NULL, image VARBINARY(64));
         INSERT INTO products VALUES (1,'Mug',12.50,UNHEX(SHA2('mug',256))),(2,'T-shirt',19.99,NULL),(3,'Poster ✓',7.00,UNHEX('00FF00FF'));
         CREATE TABLE stock (product_id INT PRIMARY KEY, quantity INT NOT NULL, updated INT NOT NULL DEFAULT 0);
         CREATE TRIGGER stock_touch BEFORE UPDATE ON stock FOR EACH ROW SET NEW.updated = OLD.updated + 1;
         INSERT INTO stock (product_id, quantity) VALUES (1,40),(2,0),(3,12); UPDATE stock SET quantity = quantity + 1;`,
    );
    await asService(
        "orders",
        orders,
        `CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(40) NOT NULL, total DECIMAL(12,2) NOT NULL, payload TEXT NOT NULL);
         SET SESSION max_recursive_iterations = 20010;
         INSERT INTO orders WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 20000)
           SELECT n, CONCAT('customer-', n MOD 997), (n MOD 1000) + 0.99, CONCAT(SHA2(n, 256), MD5(n)) FROM seq;`,
    );
}

/** `table=checksum/rows` for every base table of a database. */
async function fingerprint(database: string): Promise<string[]> {
    const tables = (
        await sql(admin, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='${database}' AND TABLE_TYPE='BASE TABLE' ORDER BY TABLE_NAME`)
    )
        .trim()
        .split("\n")
        .filter(Boolean);
    const out: string[] = [];
    for (const t of tables) {
        const [, sum] = (await sql(admin, `CHECKSUM TABLE \`${database}\`.\`${t}\``)).trim().split("\t");
        const rows = (await sql(admin, `SELECT COUNT(*) FROM \`${database}\`.\`${t}\``)).trim();
        out.push(`${t}=${sum}/${rows}`);
    }
    return out;
}

/** Sets one config key of the fixture's stack settings file. */
function setConfig(key: string, value: unknown): void {
    const settings = parseYaml(fs.readFileSync(fixture.configFile, "utf8")) as { config: Record<string, unknown> };
    settings.config[`tenant-platform:${key}`] = value;
    fs.writeFileSync(fixture.configFile, stringifyYaml(settings));
}

async function upsertSecret(name: string, stringData: Record<string, string>): Promise<void> {
    const body = { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: NS }, type: "Opaque", stringData };
    const created = await fixture.kube.request("POST", paths.secrets(NS), body);
    if (created.status === 409) {
        const replaced = await fixture.kube.request("PUT", `${paths.secrets(NS)}/${name}`, body);
        if (replaced.status !== 200) throw new Error(`Secret ${name}: PUT -> ${replaced.status}`);
    } else if (created.status !== 201) {
        throw new Error(`Secret ${name}: POST -> ${created.status}`);
    }
}

function kubectl(args: string[]): Promise<string> {
    return new Promise((resolve, reject) =>
        execFile(node.kubectl, ["--kubeconfig", node.kubeconfig, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
            err ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr.toString().trim() || err.message}`)) : resolve(stdout.toString()),
        ),
    );
}

/** Waits for a Job to complete; fails with its pods' states and the backup container's log when it fails or times out. */
async function waitForJob(name: string, timeoutMs = 240_000): Promise<KubeObject> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const job = await fixture.kube.get(`${paths.jobs(NS)}/${name}`);
        const conds: KubeObject[] = job.status?.conditions ?? [];
        if (conds.some((c) => c.type === "Complete" && c.status === "True")) return job;
        const failed = conds.some((c) => c.type === "Failed" && c.status === "True");
        if (failed || Date.now() > deadline) {
            const pods = await fixture.kube.list(`${paths.pods(NS)}?labelSelector=job-name=${name}`);
            const logs = await Promise.all(pods.map((p) => kubectl(["logs", "-n", NS, p.metadata.name]).catch((e: Error) => e.message)));
            const events = await fixture.kube.list(`/api/v1/namespaces/${NS}/events`);
            throw new Error(
                `Job ${name} ${failed ? "failed" : "did not complete in time"}: ${JSON.stringify(job.status)}\n` +
                    `pods: ${JSON.stringify(pods.map((p) => ({ name: p.metadata.name, phase: p.status?.phase, states: p.status?.containerStatuses?.map((c: KubeObject) => c.state) })))}\n` +
                    `logs: ${logs.join("\n---\n")}\nevents: ${events.map((e) => `${e.involvedObject?.name} ${e.reason}: ${e.message}`).join("\n")}`,
            );
        }
        await sleep(1000);
    }
}

async function jobLog(name: string): Promise<string> {
    const pods = await fixture.kube.list(`${paths.pods(NS)}?labelSelector=job-name=${name}`);
    const done = pods.find((p) => p.status?.phase === "Succeeded") ?? pods[0];
    return kubectl(["logs", "-n", NS, done.metadata.name]);
}

beforeAll(async () => {
    node = nodeEnv();
    await assertClusterFree(fixture.kube, [NS]);
    // The image the local stack names (Pulumi.local.yaml backup.image), built or taken from its cache, in containerd.
    let t0 = Date.now();
    await run("bash", [path.join(REPO_ROOT, "scripts/lib/backup-image.sh"), "import"]);
    figures.imageImportSeconds = (Date.now() - t0) / 1000;
    admin = dbConnectionEnv();
    archive = archiveContext(objectStoreEnv({ ...process.env, CV_ARCHIVE_BUCKET: ARCHIVE_BUCKET }), admin);
    await seedDatabases();
    relays = await startHostRelays(node);

    await fixture.init(manifestOf([TENANT]));
    setConfig("backup", {
        image: "localhost/cv/backup:local",
        archiveBucket: ARCHIVE_BUCKET,
        archiveRegion: process.env.CV_S3_REGION,
        archiveEndpoint: `http://${S3_SERVICE_IP}:9000`,
    });
    t0 = Date.now();
    await fixture.stack.up({ ...fixture.opts });
    figures.firstUpSeconds = (Date.now() - t0) / 1000;

    await createSharedRelays(fixture.kube, node);
    // The provisioner's part: a volume that outlives the namespace, on a host directory the backup user (999) may write.
    fs.chmodSync(volumeDir, 0o777);
    const pv = await fixture.kube.request("POST", "/api/v1/persistentvolumes", {
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name: PV },
        spec: {
            capacity: { storage: "10Gi" },
            accessModes: ["ReadWriteOnce"],
            persistentVolumeReclaimPolicy: "Retain",
            hostPath: { path: volumeDir, type: "Directory" },
            claimRef: { namespace: NS, name: "backup-pvc" },
        },
    });
    if (pv.status !== 201) throw new Error(`PersistentVolume ${PV}: ${pv.status} ${JSON.stringify(pv.body)}`);
    // The credentials the program delivers (TenantDatabase's Secrets; the archive's Secret, not created by the program yet).
    for (const { service, database } of data.databases) {
        await upsertSecret(dbCredentialsSecretName(service), {
            DB_HOST: MYSQL_SERVICE_IP,
            DB_PORT: "3306",
            DB_DATABASE: database,
            DB_USERNAME: databaseUser(TENANT, service),
            DB_PASSWORD: passwords.get(service) as string,
        });
    }
    const secretFile = process.env.CV_S3_SECRET_ACCESS_KEY_FILE as string;
    await upsertSecret("archive-credentials", {
        AWS_ACCESS_KEY_ID: process.env.CV_S3_ACCESS_KEY_ID as string,
        AWS_SECRET_ACCESS_KEY: fs.readFileSync(secretFile, "utf8").trim(),
    });
});

afterAll(async () => {
    try {
        await fixture.teardown([NS, SHARED_NS]);
        await fixture.kube.request("DELETE", `/api/v1/persistentvolumes/${PV}`);
    } finally {
        await relays?.stop();
        if (admin) {
            for (const { service, database } of data.databases) {
                await sql(
                    admin,
                    `DROP DATABASE IF EXISTS \`${database}\`; DROP DATABASE IF EXISTS \`scratch_${database}\`; DROP USER IF EXISTS '${databaseUser(TENANT, service)}'@'%'`,
                );
            }
        }
        fs.rmSync(volumeDir, { recursive: true, force: true });
        process.stdout.write(`backup job figures: ${JSON.stringify(figures)}\n`);
    }
});

describe("the daily backup, run for real", () => {
    let manifest: SetManifest;

    test("the db-backup CronJob triggered as a Job dumps every database, as each service's own user, to the backup volume and the archive", async () => {
        const t0 = Date.now();
        expect((await kubectl(["create", "job", "db-backup-manual", "--from=cronjob/db-backup", "-n", NS])).trim()).toBe("job.batch/db-backup-manual created");
        const job = await waitForJob("db-backup-manual");
        figures.dailyJobSeconds = (Date.now() - t0) / 1000;
        expect(job.status.succeeded).toBe(1);
        const pod = (await fixture.kube.list(`${paths.pods(NS)}?labelSelector=job-name=db-backup-manual`)).find((p) => p.status?.phase === "Succeeded");
        // The pod the CronJob's template makes: the backup image, as uid 999, admitted by Pod Security restricted.
        expect(pod?.spec.containers[0].image).toBe("localhost/cv/backup:local");
        expect(pod?.spec.securityContext.runAsUser).toBe(999);
        const log = await jobLog("db-backup-manual");
        expect(log).toMatch(/^daily backup \d{8}-\d{6} of tenant nordic: 3 database\(s\), \d+ bytes gzipped; 0 object\(s\), 0 bytes; [\d.]+ s\n/);
        expect(log).toContain("retention: kept 1 set(s), deleted 0");

        const stamps = await listSets(archive, TENANT);
        expect(stamps).toHaveLength(1);
        manifest = JSON.parse((await getBuffer(archive.archive, ARCHIVE_BUCKET, manifestKey(setPrefix(TENANT, stamps[0])))).toString("utf8")) as SetManifest;
        expect(manifest.databases.map((d) => [d.service, d.database])).toEqual([
            ["auth", "client_nordic_auth_db"],
            ["products", "client_nordic_products_db"],
            ["orders", "client_nordic_orders_db"],
        ]);
        // The local copy on the backup volume is the archived dump, byte for byte.
        const local = path.join(volumeDir, "sets", stamps[0]);
        expect(fs.readdirSync(local).sort()).toEqual(["client_nordic_auth_db.sql.gz", "client_nordic_orders_db.sql.gz", "client_nordic_products_db.sql.gz"]);
        for (const d of manifest.databases) {
            const file = fs.readFileSync(path.join(local, `${d.database}.sql.gz`));
            expect(sha256(file)).toBe(d.sha256);
            expect(sha256(await getBuffer(archive.archive, ARCHIVE_BUCKET, d.key))).toBe(d.sha256);
            figures[`${d.service}DumpBytes`] = d.bytes;
        }
    });

    test("each dump restored into a scratch database has the source's CHECKSUM TABLE and row counts; the view and the trigger come back", async () => {
        const stamp = (await listSets(archive, TENANT))[0];
        const table: string[] = [];
        for (const { database } of data.databases) {
            const scratch = `scratch_${database}`;
            await sql(admin, `DROP DATABASE IF EXISTS \`${scratch}\`; CREATE DATABASE \`${scratch}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
            const dump = zlib.gunzipSync(fs.readFileSync(path.join(volumeDir, "sets", stamp, `${database}.sql.gz`)));
            await run("mariadb", ["--no-defaults", "--protocol=TCP", `--host=${admin.host}`, `--port=${admin.port}`, `--user=${admin.user}`, scratch], {
                input: dump,
                env: { MYSQL_PWD: admin.password },
            });
            const source = await fingerprint(database);
            expect(source.length).toBeGreaterThan(0);
            expect(await fingerprint(scratch)).toEqual(source);
            table.push(...source.map((s) => `${database} ${s}`));
        }
        expect(table.map((l) => l.replace(/=\d+\//, "=<sum>/"))).toEqual([
            "client_nordic_auth_db users=<sum>/3",
            "client_nordic_products_db products=<sum>/3",
            "client_nordic_products_db stock=<sum>/3",
            "client_nordic_orders_db orders=<sum>/20000",
        ]);
        // The view comes back with its definer, the service's own account (it has no rights on the scratch name, so it is not queried there).
        expect((await sql(admin, "SELECT TABLE_NAME, DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA='scratch_client_nordic_auth_db'")).trim()).toBe(
            "user_emails\tclient_nordic_auth_user@%",
        );
        expect((await sql(admin, "SELECT GROUP_CONCAT(updated) FROM `scratch_client_nordic_products_db`.`stock`")).trim()).toBe("1,1,1");
        expect((await sql(admin, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='scratch_client_nordic_products_db'")).trim()).toBe(
            "stock_touch",
        );
        process.stdout.write(`restored checksums (source = scratch):\n${table.map((l) => `  ${l}`).join("\n")}\n`);
    });
});

describe("the final backup: cancel, reactivate, cancel again", () => {
    const cancelled = (cancelledAt: string) => manifestOf([TENANT], { [TENANT]: { status: "cancelled", cancelledAt } });
    const problems = (cancelledAt: string) => finalBackupProblems((p) => fixture.kube.get(p), NS, cancelledAt);
    let first: KubeObject;
    let reactivatedAt: string;

    test(`cancelled on ${FIRST_CANCEL}: the final-backup Job runs for real and purge's check accepts it`, async () => {
        fixture.setManifest(cancelled(FIRST_CANCEL));
        await fixture.stack.up({ ...fixture.opts });
        const t0 = Date.now();
        first = await waitForJob("final-backup");
        figures.finalJobSeconds = (Date.now() - t0) / 1000;
        expect(first.metadata.annotations["collectverything.com/cancelled-at"]).toBe(FIRST_CANCEL);
        expect(await jobLog("final-backup")).toMatch(
            /^final backup \d{8}-\d{6} of tenant nordic: 3 database\(s\), \d+ bytes gzipped; 0 object\(s\), 0 bytes; [\d.]+ s; locked until \d{4}/,
        );
        expect(await listFinals(archive, TENANT)).toHaveLength(1);
        expect(await problems(FIRST_CANCEL)).toEqual([]);
    });

    test("reactivated: the Job is deleted (its backup stays locked in the archive)", async () => {
        fixture.setManifest(manifestOf([TENANT]));
        await fixture.stack.up({ ...fixture.opts });
        await fixture.kube.waitGone(`${paths.jobs(NS)}/final-backup`, 120_000);
        reactivatedAt = new Date().toISOString();
        expect(await listFinals(archive, TENANT)).toHaveLength(1);
    });

    test(`cancelled again on ${SECOND_CANCEL}: a new Job takes a new final backup; purge accepts only that one`, async () => {
        fixture.setManifest(cancelled(SECOND_CANCEL));
        await fixture.stack.up({ ...fixture.opts });
        const second = await waitForJob("final-backup");
        expect(second.metadata.uid).not.toBe(first.metadata.uid);
        expect(second.metadata.annotations["collectverything.com/cancelled-at"]).toBe(SECOND_CANCEL);
        expect(second.status.completionTime > reactivatedAt).toBe(true);
        const finals = await listFinals(archive, TENANT);
        expect(finals).toHaveLength(2);
        expect(finals[1] > finals[0]).toBe(true);

        expect(await problems(SECOND_CANCEL)).toEqual([]);
        // The Job on the cluster belongs to the second cancellation: checked against the first one's date, it is refused.
        expect(await problems(FIRST_CANCEL)).toEqual([
            `the final-backup Job in ${NS} was taken for the cancellation of ${SECOND_CANCEL}, not the last one (${FIRST_CANCEL}). ` +
                `Fix: delete it (kubectl -n ${NS} delete job final-backup) and run \`pulumi up\`, which takes a new final backup`,
        ]);
        // The purge itself, past the grace period (dry run): the final backup is recorded.
        const lines: string[] = [];
        const plan = await purge({
            stack: STACK,
            tenant: TENANT,
            projectDir: REPO_ROOT,
            configFile: fixture.configFile,
            today: "2027-01-01",
            log: (l) => lines.push(l),
        });
        expect(plan.applied).toBe(false);
        expect(lines[0]).toContain(`purge of tenant "${TENANT}" (stack ${STACK}):`);
        expect(lines[0]).toContain("final backup recorded, grace period ended 2026-12-31");
    });
});
