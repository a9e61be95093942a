/**
 * `tenantctl bench-webhooks`: the service's figures.
 * 1. Acknowledgement latency: autocannon at a fixed rate on loopback against
 *    the service in its own process (`tenantctl serve --fake-deployer`,
 *    service/launch.ts: the deployment is asynchronous and not part of the
 *    acknowledgement, so a fake deployer stands in), once per manifest size
 *    (`--ack-tenants`, synthetic manifests, bench/syntheticManifest.ts).
 *    Every request is a distinct, signed `subscription.updated` that really
 *    changes tenants.yaml (tier toggled). Also reports the group commit's
 *    batch sizes and validator runs, how long after the last acknowledgement
 *    every event was applied, and with `--git` (a local bare repository as
 *    the remote) the git commit + push time per batch, from /metrics.
 * 2. On the real engine (local stack, a temp file:// backend), in a region
 *    that already holds N tenants (bench/syntheticManifest.ts): webhook
 *    `subscription.created` to namespace Active and to job end, with a
 *    targeted update and with a full one, then a full preview after each
 *    (the targeted update must leave nothing behind).
 */
import autocannon from "autocannon";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { parse, stringify } from "yaml";
import { syntheticManifest } from "./syntheticManifest";
import { namespaceName } from "../lib/naming";
import { PulumiDeployer, type Deployer, type TargetMode } from "../core/deployer";
import { kubeAccess, KubeError, kubeRequest } from "../core/kube";
import { localPulumiEnv } from "../core/localEnv";
import { PROJECT_DIR } from "../core/project";
import { launchFakeService, type ServiceProcess } from "../service/launch";
import { createService, type Service } from "../service/service";
import { signatureHeader } from "../service/signature";
import type { JobRecord } from "../service/store";

const SECRET = "bench-secret";
const WARMUP_SECONDS = 2;

export interface WebhookBenchOptions {
    readonly rate: number;
    /** Manifest sizes of the acknowledgement runs. */
    readonly ackTenants: readonly number[];
    /** Commit and push every batch to a local bare repository. */
    readonly git?: boolean;
    readonly duration: number;
    /** Concurrent connections of the load generator. */
    readonly connections: number;
    readonly tenants: number;
    readonly repeat: number;
    readonly skipEngine?: boolean;
    readonly skipAck?: boolean;
    readonly keep?: boolean;
    readonly stack: string;
}

export async function runWebhookBench(opts: WebhookBenchOptions): Promise<void> {
    if (!opts.skipAck) {
        for (const tenants of opts.ackTenants) {
            const ack = await ackLatency(opts.rate, opts.duration, opts.connections, tenants, opts.git ?? false);
            process.stdout.write(
                `ack latency with ${tenants} tenants${opts.git ? " (git: commit + push per batch)" : ""} at ${opts.rate} req/s for ${opts.duration}s over ${opts.connections} connections: ` +
                    `p50 ${ack.raw.p50} ms, p90 ${ack.raw.p90} ms, p99 ${ack.raw.p99} ms, max ${ack.max} ms ` +
                    `(target: p99 < 100 ms); ${ack.requests} requests, ${ack.non2xx} non-2xx, ${ack.errors} errors\n` +
                    `  autocannon's histogram (with its 1 ms coordinated-omission correction): p50 ${ack.p50} ms, p90 ${ack.p90} ms, p99 ${ack.p99} ms\n` +
                    `  group commit: ${ack.batches} batches, ${(ack.accepted / Math.max(ack.batches, 1)).toFixed(1)} deliveries per batch on average, ` +
                    `${ack.validations} manifest validations for ${ack.accepted} events; every event applied ${(ack.drainMs / 1000).toFixed(1)} s after the last acknowledgement` +
                    `${ack.git ? `; git commit + push ${ack.git.meanMs.toFixed(0)} ms per batch on average (${ack.git.batches} batches)` : ""}\n` +
                    `  the service's own time per answer: ${pctText(ack.server.under10)} under 10 ms, ${pctText(ack.server.under25)} under 25 ms, ${pctText(ack.server.under100)} under 100 ms\n` +
                    `  service event-loop delay p99 ${ack.loopLag.p99.toFixed(0)} ms, max ${ack.loopLag.max.toFixed(0)} ms; load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs\n`,
            );
        }
    }
    if (opts.skipEngine) return;
    await engineBench(opts);
}

function pctText(share: number): string {
    return `${(share * 100).toFixed(1)} %`;
}

function tempDir(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), "cv-bench-webhooks-"));
}

