/**
 * Crash safety of a region on the real engine (issue 9, README "Region
 * shards", "After a crash"): a 3-shard region on the local stack; while
 * `tenantctl up --region` updates all three shards, the pulumi process tree
 * of one shard's update (the CLI, its language host and program, the
 * Kubernetes provider) is killed with SIGKILL in the middle of its creates.
 * The other two shards finish unaffected; the killed one is left with its
 * lock and pending operations in the checkpoint. Running `tenantctl up
 * --region` again removes the stale lock (`pulumi cancel`), resolves the
 * pending creates (`pulumi refresh --import-pending-creates`) and completes
 * the shard. Then, for every stack and every tenant: no pending operation is
 * left, every URN is recorded once, each tenant holds its whole resource
 * tree, the Kubernetes objects Pulumi manages in each tenant namespace are
 * exactly the ones the state records (none orphaned, none missing, same
 * UIDs), the objects that existed before the rerun kept their UIDs, and a
 * region preview has nothing to do.
 *
 * Everything lives in a temp dir (backend, manifest, a copy of
 * Pulumi.local.yaml with 3 shards). The killed processes are descendants of
 * the `tenantctl` child this test started, found through /proc by pid.
 */
import { execFile, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { PulumiDeployer } from "../../core/deployer";
import { Region, tenantTrees, type StackOutcome, type StateResource } from "../../core/region";
import { withShardCount } from "../../cli/shardsLayout";
import { hashedShard } from "../../lib/shards";
import { HOOK_TIMEOUT_MS, REPO_ROOT, assertClusterFree, engineEnv, repoManifest } from "../support/engine";
import { KubeClient, paths, type KubeObject } from "../support/k8s";

jest.setTimeout(HOOK_TIMEOUT_MS);

/** One tenant per shard first: crash01 hashes to shard 0 of 3, crash03 to 1, crash02 to 2 (checked below). */
const FIRST = ["crash01", "crash03", "crash02"];
/** Added next: six into the shard whose update is killed (local-s01), one into each other shard. */
const VICTIM_NEW = ["crash06", "crash11", "crash16", "crash21", "crash22", "crash27"];
const OTHERS_NEW = ["crash04", "crash05"];
const ALL = [...FIRST, ...VICTIM_NEW, ...OTHERS_NEW];
/** Onboarded by the webhook service's deployer into local-s02 (shard 2 of 3) over a stale lock. */
const SERVICE_NEW = "crash09";
const VICTIM = "local-s01";
const STACKS = ["local", "local-s00", "local-s01", "local-s02"];
const ns = (id: string) => `e-commerce-client-${id}`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cv-engine-crash-"));
const backendDir = path.join(dir, "backend");
const settingsFile = path.join(dir, "Pulumi.local.yaml");
const manifestFile = path.join(dir, "tenants.yaml");
const kube = new KubeClient(path.join(REPO_ROOT, ".work", "kubeconfig"));
const figures: Record<string, number> = {};
let ownsCluster = false;

function tenantEntries(ids: readonly string[]): Record<string, unknown>[] {
    const shipped = (parseYaml(repoManifest()) as { tenants: Record<string, unknown>[] }).tenants;
    const base = shipped.find((t) => t.id === "nordic")!;
    return ids.map((id) => ({
        ...base,
        id,
        websiteId: 71_000 + Number(id.slice(-2)),
        name: `Shop ${id}`,
        domain: `client-${id}.collectverything.com`,
        customDomains: [],
        billingId: `sub_${id}`,
    }));
}

function newRegion(): Region {
    return new Region({ regionStack: "local", settingsFile, manifest: manifestFile, envVars: engineEnv(backendDir).envVars, workDir: path.join(dir, "work") });
}

interface Summary {
    succeeded: boolean;
    failed: string[];
    stacks: { stack: string; result: string; changes: Record<string, number>; error?: string; recovered?: string[] }[];
}

/** `./tenantctl up --region local --json` in a child process (this process's environment: the test's backend). */
function regionUp(): { child: ChildProcess; done: Promise<{ code: number; summary: Summary; stderr: string }> } {
    let child!: ChildProcess;
    const done = new Promise<{ code: number; summary: Summary; stderr: string }>((resolve, reject) => {
        child = execFile(
            path.join(REPO_ROOT, "tenantctl"),
            ["up", "--region", "local", "--manifest", manifestFile, "--config-file", settingsFile, "--parallel", "3", "--json"],
            { cwd: REPO_ROOT, env: { ...process.env, CI: "true", NO_COLOR: "1" }, maxBuffer: 64 * 1024 * 1024 },
            (err, stdout, stderr) => {
                try {
                    resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, summary: JSON.parse(stdout) as Summary, stderr });
                } catch (e) {
                    reject(new Error(`tenantctl up printed no JSON summary (${String(e)}):\n${stdout}\n${stderr}`));
                }
            },
        );
    });
    return { child, done };
}

