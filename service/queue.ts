/**
 * Job queues: one serialized queue per stack a job deploys (README, "Region
 * shards"): a region's stack, or with K > 1 shards each of its shard stacks
 * `<region stack>-sNN`. Jobs of different stacks run at the same time (at
 * most `maxParallel` in this process); a stack's jobs run one after another.
 * The job rows live in the store (they survive a restart); a queue only
 * decides who runs the next one and when. A job's stack is its tenant's
 * (tenantStack below), fixed when the event is recorded, so the queue and
 * the runner agree on it.
 *
 * - InProcessQueue (the embedded default): one worker loop per stack in
 *   this process. Each job is claimed under a lease (service/store.ts): on
 *   a shared MySQL store, the replicas' loops compete for the jobs, a stack
 *   runs one job at a time across all of them, and a job whose replica died
 *   is taken over once its lease expires (each loop also polls the store
 *   every `pollMs`: the jobs another replica created, or left behind).
 * - BrokerQueue (BROKER_URL set): one RabbitMQ quorum queue per stack with
 *   single-active-consumer, so across every service replica exactly one
 *   consumer runs a stack's jobs, one at a time (prefetch 1); a job's
 *   message is acknowledged only after the job is finished, so a replica
 *   that dies mid-run hands the job to the next consumer.
 */
