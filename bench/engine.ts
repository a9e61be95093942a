/**
 * `tenantctl bench-engine`: a region on the real engine, one shard and K
 * shards side by side (issue 9, README "Region shards"). On the local stack
 * (Kubernetes resources only) with a temp file:// backend, for each size N
 * and shard count K:
 *  1. the first deploy of the whole region from empty: `Region.run("up")`
 *     (core/region.ts, what `tenantctl up --region` runs: the region stack,
 *     then the shards `parallel` at a time);
 *  2. a region preview with nothing to do (it must find nothing);
 *  3. the onboarding of one more tenant through the webhook service to its
 *     namespace Active (bench/webhooks.ts's onboardThroughService: the
 *     service queues the job on the tenant's shard stack and deploys only
 *     that stack, targeted);
 *  4. the largest stack's state file;
 *  5. the CPU seconds of the pulumi processes over the run: the CLI, its
 *     language host with the program, and the Kubernetes provider, i.e. every
 *     child process this one reaped (cutime + cstime of /proc/self/stat).
 * One CSV row per run on stdout, progress on stderr. Each run's namespaces
 * are deleted directly afterwards (the backend goes with the temp dir), and
 * the next run waits until they are gone.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseDocument } from "yaml";
import { PulumiDeployer } from "../core/deployer";
import { effectiveSettings, withEngineSettings } from "../core/engineSettings";
import { localPulumiEnv } from "../core/localEnv";
import { PROJECT_DIR } from "../core/project";
import { Region, type StackOutcome, type StackProgress } from "../core/region";
import { namespaceName } from "../lib/naming";
import { shardOf } from "../lib/shards";
import { CONFIG_NAMESPACE } from "../stacks/config";
import { benchManifest, benchOnboarding, kube, onboardThroughService, parseIds, startBenchService } from "./webhooks";

/** The CSV columns: the issue's seven, then the pulumi processes' CPU seconds. */
export const CSV_HEADER = "tenants,shards,resources,first_up_s,noop_preview_s,onboard_active_s,largest_state_mb,pulumi_cpu_s";

/** Engine settings that change the figures; the bench prints the ones in effect. */
export const MEASURED_SETTINGS = [
    "PULUMI_PARALLEL_DIFF",
    "PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS",
    "PULUMI_DIY_BACKEND_GZIP",
    "PULUMI_DIY_BACKEND_ZSTD",
    "PULUMI_DIY_BACKEND_PARALLEL",
    "PULUMI_SKIP_CHECKPOINTS",
    "PULUMI_K8S_CLIENT_QPS",
    "PULUMI_K8S_CLIENT_BURST",
] as const;

export interface EngineBenchOptions {
    /** Region sizes, in tenants. */
    readonly tenants: readonly number[];
    /** Shard counts; every size runs with each. */
    readonly shards: readonly number[];
    /** Stacks at a time in the first up and the preview. Default: the CPU count. */
    readonly parallel?: number;
    /** Keep each run's temp dir and namespaces. */
    readonly keep?: boolean;
    /** `pulumi up|preview --parallel`: resource operations at a time within one stack. Default: the CLI's (4 x the CPU count). */
    readonly engineParallel?: number;
    /** After the single onboarding, this many onboardings sent at once through the webhook service (0: none). */
    readonly concurrentOnboardings?: number;
    /**
     * Resume an interrupted run from its kept temp dir (backend, settings, manifest): the first up runs only the
     * stacks that do not hold all their tenants yet (with the crash repair of a killed update), then the run goes on.
     */
    readonly resume?: string;
    /** Seconds the interrupted first up had already run, added to the resumed one's. */
    readonly resumeElapsed?: number;
    /** CSV lines (stdout). */
    readonly out?: (line: string) => void;
    /** Progress lines (stderr). */
    readonly progress?: (line: string) => void;
}

export interface EngineBenchRow {
    readonly tenants: number;
    readonly shards: number;
    /** Resources of every stack of the region after the first up. */
    readonly resources: number;
    readonly firstUpSeconds: number;
    readonly noopPreviewSeconds: number;
    /** Webhook sent to namespace Active. */
    readonly onboardActiveSeconds: number;
    /** The largest stack's checkpoint file, in MB (10^6 bytes). */
    readonly largestStateMb: number;
    readonly pulumiCpuSeconds: number;
    /** The first up's share of the CPU seconds. */
    readonly firstUpCpuSeconds: number;
    /** The stack the onboarded tenant went to. */
    readonly onboardStack: string;
    /** The concurrent onboardings: how many, all sent to every namespace Active, to every job done. */
    readonly concurrent?: { readonly count: number; readonly allActiveSeconds: number; readonly allDoneSeconds: number; readonly jobs: number };
}

