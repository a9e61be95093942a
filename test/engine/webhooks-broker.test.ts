/**
 * Broker mode against the real RabbitMQ of `make local-up`: jobs go through
 * one quorum queue per region stack with single-active-consumer.
 * - two service replicas on one store never run two updates on one stack;
 * - kill -9 the active consumer mid-queue: the other replica (or a restart)
 *   takes over, every job completes, none is lost or done twice except the
 *   interrupted run;
 * - completion events arrive on the platform exchange in the seed's envelope.
 */
import * as amqp from "amqplib";
import * as fs from "node:fs";
import * as path from "node:path";
import { EVENTS_EXCHANGE } from "../../service/events";
import { jobQueueName } from "../../service/queue";
import { Store } from "../../service/store";
import { createdEvent, event, post, tempDir, tempManifest } from "../support/service";
import { startFakeProcess, waitFor, type FakeProcess } from "../support/process";

jest.setTimeout(120_000);

function brokerUrl(): string {
    const envFile = path.resolve(__dirname, "../../.work/local.env");
    const env: Record<string, string> = {};
    for (const m of fs.readFileSync(envFile, "utf8").matchAll(/^export ([A-Z0-9_]+)="([^"]*)"$/gm)) env[m[1]] = m[2];
    const password = fs.readFileSync(env.CV_RABBITMQ_ADMIN_PASSWORD_FILE, "utf8").trim();
    return `amqp://${encodeURIComponent(env.CV_RABBITMQ_ADMIN_USER)}:${encodeURIComponent(password)}@${env.CV_RABBITMQ_HOST}:${env.CV_RABBITMQ_AMQP_PORT}`;
}

describe("RabbitMQ job queues", () => {
    const url = brokerUrl();
    const suffix = `${process.pid}-${Date.now()}`;
    const stacks = { "eu-west": `bt-eu-${suffix}`, "us-east": `bt-us-${suffix}`, apac: `bt-ap-${suffix}` };
    let conn: amqp.ChannelModel;
    let ch: amqp.Channel;
    const received: { routingKey: string; body: Record<string, unknown> }[] = [];
    const procs: FakeProcess[] = [];

    beforeAll(async () => {
        conn = await amqp.connect(url);
        ch = await conn.createChannel();
        await ch.assertExchange(EVENTS_EXCHANGE, "topic", { durable: true });
        const q = await ch.assertQueue("", { exclusive: true });
        await ch.bindQueue(q.queue, EVENTS_EXCHANGE, "tenant.#");
        await ch.consume(
            q.queue,
            (m) => {
                if (m) received.push({ routingKey: m.fields.routingKey, body: JSON.parse(m.content.toString()) as Record<string, unknown> });
            },
            { noAck: true },
        );
    });

    afterAll(async () => {
        for (const p of procs) p.kill();
        await Promise.all(procs.map((p) => p.exited));
        for (const s of Object.values(stacks)) await ch.deleteQueue(jobQueueName(s)).catch(() => undefined);
        await conn.close();
    });

    it("serializes a stack across replicas and survives kill -9 of the active consumer", async () => {
        const dir = tempDir();
        const env = {
            CV_MANIFEST: tempManifest(dir),
            CV_STORE: path.join(dir, "service.db"),
            CV_FAKE_LOG: path.join(dir, "deploys.jsonl"),
            CV_DELAY_MS: "1200",
            CV_STACKS: JSON.stringify(stacks),
            BROKER_URL: url,
            // The killed consumer's job waits for its lease (service/store.ts) before the next consumer runs it: a short one.
            CV_JOB_LEASE_MS: "3000",
        };
        fs.writeFileSync(env.CV_FAKE_LOG, "");
        const r1 = await startFakeProcess(dir, env);
        const r2 = await startFakeProcess(dir, env);
        procs.push(r1, r2);

        const evA = createdEvent("brk-a");
        const a = await post(r1, evA);
        await waitFor(() => fs.readFileSync(env.CV_FAKE_LOG, "utf8").includes('"start"'));
        // Sent to the other replica: it must not start a second update on the same stack.
        const evB = event("subscription.updated", { tenantId: "nordic", tier: "premium" });
        const evC = createdEvent("brk-b");
        const b = await post(r2, evB);
        const c = await post(r2, evC);
        // Answered before their batch: queued, no job yet (the store names each event's job once applied).
        expect([a, b, c].map((r) => [r.statusCode, r.json().status])).toEqual([
            [202, "queued"],
            [202, "queued"],
            [202, "queued"],
        ]);

        // Kill whichever replica runs the first job.
        const log = () =>
            fs
                .readFileSync(env.CV_FAKE_LOG, "utf8")
                .trim()
                .split("\n")
                .filter(Boolean)
                .map((l) => JSON.parse(l) as { event: string; jobId: string; stack: string; pid: number; t: number });
        const runner = log().find((l) => l.event === "start")!.pid;
        const victim = runner === r1.pid ? r1 : r2;
        victim.kill();
        await victim.exited;

        await waitFor(async () => {
            const s = new Store(env.CV_STORE);
            try {
                const jobs = await s.jobs();
                return jobs.length === 2 && jobs.every((j) => j.state === "succeeded");
            } finally {
                await s.close();
            }
        }, 60_000);
        const jobOf = async (id: string) => {
            const s = new Store(env.CV_STORE);
            try {
                return (await s.getEvent(id))?.jobId;
            } finally {
                await s.close();
            }
        };
        const [jobA, jobB, jobC] = [await jobOf(evA.id), await jobOf(evB.id), await jobOf(evC.id)];
        expect(jobA).toMatch(/^job_/);
        expect(jobB).toMatch(/^job_/);
        expect(jobC).toBe(jobB); // coalesced while waiting
        expect(jobB).not.toBe(jobA);
        const entries = log();
        const done = entries.filter((l) => l.event === "done");
        expect(done.filter((l) => l.jobId === jobA)).toHaveLength(1);
        expect(done.filter((l) => l.jobId === jobB)).toHaveLength(1);
        expect(done.every((l) => l.pid !== victim.pid)).toBe(true);
        // No overlap of two updates on one stack: every start follows the previous done.
        const onStack = entries.filter((l) => l.stack === stacks["eu-west"]);
        let running = 0;
        let maxRunning = 0;
        const alive = new Set<number>();
        for (const l of onStack) {
            if (l.event === "start") {
                // A start from a killed process never gets its done: count it finished when the victim died.
                if (alive.has(victim.pid) && l.pid !== victim.pid) {
                    running--;
                    alive.delete(victim.pid);
                }
                running++;
                alive.add(l.pid);
            } else {
                running--;
                alive.delete(l.pid);
            }
            maxRunning = Math.max(maxRunning, running);
        }
        expect(maxRunning).toBe(1);

        await waitFor(() => received.filter((r) => r.body.tenant_id === "client-brk-b").length > 0, 20_000).catch(async (err: Error) => {
            const s = new Store(env.CV_STORE);
            const pending = await s.unpublished();
            await s.close();
            throw new Error(`${err.message}; received ${JSON.stringify(received)}; outbox still holds ${JSON.stringify(pending)}`);
        });
        const provisioned = received.find((r) => r.routingKey === "tenant.provisioned" && r.body.tenant_id === "client-brk-a");
        expect(provisioned?.body).toMatchObject({ event: "tenant.provisioned", tenant_id: "client-brk-a", payload: { namespace: "e-commerce-client-brk-a" } });
        expect(received.find((r) => r.body.tenant_id === "client-nordic")?.body).toMatchObject({
            event: "tenant.updated",
            website_id: 131,
            payload: { tier: "premium" },
        });
    });
});
