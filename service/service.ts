/**
 * The billing-webhook service, assembled: the manifest it edits, the store,
 * the group commit, the job runner and queue, the outbox loop and the HTTP
 * app (app.ts). `createService` builds and starts the parts; the caller
 * listens (main.ts, the tests) and calls `close`.
 */
import * as path from "node:path";
import pino, { type Logger } from "pino";
import type { Deployer } from "../core/deployer";
import { FileLock, ManifestFile, ManifestLocked } from "../core/manifestFile";
import { GitError, ManifestRepo, type ManifestRepoOptions } from "../core/manifestRepo";
import { formatIssues, validateManifest, type TenantSpec } from "../lib/manifest";
import { REGIONS } from "../lib/regions";
import { buildApp, type HttpLimits, type ServiceApp } from "./app";
import { InlineApplier, WorkerApplier } from "./applier";
import { EventCommitter } from "./commit";
import { AmqpPublisher } from "./events";
import { Metrics } from "./metrics";
import { Outbox } from "./outbox";
import { BrokerQueue, InProcessQueue, jobStacks, shardCounts, tenantStack, type JobQueue } from "./queue";
import { JobRunner, type RunnerOptions } from "./runner";
import { Store } from "./store";
import { isMysqlUrl } from "./storeDriver";

export interface ServiceOptions {
    /** The tenants manifest the service edits (the single source of truth). */
    readonly manifestPath: string;
    /**
     * The idempotency and job store: a SQLite file (or ":memory:"), owned by this process; or a
     * `mysql://user:password@host:port/database` URL, shared by every replica (service/store.ts).
     */
    readonly storePath: string;
    /** How long a claimed job's lease lasts unless its runner renews it, ms. Default 30000. */
    readonly leaseMs?: number;
    /** How often the in-process queue polls the store for jobs (another replica's, an expired lease's), ms. Default 1000. */
    readonly pollMs?: number;
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
    /**
     * Commit every applied batch to the git repository the manifest sits in
     * and push it to this remote and branch (core/manifestRepo.ts). Unset: the
     * manifest file alone is written.
     */
    readonly git?: ManifestRepoOptions;
    /** Apply batches in a worker thread (the event loop keeps answering meanwhile). Default true. */
    readonly applyInWorker?: boolean;
}

export interface Service {
    readonly app: ServiceApp;
    readonly store: Store;
    readonly queue: JobQueue;
    readonly metrics: Metrics;
    readonly runner: JobRunner;
    readonly manifest: ManifestFile;
    readonly committer: EventCommitter;
    /** Publishes what the outbox holds; resolves when done. */
    flushOutbox(): Promise<void>;
    /** Resolves when every accepted event is applied and pushed and every job has run. */
    settled(): Promise<void>;
    close(): Promise<void>;
}

/** The manifest the service would edit is missing or invalid: nothing was started. */
export class ManifestUnusable extends Error {
    override readonly name = "ManifestUnusable";
}

/** The store cannot be opened (a MySQL server unreachable, a bad URL, a file that is not a database): nothing was started. */
export class StoreUnusable extends Error {
    override readonly name = "StoreUnusable";
}

/** The SQLite store is already the store of another live service process. */
export class StoreInUse extends Error {
    override readonly name = "StoreInUse";
}

/**
 * Makes this process the one owner of a SQLite store file for its lifetime
 * (without a broker): two service processes with in-process queues on one
 * store would claim and run the same jobs (they did, overlapping by 2.4 s).
 * The owner lock is `<store>.lock` (the manifest
 * lock's kind: a dead owner, e.g. after kill -9, is detected at once on this
 * host, by its silent heartbeat on another). ":memory:" is private anyway.
 */
async function ownStore(storePath: string): Promise<() => void> {
    if (storePath === ":memory:" || isMysqlUrl(storePath)) return () => undefined;
    try {
        return await new FileLock(path.resolve(storePath), { waitMs: 0 }).acquire();
    } catch (err) {
        if (!(err instanceof ManifestLocked)) throw err;
        const owner = err.owner ? `process ${err.owner.pid} on ${err.owner.host}` : "another process";
        throw new StoreInUse(
            `the store ${storePath} is in use by ${owner}: a SQLite store serves one service process. ` +
                "Fix: stop that process, or give this replica a store of its own (--store); several replicas sharing jobs need a shared store.",
        );
    }
}

async function openManifest(manifestPath: string, git: ManifestRepoOptions | undefined): Promise<ManifestFile> {
    let manifest: ManifestFile;
    try {
        let repo: ManifestRepo | undefined;
        try {
            repo = git ? await ManifestRepo.open(manifestPath, git) : undefined;
        } catch (err) {
            if (!(err instanceof GitError)) throw err;
            throw new ManifestUnusable(
                `the manifest ${manifestPath} is not in a git clone with the remote "${git?.remote ?? "origin"}" (${err.message}); clone the manifest's repository and point --manifest into it, or drop --git-remote`,
            );
        }
        if (repo) await repo.sync();
        manifest = new ManifestFile(manifestPath, { repo });
    } catch (err) {
        if (err instanceof ManifestUnusable) throw err;
        throw new ManifestUnusable(
            `cannot open the manifest ${manifestPath} (${err instanceof GitError ? err.message : ((err as NodeJS.ErrnoException).code ?? String(err))}); fix the path (--manifest)`,
        );
    }
    const initial = validateManifest(manifest.read(), path.basename(manifestPath));
    if (!initial.ok) throw new ManifestUnusable(`the manifest the service would edit is invalid; fix it first.\n${formatIssues(initial.issues)}`);
    return manifest;
}