interface AckFigures {
    /** autocannon's figures (with its coordinated-omission correction). */
    p50: number;
    p90: number;
    p99: number;
    max: number;
    /** Percentiles of the measured response times alone. */
    raw: { p50: number; p90: number; p99: number };
    requests: number;
    non2xx: number;
    errors: number;
    batches: number;
    accepted: number;
    validations: number;
    /** The service's event-loop delay over the run, ms. */
    loopLag: { p99: number; max: number };
    /** From the end of the load to every accepted event applied (and pushed), ms. */
    drainMs: number;
    /** git time per batch (with --git). */
    git?: { meanMs: number; batches: number };
    /** The service's own measure of each answer (billing_webhook_ack_seconds, from parsed body to reply): share under 10, 25, 100 ms. */
    server: { under10: number; under25: number; under100: number };
}

function git(cwd: string, ...args: string[]): void {
    execFileSync("git", args, { cwd, stdio: "ignore" });
}

/**
 * The service in its own process on a fake deployer, editing a synthetic
 * manifest of `tenants` tenants in `dir`; with `withGit`, in a clone of a
 * local bare repository it pushes every batch to.
 */
function startFakeService(dir: string, tenants: number, withGit: boolean): Promise<ServiceProcess> {
    const text = `# bench-webhooks: ${tenants} synthetic tenants\n${stringify(syntheticManifest(tenants, "eu-west"))}`;
    let manifest = path.join(dir, "tenants.yaml");
    if (withGit) {
        const remote = path.join(dir, "remote.git");
        const clone = path.join(dir, "clone");
        git(dir, "init", "--quiet", "--bare", "-b", "main", remote);
        git(dir, "init", "--quiet", "-b", "main", clone);
        manifest = path.join(clone, "tenants.yaml");
        fs.writeFileSync(manifest, text);
        git(clone, "add", "tenants.yaml");
        git(clone, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "--quiet", "-m", "bench manifest");
        git(clone, "remote", "add", "origin", remote);
        git(clone, "push", "--quiet", "origin", "main");
    } else fs.writeFileSync(manifest, text);
    return launchFakeService({
        manifest,
        store: path.join(dir, "service.db"),
        secret: SECRET,
        timeoutMs: 180_000,
        ...(withGit ? { gitRemote: "origin" } : {}),
    });
}

