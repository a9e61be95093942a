/**
 * One job queue per shard stack (service/queue.ts, README "Region shards"):
 * a tenant's jobs go to its shard's stack; jobs of different shards run at
 * the same time (up to the bound), one shard's jobs one after another.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_DIR } from "../../../core/project";
import { FakeDeployer } from "../../../service/fakeDeployer";
import { jobStacks, shardCounts, tenantStack } from "../../../service/queue";
import { createdEvent, post, startService, tempDir, type TestService } from "../../support/service";

// FNV-1a of the id modulo 2 (lib/shards.ts), stated literally: new01 -> 0, new02 -> 1, shop03 -> 0.
const SHARD0 = "new01";
const SHARD1 = "new02";
const SHARD0_TOO = "shop03";

describe("tenantStack / jobStacks", () => {
    it("one shard: the region stack, whatever the tenant", () => {
        expect([tenantStack("eu-west", 1, { id: SHARD0 }), tenantStack("eu-west", 1, { id: SHARD1 })]).toEqual(["eu-west", "eu-west"]);
        expect(jobStacks("eu-west", 1)).toEqual(["eu-west"]);
    });

    it("K shards: the tenant's hashed shard, or its pin", () => {
        expect([SHARD0, SHARD1, SHARD0_TOO].map((id) => tenantStack("local", 2, { id }))).toEqual(["local-s00", "local-s01", "local-s00"]);
        expect(tenantStack("local", 2, { id: SHARD1, shard: 0 })).toBe("local-s00");
        expect(tenantStack("eu-west", 16, { id: "x", shard: 15 })).toBe("eu-west-s15");
        expect(jobStacks("eu-west", 3)).toEqual(["eu-west-s00", "eu-west-s01", "eu-west-s02"]);
    });
});

describe("shardCounts", () => {
    const dir = tempDir("cv-queue-shards-");
    const file = path.join(dir, "Pulumi.local.yaml");
    const local = fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.local.yaml"), "utf8");
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("reads tenant-platform:shards from the region's file, again after it changed; 1 without one", () => {
        fs.writeFileSync(file, local.replace("config:\n", "config:\n  tenant-platform:shards: 4\n"));
        const shardsOf = shardCounts({ projectDir: dir });
        expect(shardsOf("local")).toBe(4);
        // A reshard rewrites the file while the service runs.
        fs.writeFileSync(file, local.replace("config:\n", "config:\n  tenant-platform:shards: 12\n"));
        expect(shardsOf("local")).toBe(12);
        fs.writeFileSync(file, local);
        expect(shardsOf("local")).toBe(1);
        expect(shardsOf("mars")).toBe(1);
    });

    it("a settings file given for a region stack wins over the project's", () => {
        const other = path.join(dir, "region.yaml");
        fs.writeFileSync(other, local.replace("config:\n", "config:\n  tenant-platform:shards: 3\n"));
        expect(shardCounts({ projectDir: PROJECT_DIR, settingsFiles: { local: other } })("local")).toBe(3);
        expect(shardCounts({ projectDir: PROJECT_DIR })("local")).toBe(1);
    });
});

/** A deployer that holds the named tenants' updates until released, and says when each one starts. */
function heldDeployer(held: readonly string[]) {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const started = new Map<string, () => void>();
    const starts = new Map(
        held.map((id) => [
            id,
            new Promise<void>((resolve) => {
                started.set(id, resolve);
            }),
        ]),
    );
    const deployer = new FakeDeployer({
        gate: (req) => {
            const id = req.tenants.find((t) => started.has(t));
            if (id === undefined) return undefined;
            started.get(id)!();
            return gate;
        },
    });
    return { deployer, release, started: (id: string) => starts.get(id)! };
}

async function until(cond: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
    }
}

async function jobOf(svc: TestService, tenant: string) {
    const job = (await svc.store.jobs()).find((j) => j.tenants.includes(tenant));
    if (!job) throw new Error(`no job for ${tenant}`);
    return job;
}

