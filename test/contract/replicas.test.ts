/**
 * Three replicas of `tenantctl serve` on one shared store (the local
 * MariaDB) and one git remote (a local bare repository, each replica in a
 * clone of its own), behind one port list: 300 onboardings and 100
 * duplicates spread over them, one replica killed with -9 mid-burst and
 * started again. The deployer is the service's fake one (`--fake-deployer`,
 * 150 ms an update, a journal line when an update starts and ends): the
 * point is the store, the leases and git, not the engine (the engine test
 * test/engine/deployIdempotence.test.ts covers the service and deploy.yml
 * on one stack).
 *
 * Expected, and asserted: every tenant exactly once in the manifest at the
 * git tip and each event id in exactly one commit; every acknowledged
 * event recorded (0 lost); every job completed exactly once, never two
 * updates of one stack at once except an update the kill cut off; each
 * tenant in exactly one succeeded job; nothing left queued.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { launchFakeService, type ServiceProcess } from "../../service/launch";
import { Store } from "../../service/store";
import { localServices } from "../support/contract";
import { cloneOf, git, seededRemote } from "../support/gitRemote";
import { TestDatabases } from "../support/mysqlStore";
import { REPO_MANIFEST, SECRET, signed, tempDir } from "../support/service";

jest.setTimeout(540_000);

const REPLICAS = 3;
const LEASE_MS = 3000;
const DELAY_MS = 1000;

/** A bare remote holding the repository's tenants.yaml on main, and one clone per replica. */
function gitRemote(dir: string, clones: number): { remote: string; clones: string[] } {
    const remote = seededRemote(dir, fs.readFileSync(REPO_MANIFEST, "utf8"));
    const out = Array.from({ length: clones }, (_, i) => cloneOf(remote, dir, `replica-${i}`, { name: `Replica ${i}`, email: `replica-${i}@example.com` }));
    return { remote, clones: out };
}

interface JournalLine {
    readonly event: "start" | "done";
    readonly jobId: string;
    readonly stack: string;
    readonly tenants: string[];
    readonly pid: number;
    readonly t: number;
}

class Refused extends Error {}

const dbs = new TestDatabases();
afterAll(async () => dbs.dropAll());

interface Scenario {
    readonly label: string;
    readonly onboardings: number;
    readonly duplicates: number;
    /** RabbitMQ job queues (BROKER_URL) instead of the in-process queues. */
    readonly brokerUrl?: string;
}

