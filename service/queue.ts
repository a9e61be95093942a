/**
 * Job queues: one serialized queue per region stack. The job rows live in
 * the store (they survive a restart); a queue only decides who runs the
 * next one and when.
 *
 * - InProcessQueue (the embedded default): one worker loop per region in
 *   this process.
 * - BrokerQueue (BROKER_URL set): one RabbitMQ quorum queue per region with
 *   single-active-consumer, so across every service replica exactly one
 *   consumer runs a region's jobs, one at a time (prefetch 1); a job's
 *   message is acknowledged only after the job is finished, so a replica
 *   that dies mid-run hands the job to the next consumer.
 */
import type { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import type { Logger } from "pino";
import type { JobRunner } from "./runner";
import type { JobRecord, Store } from "./store";

export interface JobQueue {
    readonly kind: "in-process" | "rabbitmq";
    /** Starts consuming, and resumes jobs left queued or running by an earlier process. */
    start(): Promise<void>;
    /** A job was created (not when an event was coalesced into a queued job). */
    announce(job: JobRecord): Promise<void>;
    /** Resolves when no job is running or waiting in this process (tests, benchmarks). */
    idle(): Promise<void>;
    stop(): Promise<void>;
    healthy(): boolean;
}

export class InProcessQueue implements JobQueue {
    readonly kind = "in-process";
    private readonly workers = new Map<string, Promise<void>>();
    private stopped = false;

    constructor(
        private readonly store: Store,
        private readonly runner: JobRunner,
        private readonly log: Logger,
    ) {}

    start(): Promise<void> {
        for (const region of this.store.pendingRegions()) this.kick(region);
        return Promise.resolve();
    }

    announce(job: JobRecord): Promise<void> {
        this.kick(job.region);
        return Promise.resolve();
    }

    private kick(region: string): void {
        if (this.stopped || this.workers.has(region)) return;
        this.workers.set(region, this.loop(region));
    }

    private async loop(region: string): Promise<void> {
        // Yield once so the webhook that created the job is answered first.
        await new Promise<void>((resolve) => setImmediate(resolve));
        for (;;) {
            if (this.stopped) break;
            const job = this.store.claimNext(region);
            if (!job) break;
            try {
                await this.runner.run(job);
            } catch (err) {
                this.log.error({ jobId: job.id, err: String(err) }, "job runner crashed");
            }
        }
        this.workers.delete(region);
    }

    async idle(): Promise<void> {
        while (this.workers.size > 0) await Promise.all([...this.workers.values()]);
    }

    async stop(): Promise<void> {
        this.stopped = true;
        this.runner.cancel(undefined, "the service is shutting down", true);
        await Promise.all([...this.workers.values()]);
    }

    healthy(): boolean {
        return true;
    }
}

/** The quorum queue of a region stack's jobs. */
export function jobQueueName(stack: string): string {
    return `tenant-platform.deploy.${stack}`;
}

export class BrokerQueue implements JobQueue {
    readonly kind = "rabbitmq";
    private connection?: ChannelModel;
    private channel?: Channel;
    private inFlight = new Set<Promise<void>>();
    private connected = false;
    private stopping = false;

    constructor(
        private readonly url: string,
        private readonly stacks: readonly string[],
        private readonly store: Store,
        private readonly runner: JobRunner,
        private readonly log: Logger,
    ) {}

    async start(): Promise<void> {
        const amqp = await import("amqplib");
        this.connection = await amqp.connect(this.url);
        this.connected = true;
        this.connection.on("error", (err: Error) => this.log.error({ err: err.message }, "broker connection error"));
        this.connection.on("close", () => {
            this.connected = false;
            if (!this.stopping) this.log.error("broker connection closed");
        });
        const ch = await this.connection.createChannel();
        this.channel = ch;
        await ch.prefetch(1);
        for (const stack of this.stacks) {
            await ch.assertQueue(jobQueueName(stack), { durable: true, arguments: { "x-queue-type": "quorum", "x-single-active-consumer": true } });
            await ch.consume(jobQueueName(stack), (msg) => {
                if (msg) this.track(this.handle(ch, msg));
            });
        }
        // Jobs created by a process that died before announcing them. A
        // duplicate message is harmless: a finished job is skipped.
        for (const job of this.store.jobs()) if (job.state === "queued") await this.announce(job);
    }

    private track(p: Promise<void>): void {
        this.inFlight.add(p);
        void p.finally(() => this.inFlight.delete(p));
    }

    private async handle(ch: Channel, msg: ConsumeMessage): Promise<void> {
        let jobId: string | undefined;
        try {
            jobId = (JSON.parse(msg.content.toString()) as { jobId?: string }).jobId;
        } catch {
            jobId = undefined;
        }
        try {
            const job = jobId ? this.store.claim(jobId) : undefined;
            if (job) await this.runner.run(job);
            else this.log.info({ jobId }, "job already finished; message dropped");
            if (!this.stopping) ch.ack(msg);
        } catch (err) {
            this.log.error({ jobId, err: String(err) }, "job runner crashed; message returned to the queue");
            if (!this.stopping) ch.nack(msg, false, true);
        }
    }

    announce(job: JobRecord): Promise<void> {
        if (!this.channel) return Promise.reject(new Error("the broker queue is not started"));
        this.channel.sendToQueue(jobQueueName(job.stack), Buffer.from(JSON.stringify({ jobId: job.id })), {
            persistent: true,
            contentType: "application/json",
        });
        return Promise.resolve();
    }

    async idle(): Promise<void> {
        for (;;) {
            const pending = this.store.jobs().some((j) => j.state === "queued" || j.state === "running");
            if (!pending && this.inFlight.size === 0) return;
            await new Promise((r) => setTimeout(r, 50));
        }
    }

    async stop(): Promise<void> {
        this.stopping = true;
        this.runner.cancel(undefined, "the service is shutting down", true);
        await Promise.all([...this.inFlight]);
        // Unacknowledged messages go back to their queue when the connection closes.
        await this.connection?.close().catch(() => undefined);
        this.connected = false;
    }

    healthy(): boolean {
        return this.connected;
    }
}