import type { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import * as fs from "node:fs";
import * as os from "node:os";
import type { Logger } from "pino";
import { PROJECT_DIR } from "../core/project";
import { loadStackConfig, stackFilePath } from "../core/stackFile";
import { shardOf, shardStackName, stackOfShard, type ShardedTenant } from "../lib/shards";
import type { JobRunner } from "./runner";
import type { ClaimResult, JobRecord, Store } from "./store";

/**
 * The stack a tenant's deployment runs in: with one shard its region stack,
 * else the stack of its shard (its `shard` pin, else the stable hash of its
 * id: lib/shards.ts). The queue key of its jobs.
 */
export function tenantStack(regionStack: string, shards: number, tenant: ShardedTenant): string {
    return stackOfShard(regionStack, shards, shardOf(tenant, shards));
}

/** The stacks that take a region stack's jobs: itself with one shard, else its shard stacks (the region stack then holds no tenant). */
export function jobStacks(regionStack: string, shards: number): string[] {
    return shards === 1 ? [regionStack] : Array.from({ length: shards }, (_, i) => shardStackName(regionStack, i));
}

export interface ShardCountOptions {
    /** The Pulumi project directory. Default: this repository. */
    readonly projectDir?: string;
    /** Region stack -> its settings file, instead of `<projectDir>/Pulumi.<stack>.yaml` (benches, tests). */
    readonly settingsFiles?: Readonly<Record<string, string>>;
}

/**
 * A region stack's shard count (`tenant-platform:shards` of its settings
 * file; 1 for a stack without a file), read again whenever the file changes:
 * `tenantctl reshard` rewrites it while the service runs.
 */
export function shardCounts(opts: ShardCountOptions = {}): (regionStack: string) => number {
    const cache = new Map<string, { stamp: string; shards: number }>();
    return (regionStack) => {
        const configFile = opts.settingsFiles?.[regionStack];
        const file = stackFilePath(regionStack, { projectDir: opts.projectDir ?? PROJECT_DIR, configFile });
        let stat: fs.Stats;
        try {
            stat = fs.statSync(file);
        } catch {
            return 1;
        }
        const stamp = `${stat.mtimeMs}:${stat.size}`;
        const hit = cache.get(regionStack);
        if (hit?.stamp === stamp) return hit.shards;
        const shards = loadStackConfig(regionStack, { projectDir: opts.projectDir ?? PROJECT_DIR, configFile }).shards;
        cache.set(regionStack, { stamp, shards });
        return shards;
    };
}

/** A counting semaphore: at most `limit` holders. */
class Slots {
    private used = 0;
    private readonly waiting: (() => void)[] = [];

    constructor(private readonly limit: number) {}

    async acquire(): Promise<() => void> {
        if (this.used >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
        else this.used++;
        let released = false;
        return () => {
            if (released) return;
            released = true;
            const next = this.waiting.shift();
            // The slot passes straight to the next waiter.
            if (next) next();
            else this.used--;
        };
    }
}

export interface QueueOptions {
    /** Jobs of different stacks running at the same time in this process. Default: the CPU count. */
    readonly maxParallel?: number;
    /** How often the store is polled for jobs nobody announced here (another replica's, or an expired lease's), ms. Default 1000. */
    readonly pollMs?: number;
}

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
    /** One worker loop per stack with jobs. */
    private readonly workers = new Map<string, Promise<void>>();
    private readonly slots: Slots;
    private stopped = false;
    private poller: NodeJS.Timeout | undefined;

    constructor(
        private readonly store: Store,
        private readonly runner: JobRunner,
        private readonly log: Logger,
        private readonly opts: QueueOptions = {},
    ) {
        this.slots = new Slots(opts.maxParallel ?? os.availableParallelism());
    }

    async start(): Promise<void> {
        await this.poll();
        this.poller = setInterval(() => void this.poll(), this.opts.pollMs ?? 1000);
        this.poller.unref();
    }

    /** Kicks the loop of every stack with queued or running jobs. */
    private async poll(): Promise<void> {
        try {
            for (const stack of await this.store.pendingStacks()) this.kick(stack);
        } catch (err) {
            this.log.warn({ err: String(err) }, "polling the store for jobs failed; trying again");
        }
    }

    announce(job: JobRecord): Promise<void> {
        this.kick(job.stack);
        return Promise.resolve();
    }

    private kick(stack: string): void {
        if (this.stopped || this.workers.has(stack)) return;
        this.workers.set(stack, this.loop(stack));
    }

    private async loop(stack: string): Promise<void> {
        // Yield once so the webhook that created the job is answered first.
        await new Promise<void>((resolve) => setImmediate(resolve));
        for (;;) {
            if (this.stopped) break;
            const release = await this.slots.acquire();
            try {
                // Claimed only once a slot is free: a job waiting for one stays queued.
                const job = this.stopped ? undefined : await this.store.claimNext(stack);
                if (!job) break;
                try {
                    await this.runner.run(job);
                } catch (err) {
                    this.log.error({ jobId: job.id, err: String(err) }, "job runner crashed");
                }
            } catch (err) {
                this.log.warn({ stack, err: String(err) }, "claiming a job failed; the poll tries again");
                break;
            } finally {
                release();
            }
        }
        this.workers.delete(stack);
    }

    async idle(): Promise<void> {
        while (this.workers.size > 0) await Promise.all([...this.workers.values()]);
    }

    async stop(): Promise<void> {
        this.stopped = true;
        clearInterval(this.poller);
        this.runner.cancel(undefined, "the service is shutting down", true);
        await Promise.all([...this.workers.values()]);
    }

    healthy(): boolean {
        return true;
    }
}

/** The quorum queue of a stack's jobs (a region stack's or a shard stack's). */
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
    /** The stacks consumed, each once: the initial ones, and those a reshard added while running. */
    private readonly consumers = new Map<string, Promise<void>>();
    private readonly slots: Slots;

    constructor(
        private readonly url: string,
        private readonly stacks: readonly string[],
        private readonly store: Store,
        private readonly runner: JobRunner,
        private readonly log: Logger,
        opts: QueueOptions = {},
    ) {
        this.slots = new Slots(opts.maxParallel ?? os.availableParallelism());
    }

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
        // Per consumer: one job at a time per stack (quorum queues have no per-channel limit; the slots bound the stacks at once).
        await ch.prefetch(1);
        for (const stack of this.stacks) await this.consume(stack);
        // Jobs created by a process that died before announcing them. A
        // duplicate message is harmless: a finished job is skipped.
        for (const job of await this.store.jobs()) if (job.state === "queued") await this.announce(job);
    }

    /** Declares the stack's queue and consumes it, once. */
    private consume(stack: string): Promise<void> {
        let c = this.consumers.get(stack);
        if (!c) {
            const ch = this.channel;
            if (!ch) return Promise.reject(new Error("the broker queue is not started"));
            c = (async () => {
                await ch.assertQueue(jobQueueName(stack), { durable: true, arguments: { "x-queue-type": "quorum", "x-single-active-consumer": true } });
                await ch.consume(jobQueueName(stack), (msg) => {
                    if (msg) this.track(this.handle(ch, msg));
                });
            })();
            c.catch(() => this.consumers.delete(stack));
            this.consumers.set(stack, c);
        }
        return c;
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
        const release = await this.slots.acquire();
        try {
            let claim: ClaimResult = { kind: "done" };
            // Held by a runner whose lease is alive (a replica that died a moment ago, before its lease ran out): the message waits
            // for the lease (single active consumer: the stack's next jobs wait behind it).
            while (jobId && !this.stopping) {
                claim = await this.store.claim(jobId);
                if (claim.kind !== "leased") break;
                await new Promise((r) => setTimeout(r, Math.min(claim.kind === "leased" ? claim.retryInMs + 10 : 0, 1000)));
            }
            if (claim.kind === "claimed" && !this.stopping) await this.runner.run(claim.job);
            else if (!this.stopping) this.log.info({ jobId }, "job already finished; message dropped");
            if (!this.stopping) ch.ack(msg);
        } catch (err) {
            this.log.error({ jobId, err: String(err) }, "job runner crashed; message returned to the queue");
            if (!this.stopping) ch.nack(msg, false, true);
        } finally {
            release();
        }
    }

    async announce(job: JobRecord): Promise<void> {
        if (!this.channel) throw new Error("the broker queue is not started");
        await this.consume(job.stack);
        this.channel.sendToQueue(jobQueueName(job.stack), Buffer.from(JSON.stringify({ jobId: job.id })), {
            persistent: true,
            contentType: "application/json",
        });
    }

    async idle(): Promise<void> {
        for (;;) {
            const pending = (await this.store.jobs()).some((j) => j.state === "queued" || j.state === "running");
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
