/**
 * The service's store on the real MariaDB (`make local-up`), as replicas
 * share it (`tenantctl serve --store mysql://…`): the lease scenarios of
 * the SQLite unit test, the same text (test/support/storeLeases.ts); the
 * schema created and migrated idempotently (replicas starting together);
 * SKIP LOCKED under concurrent claims from many connections; the password
 * kept out of descriptions and errors.
 */
import { Store } from "../../service/store";
import { MysqlDriver, parseMysqlUrl } from "../../service/storeMysql";
import { TestDatabases, databaseOf } from "../support/mysqlStore";
import { leaseScenarios } from "../support/storeLeases";

jest.setTimeout(60_000);

const dbs = new TestDatabases();
afterAll(async () => dbs.dropAll());

describe("job leases (MariaDB)", () => {
    leaseScenarios(async () => {
        const url = await dbs.create();
        return (opts) => Store.open(url, opts);
    });
});

describe("the MySQL store", () => {
    it("creates its schema once whoever starts first: five stores opening at once on an empty database, then again, leave one schema", async () => {
        const url = await dbs.create();
        const stores = await Promise.all(Array.from({ length: 5 }, () => Store.open(url)));
        const again = await Store.open(url);
        try {
            const tables = (
                await dbs.query(databaseOf(url), "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY t")
            )
                .map((r) => String(r.t))
                .sort();
            expect(tables).toEqual(["events", "intents", "job_stacks", "jobs", "outbox", "tenant_credentials", "tenant_deployed_status", "tenants"]);
            const leaseColumns = await dbs.query(
                databaseOf(url),
                "SELECT column_name AS c FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'jobs' AND column_name LIKE 'lease%' ORDER BY c",
            );
            expect(leaseColumns.map((r) => r.c)).toEqual(["lease_expires_at", "lease_owner", "lease_token"]);
            const indexes = await dbs.query(
                databaseOf(url),
                "SELECT DISTINCT index_name AS i FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name LIKE '%\\_%' ESCAPE '\\\\' AND index_name <> 'PRIMARY' ORDER BY i",
            );
            expect(indexes.map((r) => r.i)).toEqual(expect.arrayContaining(["intents_event", "intents_tenant", "jobs_region_state", "jobs_stack_state"]));
        } finally {
            for (const s of [...stores, again]) await s.close();
        }
    });

    it("40 claims from 8 connections on 4 stacks with 2 jobs each: every claim gets a different stack's job, at most one running per stack", async () => {
        const url = await dbs.create();
        const stores = await Promise.all(Array.from({ length: 8 }, (_, i) => Store.open(url, { owner: `r${i}` })));
        try {
            const stacks = ["s0", "s1", "s2", "s3"];
            let n = 0;
            const ev = (stack: string) => ({
                id: `evt_skip_${++n}`,
                type: "subscription.created",
                tenantId: `skip-${n}`,
                region: "eu-west" as const,
                stack,
                websiteId: 91_000 + n,
                manifestStatus: "active" as const,
                tier: "standard" as const,
                deploy: true,
            });
            await stores[0].acceptEvents(stacks.map(ev));
            const claims = await Promise.all(Array.from({ length: 40 }, (_, i) => stores[i % 8].claimNext(stacks[i % 4])));
            const got = claims.filter((j) => j !== undefined);
            expect(got.map((j) => j.stack).sort()).toEqual(stacks);
            expect(new Set(got.map((j) => j.id)).size).toBe(4);
            const running = await dbs.query(databaseOf(url), "SELECT stack, count(*) AS n FROM jobs WHERE state = 'running' GROUP BY stack ORDER BY stack");
            expect(running.map((r) => [r.stack, Number(r.n)])).toEqual(stacks.map((s) => [s, 1]));
        } finally {
            for (const s of stores) await s.close();
        }
    });

    it("never shows the password: not in the description, not in a refused login's error", async () => {
        const url = await dbs.create();
        const target = parseMysqlUrl(url);
        expect(target.description).not.toContain(dbs.password);
        expect(target.description).toBe(`mysql://${target.user}@${target.host}:${target.port}/${target.database}`);
        const wrong = "wrong-password-" + "x".repeat(12);
        const driver = new MysqlDriver(url.replace(encodeURIComponent(dbs.password), wrong), { busyTimeoutMs: 1000 });
        let message = "";
        try {
            await driver.all("SELECT 1");
        } catch (err) {
            message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        } finally {
            await driver.close();
        }
        expect(message).toBe(`StoreUnavailable: the store ${target.description} cannot be reached (ER_ACCESS_DENIED_ERROR)`);
        expect(message).not.toContain(wrong);
    });
});