/** A stack's checkpoint in the file backend (gzip-compressed when PULUMI_DIY_BACKEND_GZIP is on); undefined when there is none. */
function checkpoint(stack: string): { resources: StateResource[]; pending: { type: string; resource: { urn: string } }[] } | undefined {
    const base = path.join(backendDir, ".pulumi", "stacks", "tenant-platform", `${stack}.json`);
    let text: string;
    if (fs.existsSync(base)) text = fs.readFileSync(base, "utf8");
    else if (fs.existsSync(`${base}.gz`)) text = zlib.gunzipSync(fs.readFileSync(`${base}.gz`)).toString("utf8");
    else return undefined;
    const latest = (JSON.parse(text) as { checkpoint: { latest?: { resources?: StateResource[]; pending_operations?: never[] } } }).checkpoint.latest;
    return { resources: latest?.resources ?? [], pending: latest?.pending_operations ?? [] };
}

/** pid -> parent pid of every process, from /proc. */
function processTable(): Map<number, number> {
    const table = new Map<number, number>();
    for (const e of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(e)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
            table.set(Number(e), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
        } catch {
            // gone meanwhile
        }
    }
    return table;
}

function descendants(root: number, table: Map<number, number>): number[] {
    const out: number[] = [];
    const queue = [root];
    while (queue.length > 0) {
        const p = queue.shift()!;
        for (const [pid, ppid] of table) {
            if (ppid !== p) continue;
            out.push(pid);
            queue.push(pid);
        }
    }
    return out;
}

function argv(pid: number): string[] {
    try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
        return [];
    }
}

/** The `pulumi up` of `stack` below `root`, and every process below it. */
function updateTree(root: number, stack: string): number[] {
    const table = processTable();
    const cli = descendants(root, table).find((pid) => {
        const a = argv(pid);
        const i = a.indexOf("--stack");
        return path.basename(a[0] ?? "") === "pulumi" && a.includes("up") && i >= 0 && (a[i + 1] === stack || a[i + 1]?.endsWith(`/${stack}`));
    });
    return cli === undefined ? [] : [cli, ...descendants(cli, table)];
}

/** "group/version" of a Kubernetes resource type token: kubernetes:core/v1:ConfigMap -> v1. */
function apiVersionOf(type: string): { apiVersion: string; kind: string } {
    const [, gv, kind] = type.split(":");
    return { apiVersion: gv.startsWith("core/") ? gv.slice("core/".length) : gv, kind };
}

