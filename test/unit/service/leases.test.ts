/**
 * Job leases on the SQLite driver: two (or three) stores on one file, as
 * replicas would open a shared store, on an injected clock
 * (test/support/storeLeases.ts). The same scenarios run on MariaDB in
 * test/contract/serviceStore.test.ts.
 */
import * as path from "node:path";
import { FakeDeployer } from "../../../service/fakeDeployer";
import { Store } from "../../../service/store";
import { waitFor } from "../../support/process";
import { leaseScenarios } from "../../support/storeLeases";
import { createdEvent, post, startService, tempDir } from "../../support/service";

describe("job leases (SQLite)", () => {
    leaseScenarios(() => {
        const file = path.join(tempDir("cv-leases-"), "service.db");
        return Promise.resolve((opts) => Store.open(file, opts));
    });
});

describe("the runner's heartbeat and fencing (a service on SQLite, a second store on its file as another replica)", () => {
    it("renews the lease while the update runs: another replica never gets the job, which runs once", async () => {
        const deployer = new FakeDeployer({ delayMs: 1200 });
        const svc = await startService(deployer, { leaseMs: 300 });
        const other = await Store.open(path.join(svc.dir, "service.db"), { owner: "other-replica", leaseMs: 300 });
        try {
            const ev = createdEvent("heartbeat-a");
            expect((await post(svc, ev)).statusCode).toBe(202);
            await waitFor(() => deployer.calls.length === 1, 5000);
            const stack = deployer.calls[0].stack;
            // Four lease durations while it runs: each claim finds the lease alive (renewed every 100 ms).
            const claims = [];
            for (let i = 0; i < 10; i++) {
                claims.push(await other.claimNext(stack));
                await new Promise((r) => setTimeout(r, 100));
            }
            expect(claims.filter((c) => c !== undefined)).toEqual([]);
            await svc.settled();
            const [job] = await svc.store.jobs();
            expect(job).toMatchObject({ state: "succeeded", attempts: 1, tenants: ["heartbeat-a"] });
            expect(deployer.completed.map((c) => c.jobId)).toEqual([job.id]);
        } finally {
            await other.close();
            await svc.close();
        }
    });

    it("a lease taken over (expired while the update ran) aborts the update; the old holder writes nothing, the new one finishes the job", async () => {
        const deployer = new FakeDeployer({ delayMs: 3000 });
        const svc = await startService(deployer, { leaseMs: 600 });
        const other = await Store.open(path.join(svc.dir, "service.db"), { owner: "other-replica", leaseMs: 600 });
        try {
            expect((await post(svc, createdEvent("heartbeat-b"))).statusCode).toBe(202);
            await waitFor(() => deployer.calls.length === 1, 5000);
            // As if the service had stalled past its lease: the lease ends and the other replica takes the job.
            await other.driver.run("UPDATE jobs SET lease_expires_at = 0 WHERE state = 'running'");
            const taken = (await other.claimNext(deployer.calls[0].stack))!;
            expect(taken).toMatchObject({ attempts: 2, lease: { owner: "other-replica" } });
            // The service's next heartbeat is refused: its update is aborted, and it finishes nothing.
            await waitFor(() => deployer.calls.length === 1 && svc.runner.running === 0, 3000);
            expect(deployer.completed).toEqual([]);
            expect(await svc.store.getJob(taken.id)).toMatchObject({ state: "running", finishedAt: null, lease: { owner: "other-replica" } });
            expect(await svc.store.unpublished()).toEqual([]);
            expect(await other.finishJob(taken, { state: "succeeded", logTail: [] }, new Map([["heartbeat-b", "active"]]), [])).toMatchObject({
                state: "succeeded",
            });
        } finally {
            await other.close();
            await svc.close();
        }
    });
});