/** One CSV line of a run, in CSV_HEADER's order. */
export function csvRow(r: EngineBenchRow): string {
    return [
        r.tenants,
        r.shards,
        r.resources,
        r.firstUpSeconds.toFixed(1),
        r.noopPreviewSeconds.toFixed(1),
        r.onboardActiveSeconds.toFixed(1),
        r.largestStateMb.toFixed(2),
        r.pulumiCpuSeconds.toFixed(1),
    ].join(",");
}

/**
 * The CPU seconds (user + system) of every child process this process has
 * reaped, and of theirs that they reaped: fields 16 and 17 of
 * /proc/self/stat, in clock ticks (USER_HZ, 100 on Linux).
 */
export function reapedChildrenCpuSeconds(stat = fs.readFileSync("/proc/self/stat", "utf8")): number {
    // The command name (field 2) may hold spaces: count from its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state): cutime is field 16, cstime field 17.
    return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** The largest checkpoint file under a file:// backend's stacks directory (backups and history excluded), in bytes. */
export function largestStateBytes(backendDir: string): { file: string; bytes: number } {
    let best = { file: "", bytes: 0 };
    const walk = (dir: string) => {
        if (!fs.existsSync(dir)) return;
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
            const p = path.join(dir, e.name);
            if (e.isDirectory()) walk(p);
            else if (/\.json(\.gz|\.zst)?$/.test(e.name)) {
                const bytes = fs.statSync(p).size;
                if (bytes > best.bytes) best = { file: p, bytes };
            }
        }
    };
    walk(path.join(backendDir, ".pulumi", "stacks"));
    return best;
}

/** The repository's local stack settings with `tenant-platform:shards` set: the bench region's file. */
export function settingsWithShards(text: string, shards: number): string {
    const doc = parseDocument(text);
    doc.setIn(["config", `${CONFIG_NAMESPACE}:shards`], shards);
    return doc.toString();
}

function failures(outcomes: readonly StackOutcome[]): string {
    return outcomes
        .filter((o) => o.result === "failed")
        .map((o) => `${o.stack}: ${o.error ?? "failed"}`)
        .join("\n");
}

/** Progress of a region run as stderr lines: every state change, and a running stack at most every 15 s. */
function progressPrinter(label: string, print: (line: string) => void): (p: StackProgress) => void {
    const last = new Map<string, { state: string; at: number }>();
    return (p) => {
        const prev = last.get(p.stack);
        if (prev && prev.state === p.state && Date.now() - prev.at < 15_000) return;
        last.set(p.stack, { state: p.state, at: Date.now() });
        print(`  ${label} ${p.stack}: ${p.state}, ${p.done}${p.total !== undefined && p.total >= p.done ? `/${p.total}` : ""} resources`);
    };
}

async function waitNamespacesGone(kubeconfig: string, ids: readonly string[], timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let left = [...ids];
    while (left.length > 0 && Date.now() < deadline) {
        const still: string[] = [];
        for (const id of left) if ((await kube(kubeconfig, "GET", `/api/v1/namespaces/${namespaceName(id)}`))[0] !== 404) still.push(id);
        left = still;
        if (left.length > 0) await new Promise((r) => setTimeout(r, 2000));
    }
    return left.length;
}