const plurals = new Map<string, Promise<Map<string, { name: string; namespaced: boolean }>>>();
/** The API's resources of an apiVersion by kind (discovery). */
function discovery(apiVersion: string) {
    let p = plurals.get(apiVersion);
    if (!p) {
        p = kube
            .get<{ resources: { name: string; kind: string; namespaced: boolean }[] }>(apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`)
            .then((d) => new Map(d.resources.filter((r) => !r.name.includes("/")).map((r) => [r.kind, { name: r.name, namespaced: r.namespaced }])));
        plurals.set(apiVersion, p);
    }
    return p;
}

async function listPath(type: string, namespace?: string): Promise<string> {
    const { apiVersion, kind } = apiVersionOf(type);
    const r = (await discovery(apiVersion)).get(kind);
    if (!r) throw new Error(`the API server has no kind ${kind} in ${apiVersion}`);
    const prefix = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    return r.namespaced && namespace ? `${prefix}/namespaces/${namespace}/${r.name}` : `${prefix}/${r.name}`;
}

/** Whether Pulumi wrote the object: a managedFields entry of the Kubernetes provider's field manager. */
function managedByPulumi(o: KubeObject): boolean {
    return ((o.metadata?.managedFields ?? []) as { manager?: string }[]).some((m) => (m.manager ?? "").startsWith("pulumi-kubernetes"));
}

/** `type id` -> uid of every Kubernetes object Pulumi manages in the tenants' namespaces (and the namespaces), for the given resource types. */
async function clusterObjects(ids: readonly string[], types: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const id of ids) {
        const n = await kube.find(paths.namespace(ns(id)));
        if (n) out.set(`kubernetes:core/v1:Namespace ${ns(id)}`, n.metadata.uid as string);
        for (const type of types) {
            if (type === "kubernetes:core/v1:Namespace") continue;
            if (!n) continue;
            for (const o of await kube.list(await listPath(type, ns(id)))) {
                if (managedByPulumi(o)) out.set(`${type} ${o.metadata.namespace}/${o.metadata.name}`, o.metadata.uid as string);
            }
        }
    }
    return out;
}

/** `type id` -> uid (from the outputs) of every Kubernetes resource of the tenants in a state. */
function stateObjects(resources: readonly StateResource[], ids: readonly string[]): Map<string, string | undefined> {
    const trees = tenantTrees(resources);
    const byUrn = new Map(resources.map((r) => [r.urn, r as StateResource & { id?: string; custom?: boolean }]));
    const out = new Map<string, string | undefined>();
    for (const id of ids) {
        for (const urn of trees.get(id) ?? []) {
            const r = byUrn.get(urn)!;
            if (!r.custom || !r.type.startsWith("kubernetes:")) continue;
            const uid = (r.outputs?.metadata as { uid?: unknown } | undefined)?.uid;
            out.set(`${r.type} ${r.id}`, typeof uid === "string" ? uid : undefined);
        }
    }
    return out;
}

function layout(): Map<string, string[]> {
    const m = new Map<string, string[]>(STACKS.map((s) => [s, []]));
    for (const id of ALL) m.get(`local-s0${hashedShard(id, 3)}`)!.push(id);
    return m;
}

function expectNothingToDo(outcomes: readonly StackOutcome[]): void {
    expect(outcomes.map((o) => [o.stack, o.result, o.error, o.changed])).toEqual(STACKS.map((s) => [s, "succeeded", undefined, {}]));
}

beforeAll(async () => {
    await assertClusterFree(kube, [...ALL, SERVICE_NEW].map(ns));
    ownsCluster = true;
    fs.mkdirSync(backendDir);
    fs.writeFileSync(settingsFile, withShardCount(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.local.yaml"), "utf8"), 3));
    fs.writeFileSync(manifestFile, stringifyYaml({ tenants: tenantEntries(FIRST) }));
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
    try {
        const destroyed = await newRegion().destroyAll();
        for (const d of destroyed) if (d.result === "failed") console.log(`destroy of ${d.stack} failed: ${d.error}`);
    } finally {
        if (ownsCluster) {
            for (const id of [...ALL, SERVICE_NEW]) await kube.request("DELETE", paths.namespace(ns(id)));
            for (const id of [...ALL, SERVICE_NEW]) await kube.waitGone(paths.namespace(ns(id)));
        }
        fs.rmSync(dir, { recursive: true, force: true });
        console.log(`figures (s): ${JSON.stringify(figures)}`);
    }
}, HOOK_TIMEOUT_MS);

test("the ids spread as the tests below assume (FNV-1a of the id, 3 shards)", () => {
    expect(FIRST.map((id) => hashedShard(id, 3))).toEqual([0, 1, 2]);
    expect(VICTIM_NEW.map((id) => hashedShard(id, 3))).toEqual([1, 1, 1, 1, 1, 1]);
    expect(OTHERS_NEW.map((id) => hashedShard(id, 3))).toEqual([0, 2]);
    expect(hashedShard(SERVICE_NEW, 3)).toBe(2);
});

let perTenant: number;
let killedPid: number;
let types: string[];
let treeSize: number;

test("first up of the 3-shard region with one tenant per shard", async () => {
    const r = newRegion();
    try {
        const started = Date.now();
        const outcomes = await r.run("up", { parallel: 3 });
        figures["first up"] = (Date.now() - started) / 1000;
        expect(outcomes.map((o) => [o.stack, o.result, o.error])).toEqual(STACKS.map((s) => [s, "succeeded", undefined]));
    } finally {
        r.close();
    }
    const s00 = checkpoint("local-s00")!;
    treeSize = tenantTrees(s00.resources).get("crash01")!.length;
    types = [...new Set(s00.resources.filter((x) => x.type.startsWith("kubernetes:")).map((x) => x.type))].sort();
    // 17 resources per tenant on the local stack (the Tenant component and what it holds).
    expect(treeSize).toBe(17);
    perTenant = stateObjects(s00.resources, ["crash01"]).size;
    expect(perTenant).toBeGreaterThan(0);
    // The cluster holds exactly what the states record.
    expect((await clusterObjects(FIRST, types)).size).toBe(3 * perTenant);
});

test("kill -9 of one shard's update mid-way: the other shards finish, the killed one is left locked with pending creates", async () => {
    fs.writeFileSync(manifestFile, stringifyYaml({ tenants: tenantEntries(ALL) }));
    const baseline = checkpoint(VICTIM)!.resources.length;
    const run = regionUp();
    const root = run.child.pid!;
    const started = Date.now();
    let tree: number[] = [];
    let killedAt: { resources: number; pending: number } | undefined;
    let exited = false;
    void run.done.finally(() => (exited = true));
    // Poll the shard's checkpoint; the moment its update has recorded some of the new resources and has creates in flight, kill its whole process tree at once.
    while (!killedAt && !exited && Date.now() - started < 300_000) {
        tree = tree.length > 0 && tree.every((p) => fs.existsSync(`/proc/${p}`)) ? tree : updateTree(root, VICTIM);
        let cp: ReturnType<typeof checkpoint>;
        try {
            cp = tree.length > 0 ? checkpoint(VICTIM) : undefined;
        } catch {
            cp = undefined; // read while the backend replaced it: the next poll reads the new one
        }
        if (cp && cp.resources.length >= baseline + 10 && cp.pending.length >= 2) {
            const full = [...new Set([...tree, ...updateTree(root, VICTIM)])];
            for (const pid of full) {
                try {
                    process.kill(pid, "SIGKILL");
                } catch {
                    // already gone
                }
            }
            killedAt = { resources: cp.resources.length, pending: cp.pending.length };
            killedPid = tree[0];
            figures["killed after"] = (Date.now() - started) / 1000;
            console.log(`killed ${full.length} processes (pulumi up pid ${killedPid}) at ${cp.resources.length} resources, ${cp.pending.length} pending`);
        }
        await new Promise((r) => setTimeout(r, 10));
    }
    expect(killedAt).toBeDefined();
    const result = await run.done;
    figures["region up with a killed shard"] = (Date.now() - started) / 1000;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`tenantctl up: 1 of 4 stack(s) failed: ${VICTIM}\n`);
    expect(result.summary.stacks.map((s) => [s.stack, s.result])).toEqual([
        ["local", "succeeded"],
        ["local-s00", "succeeded"],
        [VICTIM, "failed"],
        ["local-s02", "succeeded"],
    ]);
    // Each other shard created exactly its new tenant's 17 resources (the same count as the first tenant's tree).
    expect([result.summary.stacks[1].changes.create, result.summary.stacks[3].changes.create]).toEqual([treeSize, treeSize]);
    for (const id of OTHERS_NEW) expect((await kube.get(paths.namespace(ns(id)))).status.phase).toBe("Active");

    // What the kill left: the lock of the killed CLI, and pending operations in the shard's checkpoint.
    const lockDir = path.join(backendDir, ".pulumi", "locks", "organization", "tenant-platform", VICTIM);
    const locks = fs.readdirSync(lockDir).filter((f) => f.endsWith(".json"));
    expect(locks.map((f) => (JSON.parse(fs.readFileSync(path.join(lockDir, f), "utf8")) as { pid: number }).pid)).toEqual([killedPid]);
    const left = checkpoint(VICTIM)!;
    expect(left.pending.length).toBeGreaterThan(0);
    expect(left.pending.every((p) => p.type === "creating")).toBe(true);
    expect(updateTree(root, VICTIM)).toEqual([]);
});

test("tenantctl up --region again: the stale lock is removed, the pending creates imported, the shard completed; nothing duplicated, orphaned or recreated", async () => {
    const untouched = await clusterObjects([...FIRST, ...OTHERS_NEW], types);
    const victimBefore = await clusterObjects(VICTIM_NEW, types);
    const pendingBefore = checkpoint(VICTIM)!.pending.length;
    const started = Date.now();
    const result = await regionUp().done;
    figures["region up after the crash"] = (Date.now() - started) / 1000;
    expect(result.code).toBe(0);
    expect(result.summary.stacks.map((s) => [s.stack, s.result, s.error])).toEqual(STACKS.map((s) => [s, "succeeded", undefined]));
    const victim = result.summary.stacks[2];
    expect(victim.recovered?.[0]).toMatch(
        new RegExp(`^removed the lock of pid ${killedPid} on ${os.hostname()} \\(since \\S+\\), a process that no longer runs, with pulumi cancel$`),
    );
    // The pending creates: the Kubernetes ones imported by ID (an object the API server had made is adopted, a missing one dropped
    // by the refresh and created by the update); a pending component (no provider ID) cleared.
    const repairs = victim.recovered?.slice(1) ?? [];
    expect(repairs.length).toBeGreaterThan(0);
    for (const line of repairs)
        expect(line).toMatch(
            /^(imported \d+ pending create\(s\): \S.*|cleared \d+ pending create\(s\) without a known ID \(created again by the update\): \S.*) \(pulumi refresh\)$/,
        );
    console.log(`recovered (${pendingBefore} pending before): ${JSON.stringify(victim.recovered)}`);
    for (const s of [0, 1, 3]) {
        expect(result.summary.stacks[s].recovered).toBeUndefined();
        expect(Object.keys(result.summary.stacks[s].changes)).toEqual(["same"]);
    }

    const expected = layout();
    for (const stack of STACKS) {
        const cp = checkpoint(stack)!;
        expect({ stack, pending: cp.pending }).toEqual({ stack, pending: [] });
        const urns = cp.resources.map((r) => r.urn);
        expect({ stack, duplicates: urns.filter((u, i) => urns.indexOf(u) !== i) }).toEqual({ stack, duplicates: [] });
        const trees = tenantTrees(cp.resources);
        expect({ stack, tenants: [...trees.keys()].sort() }).toEqual({ stack, tenants: [...expected.get(stack)!].sort() });
        for (const [id, tree] of trees) expect({ id, size: tree.length }).toEqual({ id, size: treeSize });
        // The cluster holds exactly the objects the state records, with the recorded UIDs.
        const ids = expected.get(stack)!;
        const recorded = stateObjects(cp.resources, ids);
        const live = await clusterObjects(ids, types);
        expect({ stack, objects: [...live.keys()].sort() }).toEqual({ stack, objects: [...recorded.keys()].sort() });
        for (const [key, uid] of recorded) if (uid !== undefined) expect({ key, uid: live.get(key) }).toEqual({ key, uid });
    }
    for (const id of ALL) expect((await kube.get(paths.namespace(ns(id)))).status.phase).toBe("Active");
    // Nothing that existed before the rerun was recreated: the untouched tenants' objects and what the killed update had made.
    const after = await clusterObjects(ALL, types);
    for (const [key, uid] of [...untouched, ...victimBefore]) expect({ key, uid: after.get(key) }).toEqual({ key, uid });
    expect(after.size).toBe(ALL.length * perTenant);

    const r = newRegion();
    try {
        expectNothingToDo(await r.run("preview", { parallel: 3 }));
    } finally {
        r.close();
    }
    expect(fs.readdirSync(REPO_ROOT).filter((f) => /^Pulumi\.local-s\d\d\.yaml$/.test(f))).toEqual([]);
});

test("the webhook service's deployer removes a stale lock the same way: an onboarding into a shard a killed replica left locked", async () => {
    // The lock a killed update leaves, as the DIY backend writes it, of a process of this host that has exited.
    const dead = spawnSync("true").pid;
    expect(dead).toBeGreaterThan(0);
    const lockDir = path.join(backendDir, ".pulumi", "locks", "organization", "tenant-platform", "local-s02");
    fs.mkdirSync(lockDir, { recursive: true });
    fs.writeFileSync(
        path.join(lockDir, "6f1c9a52-2d0b-4b8e-9a7e-3c1d2e4f5a6b.json"),
        JSON.stringify({ pid: dead, username: os.userInfo().username, hostname: os.hostname(), timestamp: new Date().toISOString() }),
    );
    fs.writeFileSync(manifestFile, stringifyYaml({ tenants: tenantEntries([...ALL, SERVICE_NEW]) }));
    const deployer = new PulumiDeployer({
        projectDir: REPO_ROOT,
        manifestPath: manifestFile,
        stateDir: path.join(dir, "service"),
        envVars: engineEnv(backendDir).envVars,
        settingsFile,
        targetMode: "existing",
    });
    const lines: string[] = [];
    const started = Date.now();
    const result = await deployer.deploy({
        jobId: "crash-service",
        region: "eu-west",
        stack: "local-s02",
        tenants: [SERVICE_NEW],
        signal: new AbortController().signal,
        onOutput: (l) => lines.push(l),
    });
    figures["service onboarding over a stale lock"] = (Date.now() - started) / 1000;
    expect(lines.filter((l) => l.startsWith("recovered: "))).toEqual([
        expect.stringMatching(
            new RegExp(`^recovered: removed the lock of pid ${dead} on ${os.hostname()} \\(since \\S+\\), a process that no longer runs, with pulumi cancel$`),
        ),
    ]);
    // The targeted update of the new tenant: its 17 resources, nothing else.
    expect({ targeted: result.targeted, create: result.changes.create }).toEqual({ targeted: true, create: treeSize });
    expect(fs.readdirSync(lockDir).filter((f) => f.endsWith(".json"))).toEqual([]);
    expect((await kube.get(paths.namespace(ns(SERVICE_NEW)))).status.phase).toBe("Active");
    expect(checkpoint("local-s02")!.pending).toEqual([]);
});