function metricValue(text: string, name: string): number {
    const m = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} (\\S+)$`, "m").exec(text);
    return m ? Number(m[1]) : 0;
}

async function ackLatency(rate: number, duration: number, connections: number, size: number, withGit: boolean): Promise<AckFigures> {
    const dir = tempDir();
    const svc = await startFakeService(dir, size, withGit);
    // Active tenants of the synthetic manifest spread over it (every 50th is suspended, every 100th cancelled: skipped).
    const tenants = Array.from({ length: 97 }, (_, i) => Math.floor((i * size) / 97))
        .filter((i) => i % 50 !== 49)
        .map((i) => `t${String(i).padStart(6, "0")}`);
    const tiers = ["standard", "premium", "business"];
    let n = 0;
    const request: autocannon.Request = {
        setupRequest: (req: autocannon.Request): autocannon.Request => {
            n += 1;
            const body = JSON.stringify({
                id: `evt_bench_${process.pid}_${n}`,
                type: "subscription.updated",
                created: Math.floor(Date.now() / 1000),
                data: { tenantId: tenants[n % tenants.length], tier: tiers[Math.floor(n / tenants.length) % tiers.length] },
            });
            return { ...req, method: "POST", body, headers: { "content-type": "application/json", "billing-signature": signatureHeader(SECRET, body) } };
        },
    };
    try {
        // Warm-up, not measured: the first few hundred ms after a start run cold code (JIT, first statements, first validation).
        await autocannon({
            url: `http://127.0.0.1:${svc.port}/webhooks/billing`,
            method: "POST",
            connections,
            overallRate: rate,
            duration: WARMUP_SECONDS,
            requests: [request],
        });
        // Also resets the service's event-loop delay histogram (prom-client resets it on every scrape).
        const before = await (await fetch(`http://127.0.0.1:${svc.port}/metrics`, { headers: { authorization: `Bearer ${svc.statusToken}` } })).text();
        const run = autocannon({
            url: `http://127.0.0.1:${svc.port}/webhooks/billing`,
            method: "POST",
            connections,
            overallRate: rate,
            duration,
            requests: [request],
        }) as unknown as Promise<autocannon.Result> & NodeJS.EventEmitter;
        // With a rate, autocannon's histogram "corrects" for coordinated omission assuming one request every
        // Math.ceil(1 / rate) = 1 ms per connection (the rate is per second): it adds (latency - 1) made-up samples
        // per response. Each response's own time is recorded here as well; both are printed.
        const raw: number[] = [];
        // `on` returns the instance, the promise awaited below.
        void run.on("response", (_client: unknown, _status: number, _bytes: number, ms: number) => raw.push(ms));
        const result = await run;
        raw.sort((x, y) => x - y);
        const pct = (p: number) => Math.round(raw[Math.min(raw.length - 1, Math.floor((p / 100) * raw.length))] ?? 0);
        const ended = performance.now();
        const auth = { headers: { authorization: `Bearer ${svc.statusToken}` } };
        const scrape = async () => (await fetch(`http://127.0.0.1:${svc.port}/metrics`, auth)).text();
        // Every accepted event applied: the batches' deliveries add up to what was acknowledged 202 (warm-up included).
        let metrics = await scrape();
        const accepted202 = (text: string) => metricValue(text, 'billing_webhooks_total{type="subscription.updated",result="accepted"}');
        const deadline = Date.now() + 600_000;
        while (metricValue(metrics, "billing_commit_batch_size_sum") < accepted202(metrics) && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 100));
            metrics = await scrape();
        }
        const drainMs = performance.now() - ended;
        const bucket = (text: string, le: string) => metricValue(text, `billing_webhook_ack_seconds_bucket{le="${le}"}`);
        const inRun = (le: string) => bucket(metrics, le) - bucket(before, le);
        const total = Math.max(inRun("+Inf"), 1);
        const server = { under10: inRun("0.01") / total, under25: inRun("0.025") / total, under100: inRun("0.1") / total };
        const gitCount = metricValue(metrics, "billing_commit_git_seconds_count") - metricValue(before, "billing_commit_git_seconds_count");
        const gitSum = metricValue(metrics, "billing_commit_git_seconds_sum") - metricValue(before, "billing_commit_git_seconds_sum");
        return {
            drainMs,
            server,
            ...(withGit ? { git: { meanMs: (gitSum / Math.max(gitCount, 1)) * 1000, batches: gitCount } } : {}),
            p50: result.latency.p50,
            p90: result.latency.p90,
            p99: result.latency.p99,
            max: result.latency.max,
            raw: { p50: pct(50), p90: pct(90), p99: pct(99) },
            requests: result.requests.total,
            non2xx: result.non2xx,
            errors: result.errors,
            batches: metricValue(metrics, "billing_commit_batch_size_count") - metricValue(before, "billing_commit_batch_size_count"),
            accepted: metricValue(metrics, "billing_commit_batch_size_sum") - metricValue(before, "billing_commit_batch_size_sum"),
            validations: metricValue(metrics, "billing_manifest_validations_total") - metricValue(before, "billing_manifest_validations_total"),
            loopLag: {
                p99: metricValue(metrics, "nodejs_eventloop_lag_p99_seconds") * 1000,
                max: metricValue(metrics, "nodejs_eventloop_lag_max_seconds") * 1000,
            },
        };
    } finally {
        await svc.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/**
 * The region's synthetic tenants (bench/syntheticManifest.ts), renamed `w<tag>…`: the
 * cluster is shared, and an earlier run's namespaces may still be terminating.
 */
export function benchManifest(count: number, tag: string): string {
    const text = stringify(syntheticManifest(count, "eu-west"));
    return `# bench-webhooks: ${count} synthetic tenants in eu-west\n${text.replace(/\bt(\d{6})\b/g, `w${tag}$1`)}`;
}

/** A request to the API server with the kubeconfig's credentials (core/kube.ts): [status, body]; a refusal is a status, not an error. */
export async function kube(kubeconfig: string, method: string, apiPath: string): Promise<[number, { status?: { phase?: string } }]> {
    try {
        return [200, await kubeRequest<{ status?: { phase?: string } }>(kubeAccess(kubeconfig), method, apiPath)];
    } catch (err) {
        if (err instanceof KubeError) return [err.status, {}];
        throw err;
    }
}

interface ReadyFigures {
    mode: TargetMode;
    targeted: boolean;
    /** Webhook sent to namespace Active. */
    nsSeconds: number;
    /** Webhook sent to job finished. */
    doneSeconds: number;
    /** The job's own duration (the `up`, from claim to end). */
    jobSeconds: number;
    /** Changes a full preview still finds right after (0: the update left nothing behind). */
    pendingAfter: number;
}

function seconds(ms: number): string {
    return (ms / 1000).toFixed(1);
}

async function engineBench(opts: WebhookBenchOptions): Promise<void> {
    const dir = tempDir();
    const manifestPath = path.join(dir, "tenants.yaml");
    const tag = Date.now().toString(36).slice(-4);
    fs.writeFileSync(manifestPath, benchManifest(opts.tenants, tag));
    fs.mkdirSync(path.join(dir, "state"));
    const { envVars } = localPulumiEnv(path.join(dir, "state"));
    const created: string[] = [];
    try {
        process.stdout.write(`prefill: full up of ${opts.tenants} tenants to stack ${opts.stack} (eu-west)...\n`);
        const prefill = new PulumiDeployer({ projectDir: PROJECT_DIR, manifestPath, stateDir: dir, envVars, targetMode: "never" });
        let t0 = Date.now();
        const first = await prefill.deploy({
            jobId: "prefill",
            region: "eu-west",
            stack: opts.stack,
            tenants: [],
            signal: new AbortController().signal,
            onOutput: () => undefined,
        });
        process.stdout.write(`prefill: ${seconds(Date.now() - t0)} s, ${JSON.stringify(first.changes)}\n`);
        t0 = Date.now();
        const noop = await prefill.preview(opts.stack);
        process.stdout.write(`full preview with nothing to do: ${seconds(Date.now() - t0)} s, ${JSON.stringify(noop)}\n`);

        const results: ReadyFigures[] = [];
        for (let round = 0; round < opts.repeat; round++) {
            for (const mode of ["existing", "never"] as TargetMode[]) {
                const id = `w${tag}new${mode === "never" ? "f" : "t"}${round}`;
                created.push(id);
                results.push(await onboard(opts, dir, manifestPath, envVars, mode, id, round));
                const r = results[results.length - 1];
                process.stdout.write(
                    `webhook -> namespace Active with ${opts.tenants} tenants in the region, ${r.targeted ? "targeted" : "full"} up: ${r.nsSeconds.toFixed(1)} s; ` +
                        `webhook -> job done ${r.doneSeconds.toFixed(1)} s (the up itself ${r.jobSeconds.toFixed(1)} s); full preview afterwards: ${r.pendingAfter} pending changes\n`,
                );
            }
        }
    } finally {
        if (!opts.keep) {
            // The temp backend goes away with the dir; the bench's namespaces are deleted directly.
            const ids = [...parseIds(manifestPath), ...created];
            for (const id of new Set(ids)) await kube(envVars.KUBECONFIG, "DELETE", `/api/v1/namespaces/${namespaceName(id)}`).catch(() => undefined);
            fs.rmSync(dir, { recursive: true, force: true });
        } else process.stdout.write(`kept: ${dir} (backend, manifest) and the namespaces\n`);
    }
}

/** The tenant ids of a manifest file; none when it does not exist. */
export function parseIds(manifestPath: string): string[] {
    if (!fs.existsSync(manifestPath)) return [];
    return ((parse(fs.readFileSync(manifestPath, "utf8")) as { tenants?: { id: string }[] }).tenants ?? []).map((t) => t.id);
}

async function onboard(
    opts: WebhookBenchOptions,
    dir: string,
    manifestPath: string,
    envVars: Record<string, string>,
    mode: TargetMode,
    id: string,
    round: number,
): Promise<ReadyFigures> {
    const deployer = new PulumiDeployer({ projectDir: PROJECT_DIR, manifestPath, stateDir: dir, envVars, targetMode: mode });
    const { nsSeconds, doneSeconds, job } = await onboardThroughService({
        deployer,
        manifestPath,
        storePath: path.join(dir, `service-${mode}-${round}.db`),
        stacks: { "eu-west": opts.stack },
        id,
        websiteId: 900_000 + round * 2 + (mode === "never" ? 1 : 0),
        kubeconfig: envVars.KUBECONFIG,
    });
    const pending = await deployer.preview(opts.stack);
    const pendingAfter = Object.entries(pending)
        .filter(([op]) => op !== "same")
        .reduce((sum, [, n]) => sum + n, 0);
    return {
        mode,
        targeted: job.targeted,
        nsSeconds,
        doneSeconds,
        jobSeconds: (Date.parse(job.finishedAt!) - Date.parse(job.startedAt!)) / 1000,
        pendingAfter,
    };
}

export interface OnboardOptions {
    readonly deployer: Deployer;
    /** The manifest the service edits (the region's). */
    readonly manifestPath: string;
    readonly storePath: string;
    /** Region to stack overrides, e.g. { "eu-west": "local" }. */
    readonly stacks: Readonly<Record<string, string>>;
    /** The region stack's shard count. Default: its settings file in this repository. */
    readonly shards?: (regionStack: string) => number;
    /** The new eu-west tenant. */
    readonly id: string;
    readonly websiteId: number;
    readonly kubeconfig: string;
}

/** The bench's webhook service, in this process on a loopback port: `post` signs and delivers one event. */
export interface BenchService {
    readonly svc: Service;
    readonly post: (event: unknown) => Promise<Response>;
}

/** Starts the webhook service for an engine bench (warn-level logs, one attempt per job); close `svc` when done. */
export async function startBenchService(o: {
    readonly deployer: Deployer;
    readonly manifestPath: string;
    readonly storePath: string;
    readonly stacks: Readonly<Record<string, string>>;
    readonly shards?: (regionStack: string) => number;
}): Promise<BenchService> {
    const svc = await createService({
        manifestPath: o.manifestPath,
        storePath: o.storePath,
        deployer: o.deployer,
        secrets: [SECRET],
        stacks: o.stacks,
        shards: o.shards,
        logger: pino({ level: "warn" }),
        runner: { maxAttempts: 1 },
    });
    try {
        await svc.app.listen({ host: "127.0.0.1", port: 0 });
    } catch (err) {
        await svc.close();
        throw err;
    }
    const address = svc.app.server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const post = (event: unknown) => {
        const body = JSON.stringify(event);
        return fetch(`http://127.0.0.1:${port}/webhooks/billing`, {
            method: "POST",
            body,
            headers: { "content-type": "application/json", "billing-signature": signatureHeader(SECRET, body) },
        });
    };
    return { svc, post };
}

/** The `subscription.created` of a new standard eu-west tenant `id`, event id `eventId`. */
export function benchOnboarding(eventId: string, id: string, websiteId: number) {
    return {
        id: eventId,
        type: "subscription.created",
        created: Math.floor(Date.now() / 1000),
        data: {
            tenantId: id,
            websiteId,
            name: id,
            domain: `client-${id}.collectverything.com`,
            tier: "standard",
            region: "eu-west",
            billingId: `sub_${id}`,
            costCenter: "CC-BENCH-001",
            department: "retail",
        },
    };
}

/**
 * One onboarding through the webhook service on the real engine: a signed
 * `subscription.created` for a new eu-west tenant, then the time until its
 * namespace is Active and until its job is done (the job must succeed). The
 * service runs in this process on loopback and is closed before returning.
 */
export async function onboardThroughService(o: OnboardOptions): Promise<{ nsSeconds: number; doneSeconds: number; job: JobRecord }> {
    const { svc, post } = await startBenchService(o);
    try {
        const id = o.id;
        const eventId = `evt_bench_ready_${id}`;
        const started = Date.now();
        const res = await post(benchOnboarding(eventId, id, o.websiteId));
        if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
        // The job's id: in the answer, or (when the service applies the event after answering) on the event's record once applied.
        let jobId = ((await res.json()) as { jobId?: string | null }).jobId ?? undefined;
        const job = async () => {
            jobId ??= (await svc.store.getEvent(eventId))?.jobId ?? undefined;
            return jobId === undefined ? undefined : svc.store.getJob(jobId);
        };
        const failed = (j: JobRecord | undefined) => j !== undefined && (j.state === "failed" || j.state === "cancelled");
        let nsSeconds = 0;
        for (;;) {
            const [status, ns] = await kube(o.kubeconfig, "GET", `/api/v1/namespaces/${namespaceName(id)}`);
            if (status === 200 && ns.status?.phase === "Active") {
                nsSeconds = (Date.now() - started) / 1000;
                break;
            }
            const j = await job();
            if (failed(j)) throw new Error(`job ${j!.state}: ${j!.error}\n${j!.logTail.join("\n")}`);
            if (Date.now() - started > 1_800_000) throw new Error("namespace not Active after 30 minutes");
            await new Promise((r) => setTimeout(r, 100));
        }
        for (;;) {
            const j = await job();
            if (j?.state === "succeeded") break;
            if (failed(j)) throw new Error(`job ${j!.state}: ${j!.error}\n${j!.logTail.join("\n")}`);
            if (Date.now() - started > 1_800_000) throw new Error("job not done after 30 minutes");
            await new Promise((r) => setTimeout(r, 100));
        }
        const doneSeconds = (Date.now() - started) / 1000;
        return { nsSeconds, doneSeconds, job: (await job())! };
    } finally {
        await svc.close();
    }
}
