/**
 * The billing-webhook service, assembled: the manifest it edits, the store,
 * the group commit, the job runner and queue, the outbox loop and the HTTP
 * app (app.ts). `createService` builds and starts the parts; the caller
 * listens (main.ts, the tests) and calls `close`.
 */
import * as path from "node:path";
import pino, { type Logger } from "pino";
import type { Deployer } from "../core/deployer";
import { ManifestFile } from "../core/manifestFile";
import { formatIssues, validateManifest, type TenantSpec } from "../lib/manifest";
import { REGIONS } from "../lib/regions";
import { buildApp, type HttpLimits, type ServiceApp } from "./app";
import { EventCommitter } from "./commit";
import { AmqpPublisher } from "./events";
import { Metrics } from "./metrics";
import { Outbox } from "./outbox";
import { BrokerQueue, InProcessQueue, jobStacks, shardCounts, tenantStack, type JobQueue } from "./queue";
import { JobRunner, type RunnerOptions } from "./runner";
import { Store } from "./store";

export interface ServiceOptions {
    /** The tenants manifest the service edits (the single source of truth). */
    readonly manifestPath: string;
    /** SQLite file of the idempotency store, or ":memory:". */
    readonly storePath: string;
    readonly deployer: Deployer;
    /** Active webhook secrets: the current one and, while rotating, the previous one. */
    readonly secrets: readonly string[];
    /** Bearer tokens of the status endpoints (GET /tenants/:id, /jobs/:id, /metrics). Default none: those endpoints answer 401. */
    readonly statusTokens?: readonly string[];
    /** What an unauthenticated HTTP client can hold (body size, timeouts, connections). Default: HTTP_LIMITS. */
    readonly limits?: HttpLimits;
    /** How long a call waits for a store locked by another process, in ms (on timers, never blocking). Default 5000. */
    readonly storeBusyTimeoutMs?: number;
    /** Region to stack overrides, e.g. { "eu-west": "local" }. Default: the stack is named after the region. */
    readonly stacks?: Readonly<Record<string, string>>;
    /** A region stack's shard count. Default: `tenant-platform:shards` of its settings file in this repository (service/queue.ts, shardCounts). */
    readonly shards?: (regionStack: string) => number;
    /** Jobs of different stacks (shards) running at the same time. Default: the CPU count. */
    readonly maxParallel?: number;
    /** RabbitMQ URL for the job queues; unset: the in-process queue. */
    readonly brokerUrl?: string;
    /** RabbitMQ URL for the platform events; default: brokerUrl. Unset: events stay in the outbox table. */
    readonly eventsUrl?: string;
    readonly runner?: RunnerOptions;
    /** Signature timestamp tolerance in seconds. Default 300. */
    readonly toleranceSeconds?: number;
    readonly logger?: Logger;
    /** Interval of the outbox flush in ms. Default 5000. */
    readonly outboxIntervalMs?: number;
}

export interface Service {
    readonly app: ServiceApp;
    readonly store: Store;
    readonly queue: JobQueue;
    readonly metrics: Metrics;
    readonly runner: JobRunner;
    readonly manifest: ManifestFile;
    /** Publishes what the outbox holds; resolves when done. */
    flushOutbox(): Promise<void>;
    close(): Promise<void>;
}

/** The manifest the service would edit is missing or invalid: nothing was started. */
export class ManifestUnusable extends Error {
    override readonly name = "ManifestUnusable";
}

function openManifest(manifestPath: string): ManifestFile {
    let manifest: ManifestFile;
    try {
        manifest = new ManifestFile(manifestPath);
    } catch (err) {
        throw new ManifestUnusable(
            `cannot open the manifest ${manifestPath} (${(err as NodeJS.ErrnoException).code ?? String(err)}); fix the path (--manifest)`,
        );
    }
    const initial = validateManifest(manifest.read(), path.basename(manifestPath));
    if (!initial.ok) throw new ManifestUnusable(`the manifest the service would edit is invalid; fix it first.\n${formatIssues(initial.issues)}`);
    return manifest;
}

export async function createService(opts: ServiceOptions): Promise<Service> {
    const logger = opts.logger ?? pino({ level: "info" });
    const manifestPath = path.resolve(opts.manifestPath);
    const manifest = openManifest(manifestPath);
    const manifestName = path.basename(manifestPath);

    const store = new Store(opts.storePath, { busyTimeoutMs: opts.storeBusyTimeoutMs });
    const metrics = new Metrics();
    const regionStackOf = (region: string) => opts.stacks?.[region] ?? region;
    const shardsOf = opts.shards ?? shardCounts();
    // One queue per shard stack: a tenant's jobs go to its shard's stack.
    const stackOf = (region: string, tenant: TenantSpec) => tenantStack(regionStackOf(region), shardsOf(regionStackOf(region)), tenant);
    const stacks = [...new Set(REGIONS.map(regionStackOf))].flatMap((s) => jobStacks(s, shardsOf(s)));
    const eventsUrl = opts.eventsUrl ?? opts.brokerUrl;
    const outbox = new Outbox(store, eventsUrl ? new AmqpPublisher(eventsUrl) : undefined, metrics, logger);
    const runner = new JobRunner(store, opts.deployer, metrics, logger, opts.runner, () => void outbox.flush());
    const queue: JobQueue = opts.brokerUrl
        ? new BrokerQueue(opts.brokerUrl, stacks, store, runner, logger, { maxParallel: opts.maxParallel })
        : new InProcessQueue(store, runner, logger, { maxParallel: opts.maxParallel });
    const committer = new EventCommitter(manifest, store, {
        file: manifestName,
        stackOf,
        onBatch: ({ size, validations }) => {
            metrics.commitBatch.observe(size);
            metrics.validations.inc(validations);
        },
        announce: (job) => queue.announce(job),
    });

    const app = await buildApp({
        logger,
        store,
        committer,
        queue,
        runner,
        metrics,
        manifest,
        manifestName,
        stacks,
        secrets: opts.secrets,
        toleranceSeconds: opts.toleranceSeconds,
        statusTokens: opts.statusTokens ?? [],
        limits: opts.limits,
    });
    await queue.start();
    // A batch a crash left between its manifest write and its record: applied again (its change is already in the manifest).
    await committer.recover();
    outbox.start(opts.outboxIntervalMs ?? 5000);

    return {
        app,
        store,
        queue,
        metrics,
        runner,
        manifest,
        flushOutbox: () => outbox.flush(),
        async close() {
            await app.close();
            // Deliveries still waiting for their batch (their client may be gone) are committed before the store closes.
            await committer.idle();
            committer.close();
            await queue.stop();
            await outbox.close();
            store.close();
        },
    };
}