/** One run: N tenants over K shards. */
export async function benchOne(tenants: number, shards: number, opts: Omit<EngineBenchOptions, "tenants" | "shards"> = {}): Promise<EngineBenchRow> {
    const print = opts.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
    const dir = opts.resume ?? fs.mkdtempSync(path.join(os.tmpdir(), "cv-bench-engine-"));
    const backendDir = path.join(dir, "backend");
    const settingsFile = path.join(dir, "Pulumi.local.yaml");
    const manifestPath = path.join(dir, "tenants.yaml");
    // A tag of its own per run: the cluster is shared, and an earlier run's namespaces may still be terminating.
    let tag = Date.now().toString(36).slice(-4);
    if (opts.resume) {
        const first = parseIds(manifestPath)[0];
        if (!first || !/^w.{4}\d{6}$/.test(first)) throw new Error(`${manifestPath} is not a bench-engine manifest`);
        tag = first.slice(1, 5);
    } else {
        fs.mkdirSync(backendDir);
        fs.writeFileSync(settingsFile, settingsWithShards(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.local.yaml"), "utf8"), shards));
        fs.writeFileSync(manifestPath, benchManifest(tenants, tag));
    }
    const newId = `w${tag}new`;
    const { envVars, kubeconfig } = localPulumiEnv(backendDir);
    const region = new Region({ regionStack: "local", settingsFile, manifest: manifestPath, envVars, workDir: path.join(dir, "work") });
    const parallel = opts.parallel ?? os.availableParallelism();
    const concurrentIds: string[] = [];
    try {
        const cpuStart = reapedChildrenCpuSeconds();
        // Other work on the machine slows every figure: the load average says how much there was.
        print(
            `[${tenants} tenants, ${shards} shard(s)] first up of ${region.stacks().join(", ")}, ${parallel} at a time; load average ${os.loadavg()[0].toFixed(1)}`,
        );
        let t0 = Date.now();
        const engineParallel = opts.engineParallel;
        let todo = region.stacks();
        if (opts.resume) {
            // A stack is done when its last completed update declared every tenant of its shard (and the region stack when it has state).
            const layout = new Map<string, string[]>();
            for (const t of region.tenants()) {
                const st = shards === 1 ? region.regionStack : region.stacks()[1 + shardOf(t, shards)];
                layout.set(st, [...(layout.get(st) ?? []), t.id]);
            }
            const done: string[] = [];
            for (const st of todo) {
                const held = await region.completedTenants(st);
                if (held !== undefined && (layout.get(st) ?? []).every((id) => held.includes(id))) done.push(st);
            }
            todo = todo.filter((st) => !done.includes(st));
            print(`  resuming ${dir}: ${todo.length} stack(s) to deploy: ${todo.join(", ")}`);
        }
        let up = await region.run("up", { parallel, engineParallel, stacks: todo, onProgress: progressPrinter("up", print) });
        const failedUp = up.filter((o) => o.result === "failed");
        if (failedUp.length > 0) {
            // One retry of the failed stacks, their errors printed: a 2-core machine shared with other work has transient failures.
            print(`  ${failedUp.length} stack(s) failed, retrying once:\n${failures(up)}`);
            const again = await region.run("up", { parallel, engineParallel, stacks: failedUp.map((o) => o.stack), onProgress: progressPrinter("up", print) });
            up = up.map((o) => again.find((a) => a.stack === o.stack) ?? o);
        }
        const firstUpSeconds = (Date.now() - t0) / 1000 + (opts.resumeElapsed ?? 0);
        const firstUpCpuSeconds = reapedChildrenCpuSeconds() - cpuStart;
        if (up.some((o) => o.result === "failed")) throw new Error(`the first up failed:\n${failures(up)}`);
        for (const o of up) if (o.recovered.length > 0) print(`  ${o.stack} recovered: ${o.recovered.join("; ")}`);
        const resources = [...(await region.existingStacks()).values()].reduce<number>((n, c) => n + (c ?? 0), 0);
        print(`  first up: ${firstUpSeconds.toFixed(1)} s, ${resources} resources, ${firstUpCpuSeconds.toFixed(1)} CPU s`);

        t0 = Date.now();
        const cpuPreview = reapedChildrenCpuSeconds();
        const preview = await region.run("preview", { parallel, engineParallel, onProgress: progressPrinter("preview", print) });
        const noopPreviewSeconds = (Date.now() - t0) / 1000;
        const previewCpuSeconds = reapedChildrenCpuSeconds() - cpuPreview;
        if (preview.some((o) => o.result === "failed")) throw new Error(`the preview failed:\n${failures(preview)}`);
        const pending = preview.flatMap((o) => Object.entries(o.changed).map(([urn, ops]) => `${o.stack}: ${ops.join(",")} ${urn}`));
        if (pending.length > 0) throw new Error(`the preview after the first up is not empty:\n${pending.slice(0, 10).join("\n")}`);
        print(`  no-op preview: ${noopPreviewSeconds.toFixed(1)} s, ${previewCpuSeconds.toFixed(1)} CPU s`);
        const cpuOnboard = reapedChildrenCpuSeconds();

        const deployer = new PulumiDeployer({
            projectDir: PROJECT_DIR,
            manifestPath,
            stateDir: path.join(dir, "service"),
            envVars,
            settingsFile,
            targetMode: "existing",
        });
        const onboarded = await onboardThroughService({
            deployer,
            manifestPath,
            storePath: path.join(dir, "service.db"),
            stacks: { "eu-west": "local" },
            shards: () => shards,
            id: newId,
            websiteId: 990_000,
            kubeconfig,
        });
        const onboardCpuSeconds = reapedChildrenCpuSeconds() - cpuOnboard;
        let concurrent: EngineBenchRow["concurrent"];
        if ((opts.concurrentOnboardings ?? 0) > 0) {
            const ids = Array.from({ length: opts.concurrentOnboardings! }, (_, i) => `w${tag}c${String(i).padStart(3, "0")}`);
            concurrentIds.push(...ids);
            print(`  ${ids.length} onboardings at once through the webhook service (one queue per shard stack, ${os.availableParallelism()} jobs at a time)`);
            const cpu = reapedChildrenCpuSeconds();
            concurrent = await onboardManyThroughService({
                deployer,
                manifestPath,
                storePath: path.join(dir, "service-many.db"),
                shards,
                ids,
                kubeconfig,
                print,
            });
            print(
                `  ${ids.length} concurrent onboardings: every namespace Active after ${concurrent.allActiveSeconds.toFixed(1)} s, every job done after ${concurrent.allDoneSeconds.toFixed(1)} s, ${concurrent.jobs} job(s), ${(reapedChildrenCpuSeconds() - cpu).toFixed(1)} CPU s`,
            );
        }
        const largest = largestStateBytes(backendDir);
        const pulumiCpuSeconds = reapedChildrenCpuSeconds() - cpuStart;
        print(
            `  onboarding ${newId} into ${onboarded.job.stack} (${onboarded.job.targeted ? "targeted" : "full"} up): namespace Active after ${onboarded.nsSeconds.toFixed(1)} s, job done after ${onboarded.doneSeconds.toFixed(1)} s, ${onboardCpuSeconds.toFixed(1)} CPU s`,
        );
        print(
            `  largest state: ${path.basename(largest.file)} ${(largest.bytes / 1e6).toFixed(2)} MB; pulumi processes: ${pulumiCpuSeconds.toFixed(1)} CPU s; load average ${os.loadavg()[0].toFixed(1)}`,
        );
        return {
            tenants,
            shards,
            resources,
            firstUpSeconds,
            noopPreviewSeconds,
            onboardActiveSeconds: onboarded.nsSeconds,
            largestStateMb: largest.bytes / 1e6,
            pulumiCpuSeconds,
            firstUpCpuSeconds,
            onboardStack: onboarded.job.stack,
            concurrent,
        };
    } finally {
        region.close();
        if (opts.keep) print(`  kept ${dir} and the namespaces`);
        else {
            const ids = [...new Set([...parseIds(manifestPath), newId, ...concurrentIds])];
            for (const id of ids) await kube(kubeconfig, "DELETE", `/api/v1/namespaces/${namespaceName(id)}`).catch(() => undefined);
            fs.rmSync(dir, { recursive: true, force: true });
            // The next run starts on a quiet cluster: the namespace controller's deletions are not part of its figures.
            const left = await waitNamespacesGone(kubeconfig, ids, 600_000);
            if (left > 0) print(`  ${left} namespace(s) of this run are still terminating`);
        }
    }
}

/** Every run of the bench: each size with each shard count, one CSV row each. */
export async function runEngineBench(opts: EngineBenchOptions): Promise<EngineBenchRow[]> {
    const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
    const print = opts.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
    // What the region runner and the deployer run with: the platform's settings (core/engineSettings.ts) under this environment's.
    const set = effectiveSettings(withEngineSettings(), MEASURED_SETTINGS);
    print(
        `bench-engine: local stack, temp file backend, ${os.availableParallelism()} CPUs, parallel ${opts.parallel ?? os.availableParallelism()}; engine settings: ${[...set, ...(opts.engineParallel !== undefined ? [`--parallel ${opts.engineParallel}`] : [])].join(" ") || "defaults"}`,
    );
    out(CSV_HEADER);
    const rows: EngineBenchRow[] = [];
    for (const n of opts.tenants) {
        for (const k of opts.shards) {
            const row = await benchOne(n, k, { ...opts, progress: print });
            rows.push(row);
            out(csvRow(row));
            if (row.concurrent)
                print(
                    `concurrent onboardings: ${row.concurrent.count}, all namespaces Active ${row.concurrent.allActiveSeconds.toFixed(1)} s, all jobs done ${row.concurrent.allDoneSeconds.toFixed(1)} s`,
                );
        }
    }
    return rows;
}

/**
 * `count` onboardings sent at once through the webhook service on the real
 * engine (signed `subscription.created` events, all posted together): the
 * time until every new namespace is Active and until every job is done.
 * The service queues each on its tenant's shard stack (one queue per stack,
 * at most the CPU count of jobs at a time; queued events of one stack share
 * a job). Every job must succeed.
 */
export async function onboardManyThroughService(o: {
    readonly deployer: PulumiDeployer;
    readonly manifestPath: string;
    readonly storePath: string;
    readonly shards: number;
    readonly ids: readonly string[];
    readonly kubeconfig: string;
    readonly print: (line: string) => void;
}): Promise<{ count: number; allActiveSeconds: number; allDoneSeconds: number; jobs: number }> {
    const { svc, post } = await startBenchService({ ...o, stacks: { "eu-west": "local" }, shards: () => o.shards });
    try {
        const started = Date.now();
        const answers = await Promise.all(
            o.ids.map(async (id, i) => {
                const res = await post(benchOnboarding(`evt_bench_many_${id}`, id, 980_000 + i));
                return { id, status: res.status, text: await res.text() };
            }),
        );
        const refused = answers.filter((a) => a.status !== 202);
        if (refused.length > 0) throw new Error(`${refused.length} webhook(s) refused, e.g. ${refused[0].id}: ${refused[0].status} ${refused[0].text}`);
        const jobIds = async () => {
            const out = new Set<string>();
            for (const id of o.ids) {
                const e = await svc.store.getEvent(`evt_bench_many_${id}`);
                if (e?.jobId) out.add(e.jobId);
            }
            return out;
        };
        const names = new Set(o.ids.map((id) => namespaceName(id)));
        let allActiveSeconds = 0;
        let lastReport = 0;
        for (;;) {
            const [, list] = (await kube(o.kubeconfig, "GET", "/api/v1/namespaces")) as unknown as [
                number,
                { items?: { metadata: { name: string }; status?: { phase?: string } }[] },
            ];
            const active = (list.items ?? []).filter((n) => names.has(n.metadata.name) && n.status?.phase === "Active").length;
            if (active === names.size) {
                allActiveSeconds = (Date.now() - started) / 1000;
                break;
            }
            for (const jobId of await jobIds()) {
                const j = await svc.store.getJob(jobId);
                if (j && (j.state === "failed" || j.state === "cancelled")) throw new Error(`job ${jobId} (${j.stack}) ${j.state}: ${j.error}`);
            }
            if (Date.now() - lastReport > 30_000) {
                lastReport = Date.now();
                o.print(`    ${active}/${names.size} namespaces Active after ${((Date.now() - started) / 1000).toFixed(0)} s`);
            }
            if (Date.now() - started > 3_600_000) throw new Error(`only ${active} of ${names.size} namespaces Active after an hour`);
            await new Promise((r) => setTimeout(r, 500));
        }
        let jobs = 0;
        for (;;) {
            const ids = await jobIds();
            const states = await Promise.all([...ids].map(async (id) => (await svc.store.getJob(id))?.state));
            if (states.some((st) => st === "failed" || st === "cancelled")) throw new Error(`a job failed: ${JSON.stringify(states)}`);
            if (ids.size > 0 && states.every((st) => st === "succeeded")) {
                jobs = ids.size;
                break;
            }
            if (Date.now() - started > 3_600_000) throw new Error("the jobs were not done after an hour");
            await new Promise((r) => setTimeout(r, 500));
        }
        return { count: o.ids.length, allActiveSeconds, allDoneSeconds: (Date.now() - started) / 1000, jobs };
    } finally {
        await svc.close();
    }
}