export async function createService(opts: ServiceOptions): Promise<Service> {
    const logger = opts.logger ?? pino({ level: "info" });
    const manifestPath = path.resolve(opts.manifestPath);
    const manifest = await openManifest(manifestPath, opts.git);
    const manifestName = path.basename(manifestPath);

    // A MySQL store is shared: the leases decide who runs a job. A SQLite file is owned by one process, unless a broker's
    // single-active-consumer queues decide (replicas on one host may then share the file).
    const shared = isMysqlUrl(opts.storePath);
    const owned = !shared && !opts.brokerUrl;
    const releaseStore = owned ? await ownStore(opts.storePath) : () => undefined;
    let store: Store;
    try {
        store = await Store.open(opts.storePath, { busyTimeoutMs: opts.storeBusyTimeoutMs, leaseMs: opts.leaseMs });
    } catch (err) {
        releaseStore();
        throw new StoreUnusable(
            `cannot open the store ${shared ? "(MySQL)" : opts.storePath}: ${err instanceof Error ? err.message : String(err)}; fix --store (or STORE_URL)`,
        );
    }
    // The one owner: the leases of a process that died (kill -9) end now, its interrupted job resumes at once.
    if (owned) await store.expireLeases();
    const metrics = new Metrics();
    const regionStackOf = (region: string) => opts.stacks?.[region] ?? region;
    const shardsOf = opts.shards ?? shardCounts();
    // One queue per shard stack: a tenant's jobs go to its shard's stack.
    const stackOf = (region: string, tenant: TenantSpec) => tenantStack(regionStackOf(region), shardsOf(regionStackOf(region)), tenant);
    const stacks = [...new Set(REGIONS.map(regionStackOf))].flatMap((s) => jobStacks(s, shardsOf(s)));
    const eventsUrl = opts.eventsUrl ?? opts.brokerUrl;
    const outbox = new Outbox(store, eventsUrl ? new AmqpPublisher(eventsUrl) : undefined, metrics, logger);
    // Each update deploys the remote tip: the job may come from another replica's push, which this clone has not fetched.
    const repo = manifest.repo;
    // An unreachable remote does not stop the update: the clone holds at least this replica's own pushes (a job of another
    // replica's then fails its targeted up and is retried).
    const beforeDeploy = repo
        ? () =>
              manifest
                  .withLock(async () => void (await repo.sync()))
                  .catch((err: unknown) =>
                      logger.warn(
                          { err: err instanceof Error ? err.message : String(err) },
                          "git fetch before the update failed; deploying the clone as it is",
                      ),
                  )
        : undefined;
    const runner = new JobRunner(store, opts.deployer, metrics, logger, { beforeDeploy, ...opts.runner }, () => void outbox.flush());
    const queue: JobQueue = opts.brokerUrl
        ? new BrokerQueue(opts.brokerUrl, stacks, store, runner, logger, { maxParallel: opts.maxParallel })
        : new InProcessQueue(store, runner, logger, { maxParallel: opts.maxParallel, pollMs: opts.pollMs });
    const committer = new EventCommitter(manifest, store, {
        file: manifestName,
        stackOf,
        onBatch: ({ size, validations, gitMs, attempts, refusedLate }) => {
            metrics.commitBatch.observe(size);
            metrics.validations.inc(validations);
            if (manifest.repo) metrics.gitSeconds.observe(gitMs / 1000);
            if (attempts > 1 || refusedLate > 0) logger.info({ size, attempts, refusedLate }, "batch applied again on a newer git tip");
        },
        onError: (err) =>
            logger.error({ err: err instanceof Error ? err.message : String(err) }, "batch not applied; its events stay queued and are tried again"),
        announce: (job) => queue.announce(job),
        applier: opts.applyInWorker === false ? new InlineApplier() : new WorkerApplier(),
        shared,
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
        stackOf,
        secrets: opts.secrets,
        toleranceSeconds: opts.toleranceSeconds,
        statusTokens: opts.statusTokens ?? [],
        limits: opts.limits,
    });
    await queue.start();
    // The index of the manifest, and the events a crash or a failed batch left queued: applied now.
    await committer.start();
    outbox.start(opts.outboxIntervalMs ?? 5000);

    return {
        app,
        store,
        queue,
        metrics,
        runner,
        manifest,
        committer,
        flushOutbox: () => outbox.flush(),
        async settled() {
            await committer.idle();
            await queue.idle();
        },
        async close() {
            await app.close();
            // Deliveries still waiting for their batch (their client may be gone) are committed before the store closes.
            await committer.close();
            await queue.stop();
            await outbox.close();
            await store.close();
            releaseStore();
        },
    };
}
