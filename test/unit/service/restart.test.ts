/**
 * Restart: kill -9 the service mid-queue (one job running, one waiting) and
 * start it again on the same store. Every job completes, none twice except
 * the one whose update was cut off (an update is convergent, so re-running
 * an interrupted one is the safe choice), and no event is lost.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Store } from "../../../service/store";
import { createdEvent, event, post, tempDir, tempManifest } from "../../support/service";
import { startFakeProcess, waitFor } from "../../support/process";

jest.setTimeout(60_000);

describe("restart mid-queue (in-process queue, SQLite store)", () => {
    it("resumes the interrupted and the waiting job; nothing lost, nothing applied twice", async () => {
        const dir = tempDir();
        const env = {
            CV_MANIFEST: tempManifest(dir),
            CV_STORE: path.join(dir, "service.db"),
            CV_FAKE_LOG: path.join(dir, "deploys.jsonl"),
            CV_DELAY_MS: "1500",
        };
        fs.writeFileSync(env.CV_FAKE_LOG, "");
        const first = await startFakeProcess(dir, env);
        let second: Awaited<ReturnType<typeof startFakeProcess>> | undefined;
        let secondPid = 0;
        try {
            const evA = createdEvent("restart-a");
            const a = await post(first, evA);
            await waitFor(() => fs.readFileSync(env.CV_FAKE_LOG, "utf8").includes('"start"'));
            const b = await post(first, event("subscription.updated", { tenantId: "nordic", tier: "business" }));
            const c = await post(first, createdEvent("restart-us", { region: "us-east" }));
            expect([a.statusCode, b.statusCode, c.statusCode]).toEqual([202, 202, 202]);
            first.kill();
            await first.exited;

            second = await startFakeProcess(dir, env);
            // A redelivery (the same event, the same body) of an event the dead process accepted is a no-op.
            const again = await post(second, evA);
            expect(again.statusCode).toBe(200);
            // The dead process answered 202 queued (no job yet) and applied it before it stopped: the redelivery names its job.
            expect(a.json()).toMatchObject({ status: "queued", jobId: null });
            expect(again.json()).toMatchObject({ result: "duplicate", status: "accepted" });
            expect(again.json().jobId).toMatch(/^job_/);
            await waitFor(async () => {
                const s = new Store(env.CV_STORE);
                try {
                    return (await s.jobs()).every((j) => j.state === "succeeded");
                } finally {
                    await s.close();
                }
            }, 30_000);
            secondPid = second.pid;
            second.kill();
            await second.exited;

            const log = fs
                .readFileSync(env.CV_FAKE_LOG, "utf8")
                .trim()
                .split("\n")
                .map((l) => JSON.parse(l) as { event: string; jobId: string; pid: number });
            const done = log.filter((l) => l.event === "done");
            // Each event's job, as the store recorded it once the event was applied (the 202 answers said queued).
            const recorded = new Store(env.CV_STORE);
            const jobs: (string | null | undefined)[] = [];
            for (const r of [a, b, c]) jobs.push((await recorded.getEvent(r.json().eventId))?.jobId);
            await recorded.close();
            expect(new Set(jobs).size).toBe(3);
            for (const id of jobs) expect(done.filter((l) => l.jobId === id)).toHaveLength(1);
            expect(done.every((l) => l.pid === secondPid)).toBe(true);
            const manifest = fs.readFileSync(env.CV_MANIFEST, "utf8");
            expect(manifest.match(/id: restart-a$/gm)).toHaveLength(1);
            expect(manifest.match(/id: restart-us$/gm)).toHaveLength(1);
            const s = new Store(env.CV_STORE);
            try {
                expect(await s.eventCount()).toBe(3);
                expect(await s.getTenant("nordic")).toMatchObject({ state: "active", tier: "business" });
            } finally {
                await s.close();
            }
        } finally {
            // A failed expectation must not leave a service running (jest would never exit).
            first.kill();
            second?.kill();
        }
    });
});
