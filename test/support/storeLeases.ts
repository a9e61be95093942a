/**
 * The lease scenarios of the job store (service/store.ts), stated once and
 * run on both drivers: SQLite (test/unit/service/leases.test.ts, two stores
 * on one file) and the local MariaDB (test/contract/serviceStore.test.ts).
 * The stores share an injected clock (epoch ms), so lease expiry is a step
 * of the test, not a wait.
 */
import { LeaseLost, type AcceptedEvent, type Store, type StoreOptions } from "../../service/store";

/** Opens a store on the scenario's database (a fresh one per scenario), as replica `owner`, on the given clock. */
export type OpenStore = (opts: Required<Pick<StoreOptions, "owner" | "clock" | "leaseMs">>) => Promise<Store>;

const LEASE_MS = 30_000;
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

let seq = 0;
function created(tenantId: string, stack = "local"): AcceptedEvent {
    return {
        id: `evt_lease_${++seq}`,
        type: "subscription.created",
        tenantId,
        region: "eu-west",
        stack,
        websiteId: 90_000 + seq,
        manifestStatus: "active",
        tier: "standard",
        deploy: true,
        digest: "0".repeat(64),
    };
}

/** Declares the scenarios; `database()` gives each a fresh, empty database (its stores are opened with `open`). */
export function leaseScenarios(database: () => Promise<OpenStore>): void {
    let now = T0;
    const clock = () => now;
    const opened: Store[] = [];
    let open: OpenStore;
    const replica = async (owner: string) => {
        const s = await open({ owner, clock, leaseMs: LEASE_MS });
        opened.push(s);
        return s;
    };

    beforeEach(async () => {
        now = T0;
        open = await database();
    });
    afterEach(async () => {
        for (const s of opened.splice(0)) await s.close();
    });

    it("a claimed job is leased to its claimer for leaseMs: another replica gets nothing from the stack while the lease lives", async () => {
        const a = await replica("replica-a");
        const b = await replica("replica-b");
        const [{ job: queued }] = await a.acceptEvents([created("lease-1")]);
        const job = await a.claimNext("local");
        expect(job).toMatchObject({ id: queued!.id, state: "running", attempts: 1, lease: { owner: "replica-a", expiresAt: T0 + LEASE_MS } });
        expect(job!.lease!.token).toMatch(/^[0-9a-f-]{36}$/);
        now = T0 + LEASE_MS - 1;
        expect(await b.claimNext("local")).toBeUndefined();
        expect(await b.claim(job!.id)).toEqual({ kind: "leased", retryInMs: 1 });
    });

    it("the heartbeat keeps the job: renewed at 20 s, it is still leased at 40 s; a replica that stops renewing loses it once the lease ends", async () => {
        const a = await replica("replica-a");
        const b = await replica("replica-b");
        await a.acceptEvents([created("lease-2")]);
        const job = (await a.claimNext("local"))!;
        now = T0 + 20_000;
        expect(await a.renewLease(job)).toEqual({ owner: "replica-a", token: job.lease!.token, expiresAt: T0 + 20_000 + LEASE_MS });
        now = T0 + 40_000;
        expect(await b.claimNext("local")).toBeUndefined();
        // No renewal since 20 s: at 50 s the lease has ended, and the job (still running) goes to b, under a new token.
        now = T0 + 20_000 + LEASE_MS;
        const taken = await b.claimNext("local");
        expect(taken).toMatchObject({ id: job.id, state: "running", attempts: 2, lease: { owner: "replica-b", expiresAt: now + LEASE_MS } });
        expect(taken!.lease!.token).not.toBe(job.lease!.token);
    });

    it("fencing: the old holder can neither renew, requeue nor finish the job; nothing it tries is written; the new holder finishes it", async () => {
        const a = await replica("replica-a");
        const b = await replica("replica-b");
        await a.acceptEvents([created("lease-3")]);
        const job = (await a.claimNext("local"))!;
        now = T0 + LEASE_MS;
        const taken = (await b.claimNext("local"))!;
        await expect(a.renewLease(job)).rejects.toBeInstanceOf(LeaseLost);
        await expect(
            a.finishJob(job, { state: "succeeded", logTail: ["a"] }, new Map([["lease-3", "active"]]), [{ routingKey: "tenant.provisioned", body: "{}" }]),
        ).rejects.toBeInstanceOf(LeaseLost);
        expect(await a.requeue(job)).toMatchObject({ state: "running", lease: { owner: "replica-b" } });
        expect(await a.getJob(job.id)).toMatchObject({ state: "running", finishedAt: null, logTail: [] });
        expect(await a.getTenant("lease-3")).toMatchObject({ state: "provisioning" });
        expect(await a.unpublished()).toEqual([]);
        const done = await b.finishJob(taken, { state: "succeeded", logTail: ["b"] }, new Map([["lease-3", "active"]]), [
            { routingKey: "tenant.provisioned", body: "{}" },
        ]);
        expect(done).toMatchObject({ state: "succeeded", logTail: ["b"], attempts: 2 });
        expect(await b.getTenant("lease-3")).toMatchObject({ state: "active" });
        expect((await b.unpublished()).map((o) => o.routingKey)).toEqual(["tenant.provisioned"]);
        // Finished: nothing more to claim, and a broker message for it is dropped.
        expect(await a.claimNext("local")).toBeUndefined();
        expect(await a.claim(job.id)).toEqual({ kind: "done" });
    });

    it("two replicas claiming one stack at once: one job runs, never two (a second queued job waits for the first)", async () => {
        const a = await replica("replica-a");
        const b = await replica("replica-b");
        const c = await replica("replica-c");
        await a.acceptEvents([created("lease-4")]);
        const first = (await a.claimNext("local"))!;
        // Queued behind the running job: a new job (the running one takes no more events).
        const [{ job: second, newJob }] = await a.acceptEvents([created("lease-5")]);
        expect(newJob).toBe(true);
        expect(second!.id).not.toBe(first.id);
        // a dies: its lease ends; b and c race for the stack.
        now = T0 + LEASE_MS;
        const claims = await Promise.all([b.claimNext("local"), c.claimNext("local"), b.claimNext("local"), c.claimNext("local")]);
        const got = claims.filter((j) => j !== undefined);
        expect(got.map((j) => j.id)).toEqual([first.id]);
        // Another stack is independent.
        await a.acceptEvents([created("lease-6", "other")]);
        expect(await c.claimNext("other")).toMatchObject({ stack: "other", tenants: ["lease-6"], lease: { owner: "replica-c" } });
        // Once the first is finished, the queued one is next, for whoever asks.
        const holder = got[0].lease!.owner === "replica-b" ? b : c;
        await holder.finishJob(got[0], { state: "succeeded", logTail: [] }, new Map(), []);
        expect(await a.claimNext("local")).toMatchObject({ id: second!.id, lease: { owner: "replica-a" } });
    });

    it("a requeued job (shutdown) loses its lease and is claimed again at once; a broker claim waits for a live lease, then takes it", async () => {
        const a = await replica("replica-a");
        const b = await replica("replica-b");
        const [{ job: queued }] = await a.acceptEvents([created("lease-7")]);
        const job = (await a.claimNext("local"))!;
        expect(await a.requeue(job)).toMatchObject({ state: "queued", lease: null });
        const again = await b.claim(queued!.id);
        expect(again).toMatchObject({ kind: "claimed", job: { state: "running", attempts: 2, lease: { owner: "replica-b" } } });
        now = T0 + 10_000;
        expect(await a.claim(queued!.id)).toEqual({ kind: "leased", retryInMs: LEASE_MS - 10_000 });
        now = T0 + LEASE_MS;
        expect(await a.claim(queued!.id)).toMatchObject({ kind: "claimed", job: { attempts: 3, lease: { owner: "replica-a" } } });
    });
}