/** Runs the burst over three replicas, kills one mid-burst, restarts it, asserts and returns the figures. */
async function threeReplicas({ label, onboardings: ONBOARDINGS, duplicates: DUPLICATES, brokerUrl }: Scenario): Promise<Record<string, unknown>> {
    {
        const dir = tempDir("cv-replicas-");
        // Stacks of this run only (the fake deployer deploys nothing; with a broker, the queues are this run's).
        const tag = path
            .basename(dir)
            .replace(/[^a-z0-9]/gi, "")
            .toLowerCase()
            .slice(-6);
        const stacks = { "eu-west": `rep${tag}-eu`, "us-east": `rep${tag}-us` };
        const url = await dbs.create("cv_replicas");
        const { remote, clones } = gitRemote(dir, REPLICAS);
        const journal = path.join(dir, "deploys.jsonl");
        fs.writeFileSync(journal, "");
        const launch = (i: number) =>
            launchFakeService({
                manifest: path.join(clones[i], "tenants.yaml"),
                store: url,
                secret: SECRET,
                delayMs: DELAY_MS,
                journal,
                gitRemote: "origin",
                jobLeaseMs: LEASE_MS,
                stacks,
                brokerUrl,
            });
        const replicas: (ServiceProcess | undefined)[] = await Promise.all(Array.from({ length: REPLICAS }, (_, i) => launch(i)));
        let victimIndex = 1;
        let victimPid = 0;
        let killedAt = 0;
        let restarted: Promise<void> = Promise.resolve();
        /** The replica running an update now (a start in the journal without its done), if any. */
        const runningUpdate = (): number | undefined => {
            const lines = fs
                .readFileSync(journal, "utf8")
                .trim()
                .split("\n")
                .filter(Boolean)
                .map((l) => JSON.parse(l) as JournalLine);
            const open = lines.filter((l) => l.event === "start" && !lines.some((d) => d.event === "done" && d.jobId === l.jobId && d.pid === l.pid));
            const k = replicas.findIndex((r) => r !== undefined && open.some((l) => l.pid === r.pid));
            return k >= 0 ? k : undefined;
        };

        const events = Array.from({ length: ONBOARDINGS }, (_, i) => {
            // Tenant ids are at most 11 characters (the derived MySQL user names).
            const tenantId = `r${tag.slice(-4)}-${String(i).padStart(3, "0")}`;
            return {
                id: `evt_replicas_${tag}_${i}`,
                type: "subscription.created",
                created: Math.floor(Date.now() / 1000),
                data: {
                    tenantId,
                    websiteId: 600_000 + i + (brokerUrl ? 10_000 : 0),
                    name: `Replica shop ${i}`,
                    domain: `client-${tenantId}.collectverything.com`,
                    customDomains: [],
                    tier: "standard",
                    region: i % 2 === 0 ? "eu-west" : "us-east",
                    billingId: `sub_rep${tag}_${i}`,
                    costCenter: "CC-REP-001",
                    department: "retail",
                },
            };
        });
        // Every third event is sent again (a sender's redelivery), after its first answer, to the next replica.
        const duplicateOf = new Set(Array.from({ length: DUPLICATES }, (_, k) => k * Math.floor(ONBOARDINGS / DUPLICATES)));
        const answers = new Map<string, { status: number; result?: string }[]>();
        let failedOver = 0;

        /** POSTs to replica `start`, and on a connection error (a dead replica) to the next one, as a load balancer would. */
        const deliver = async (ev: (typeof events)[number], start: number): Promise<void> => {
            const s = signed(ev);
            for (let attempt = 0; attempt < 30; attempt++) {
                const r = replicas[(start + attempt) % REPLICAS];
                if (!r) continue;
                try {
                    const res = await fetch(`${r.baseUrl}/webhooks/billing`, {
                        method: "POST",
                        body: s.payload,
                        headers: s.headers,
                        signal: AbortSignal.timeout(10_000),
                    });
                    const body = (await res.json()) as { result?: string; status?: string };
                    if (res.status === 503) {
                        await new Promise((resolve) => setTimeout(resolve, 200));
                        continue;
                    }
                    // Anything but an acceptance or a duplicate is a broken test set-up, not a race: stop at once.
                    if (res.status !== 202 && res.status !== 200) throw new Refused(`${ev.id}: ${res.status} ${JSON.stringify(body)}`);
                    const list = answers.get(ev.id) ?? [];
                    list.push({ status: res.status, result: body.result });
                    answers.set(ev.id, list);
                    return;
                } catch (err) {
                    if (err instanceof Refused) throw err;
                    failedOver++;
                    await new Promise((resolve) => setTimeout(resolve, 50));
                }
            }
            throw new Error(`no replica answered ${ev.id}`);
        };

        const started = Date.now();
        // 16 senders at once over the shared list.
        let next = 0;
        const sender = async () => {
            for (;;) {
                const i = next++;
                if (i >= ONBOARDINGS) return;
                // Mid-burst, once a replica is running an update (else at the last event): kill -9 it (no shutdown code runs), then
                // start it again on the same clone and store.
                const running = i >= Math.floor(ONBOARDINGS / 2) && killedAt === 0 ? runningUpdate() : undefined;
                if (killedAt === 0 && (running !== undefined || i === ONBOARDINGS - 1)) {
                    victimIndex = running ?? 1;
                    const old = replicas[victimIndex]!;
                    victimPid = old.pid;
                    old.kill();
                    killedAt = Date.now();
                    replicas[victimIndex] = undefined;
                    const index = victimIndex;
                    restarted = old.exited.then(async () => {
                        replicas[index] = await launch(index);
                    });
                }
                await deliver(events[i], i % REPLICAS);
                if (duplicateOf.has(i)) await deliver(events[i], (i + 1) % REPLICAS);
            }
        };
        await Promise.all(Array.from({ length: 16 }, sender));
        const ackedAt = Date.now();
        await restarted;

        // Settled: every event recorded, no intent open, no job queued or running.
        const store = await Store.open(url);
        let settledAt: number;
        try {
            const deadline = Date.now() + 240_000;
            for (;;) {
                const [recorded, open, jobs] = await Promise.all([store.eventCount(), store.openIntents(), store.jobs()]);
                if (recorded === ONBOARDINGS && open.length === 0 && jobs.every((j) => j.state === "succeeded")) break;
                if (Date.now() > deadline)
                    throw new Error(
                        `not settled in 240 s: ${recorded} events recorded, ${open.length} intents open, jobs ${JSON.stringify(jobs.map((j) => j.state))}`,
                    );
                await new Promise((resolve) => setTimeout(resolve, 250));
            }
            settledAt = Date.now();

            // The answers: each onboarding accepted once (202 queued); each duplicate 200 duplicate (or, sent while the first
            // delivery's answer was lost with the victim, either answer): nothing refused.
            const firstAnswers = events.map((e) => answers.get(e.id)![0]);
            const secondAnswers = [...duplicateOf].map((i) => answers.get(events[i].id)![1]);
            expect(firstAnswers.filter((a) => a.status === 202 || (a.status === 200 && a.result === "duplicate"))).toHaveLength(ONBOARDINGS);
            expect(secondAnswers.filter((a) => a.status === 200 && a.result === "duplicate")).toHaveLength(DUPLICATES);

            // 0 lost: every event recorded, accepted, with its job.
            const records = await Promise.all(events.map((e) => store.getEvent(e.id)));
            expect(records.filter((r) => r?.outcome === "accepted" && r.jobId !== null)).toHaveLength(ONBOARDINGS);

            // The manifest at the git tip: each tenant exactly once; each event id in exactly one commit message.
            const tip = git(remote, "show", "main:tenants.yaml");
            for (const e of events) expect(tip.match(new RegExp(`^  - id: ${e.data.tenantId}$`, "gm"))).toHaveLength(1);
            const log = git(remote, "log", "--format=%B%x00", "main");
            const commitsOf = (id: string) => log.split("\0").filter((m) => new RegExp(`\\b${id}\\b`).test(m)).length;
            expect(events.filter((e) => commitsOf(e.id) === 1)).toHaveLength(ONBOARDINGS);

            // Each job run once: every job succeeded once (its finish is fenced by its lease), and started once per claim
            // (`attempts`). A second claim only for a job the victim held when it was killed: its first start is the victim's.
            const jobs = await store.jobs();
            const lines = fs
                .readFileSync(journal, "utf8")
                .trim()
                .split("\n")
                .map((l) => JSON.parse(l) as JournalLine);
            const starts = (id: string) => lines.filter((l) => l.event === "start" && l.jobId === id);
            const done = lines.filter((l) => l.event === "done");
            expect(jobs.filter((j) => j.state === "succeeded" && starts(j.id).length === j.attempts)).toHaveLength(jobs.length);
            const takenOver = jobs.filter((j) => j.attempts > 1);
            expect(takenOver.filter((j) => starts(j.id)[0].pid === victimPid && j.attempts === 2)).toHaveLength(takenOver.length);
            // Updates that ran to their end: one per job, plus (at most) one the victim finished just before it died, unrecorded.
            for (const j of jobs) expect(done.filter((l) => l.jobId === j.id && l.pid !== victimPid).length).toBeLessThanOrEqual(1);
            expect(jobs.filter((j) => done.some((l) => l.jobId === j.id))).toHaveLength(jobs.length);
            // Each tenant in exactly one succeeded job.
            const deployed = jobs.flatMap((j) => j.tenants);
            expect(deployed.sort()).toEqual(events.map((e) => e.data.tenantId).sort());
            // Never two updates of one stack at once (the cut-off update counts as ended when its replica died).
            const byStack = new Map<string, JournalLine[]>();
            for (const l of lines) byStack.set(l.stack, [...(byStack.get(l.stack) ?? []), l]);
            let overlaps = 0;
            for (const list of byStack.values()) {
                const running = new Map<string, number>();
                for (const l of list.sort((a, b) => a.t - b.t)) {
                    for (const [id, pid] of running) if (pid === victimPid && l.t >= killedAt) running.delete(id);
                    if (l.event === "start") {
                        if (running.size > 0) overlaps++;
                        running.set(l.jobId, l.pid);
                    } else running.delete(l.jobId);
                }
            }
            expect(overlaps).toBe(0);

            // Every replica decides on the tip, whoever pushed it: an update of a tenant another replica committed is accepted
            // by each (a replica's index may lag; a refusal is checked again on the tip), never a 404.
            const updates = [0, 1, 2].map((k) => ({
                id: `evt_replicas_${tag}_update_${k}`,
                type: "subscription.updated",
                created: Math.floor(Date.now() / 1000) + 1,
                data: { tenantId: events[k * 7].data.tenantId, tier: "premium" },
            }));
            const updateAnswers = await Promise.all(
                updates.map(async (u, k) => {
                    const s = signed(u);
                    const res = await fetch(`${replicas[k]!.baseUrl}/webhooks/billing`, { method: "POST", body: s.payload, headers: s.headers });
                    return res.status;
                }),
            );
            expect(updateAnswers).toEqual([202, 202, 202]);

            const figures = {
                scenario: label,
                queue: brokerUrl ? "rabbitmq" : "in-process",
                replicas: REPLICAS,
                onboardings: ONBOARDINGS,
                duplicates: DUPLICATES,
                answered202: firstAnswers.filter((a) => a.status === 202).length,
                answeredDuplicate: [...firstAnswers, ...secondAnswers].filter((a) => a.status === 200 && a.result === "duplicate").length,
                failedOverRequests: failedOver,
                recordedEvents: records.length,
                lostEvents: ONBOARDINGS - records.filter((r) => r?.outcome === "accepted").length,
                jobs: jobs.length,
                updatesStarted: lines.filter((l) => l.event === "start").length,
                updatesDone: done.length,
                jobsTakenOverAfterKill: takenOver.length,
                gitCommits: Number(git(remote, "rev-list", "--count", "main")) - 1,
                ackSeconds: (ackedAt - started) / 1000,
                settledSeconds: (settledAt - started) / 1000,
                killedWhileUpdating: takenOver.length > 0,
                // From the kill to the taken-over job's second start (the lease running out, then the next poll).
                takeoverAfterKillSeconds: takenOver.length > 0 ? (Math.min(...takenOver.map((j) => starts(j.id)[1].t)) - killedAt) / 1000 : null,
                leaseMs: LEASE_MS,
                fakeUpdateMs: DELAY_MS,
            };
            process.stdout.write(`replicas figures: ${JSON.stringify(figures)}\n`);
            return figures;
        } finally {
            await store.close();
            for (const r of replicas) if (r) await r.stop();
        }
    }
}

const figures: Record<string, unknown>[] = [];
afterAll(() => {
    fs.mkdirSync(path.join(__dirname, "../../.work"), { recursive: true });
    fs.writeFileSync(path.join(__dirname, "../../.work/replicas-figures.json"), `${JSON.stringify(figures, null, 2)}\n`);
});

describe("three replicas on one MySQL store and one git remote", () => {
    it("300 onboardings + 100 duplicates over 3 replicas, one killed -9 mid-burst and restarted: each tenant once, each job once, 0 lost", async () => {
        figures.push(await threeReplicas({ label: "in-process queues", onboardings: 300, duplicates: 100 }));
    });

    it("the same with the RabbitMQ job queues (60 onboardings + 20 duplicates): the broker hands a killed replica's job on once its lease ends", async () => {
        const r = localServices().rabbitmq;
        const brokerUrl = `amqp://${encodeURIComponent(r.user)}:${encodeURIComponent(r.password)}@${r.host}:${r.amqpPort}`;
        figures.push(await threeReplicas({ label: "rabbitmq job queues", onboardings: 60, duplicates: 20, brokerUrl }));
    });
});