describe("the service's queues, 2 shards", () => {
    it("a tenant of another shard is deployed while one shard's update runs; a tenant of the same shard waits for it", async () => {
        const { deployer, release, started } = heldDeployer([SHARD0]);
        const svc = await startService(deployer, { stacks: { "eu-west": "local" }, shards: () => 2, maxParallel: 2 });
        try {
            expect((await post(svc, createdEvent(SHARD0))).statusCode).toBe(202);
            await started(SHARD0);
            expect((await post(svc, createdEvent(SHARD1))).statusCode).toBe(202);
            expect((await post(svc, createdEvent(SHARD0_TOO))).statusCode).toBe(202);
            // The other shard's whole update runs while shard 0's is held.
            await until(() => deployer.completed.some((c) => c.tenants.includes(SHARD1)), `${SHARD1}'s update`);
            expect(deployer.completed.map((c) => [c.stack, c.tenants])).toEqual([["local-s01", [SHARD1]]]);
            // The 202 comes before the event is applied (service/commit.ts): its job exists once the batch is committed.
            await svc.committer.idle();
            expect((await jobOf(svc, SHARD0_TOO)).state).toBe("queued");
            release();
            await svc.settled();
            expect((await svc.store.jobs()).map((j) => [j.stack, j.tenants, j.state])).toEqual([
                ["local-s00", [SHARD0], "succeeded"],
                ["local-s01", [SHARD1], "succeeded"],
                ["local-s00", [SHARD0_TOO], "succeeded"],
            ]);
            expect(deployer.calls.map((c) => [c.stack, c.tenants])).toEqual([
                ["local-s00", [SHARD0]],
                ["local-s01", [SHARD1]],
                ["local-s00", [SHARD0_TOO]],
            ]);
            expect(deployer.maxActivePerStack).toBe(1);
            expect(Date.parse((await jobOf(svc, SHARD0_TOO)).startedAt!)).toBeGreaterThanOrEqual(Date.parse((await jobOf(svc, SHARD0)).finishedAt!));
        } finally {
            await svc.close();
        }
    });

    it("maxParallel 1: the other shard's job waits for a free slot, queued", async () => {
        const { deployer, release, started } = heldDeployer([SHARD0]);
        const svc = await startService(deployer, { stacks: { "eu-west": "local" }, shards: () => 2, maxParallel: 1 });
        try {
            expect((await post(svc, createdEvent(SHARD0))).statusCode).toBe(202);
            await started(SHARD0);
            expect((await post(svc, createdEvent(SHARD1))).statusCode).toBe(202);
            await svc.committer.idle();
            await new Promise((r) => setTimeout(r, 50));
            expect(deployer.calls.map((c) => c.stack)).toEqual(["local-s00"]);
            expect((await jobOf(svc, SHARD1)).state).toBe("queued");
            release();
            await svc.settled();
            expect(deployer.calls.map((c) => [c.stack, c.tenants])).toEqual([
                ["local-s00", [SHARD0]],
                ["local-s01", [SHARD1]],
            ]);
            expect(Date.parse((await jobOf(svc, SHARD1)).startedAt!)).toBeGreaterThanOrEqual(Date.parse((await jobOf(svc, SHARD0)).finishedAt!));
        } finally {
            await svc.close();
        }
    });

    it("one shard (the default count): every tenant's job goes to the region stack's one queue", async () => {
        const deployer = new FakeDeployer();
        const svc = await startService(deployer, { stacks: { "eu-west": "local" } });
        try {
            for (const id of [SHARD0, SHARD1]) expect((await post(svc, createdEvent(id))).statusCode).toBe(202);
            await svc.settled();
            expect((await svc.store.jobs()).every((j) => j.stack === "local" && j.state === "succeeded")).toBe(true);
            expect((await svc.store.jobs()).flatMap((j) => j.tenants)).toEqual([SHARD0, SHARD1]);
            expect(deployer.maxActivePerStack).toBe(1);
        } finally {
            await svc.close();
        }
    });
});
