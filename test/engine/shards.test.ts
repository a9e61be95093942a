/**
 * Region shards on the real engine (core/region.ts, `tenantctl up|reshard`):
 * a 12-tenant region on the local stack goes 1 -> 3 -> 2 shards with
 * reshard; after each step every stack of the region previews with nothing to
 * do and no Kubernetes object was recreated (same UIDs). Then the webhook
 * service onboards two tenants of different shards at once (the two updates
 * overlap), and `tenantctl up --region --json` in which one shard fails (its
 * new tenant's namespace is refused by a ValidatingAdmissionPolicy) finishes
 * the other shards and exits 1 naming it. Last, the first `up` of the same
 * region with 3 shards from empty.
 *
 * Everything lives in a temp dir: the backend, the manifest, and a copy of
 * Pulumi.local.yaml as the region's settings file (reshard writes the shard
 * count there and the pins into the manifest). Nothing is written into the
 * repository, which the last test checks.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import pino from "pino";
import { PulumiDeployer } from "../../core/deployer";
import { Region, type StackOutcome } from "../../core/region";
import { shardCounts } from "../../service/queue";
import { createService } from "../../service/service";
import { SECRET, createdEvent, post } from "../support/service";
import { withPins, withShardCount } from "../../cli/shardsLayout";
import { hashedShard } from "../../lib/shards";
import { HOOK_TIMEOUT_MS, REPO_ROOT, assertClusterFree, engineEnv, repoManifest } from "../support/engine";
import { KubeClient, paths } from "../support/k8s";

jest.setTimeout(HOOK_TIMEOUT_MS);

const IDS = Array.from({ length: 12 }, (_, i) => `shop${String(i + 1).padStart(2, "0")}`);
/** Added for the failing-shard test: new01 hashes to shard 0 of 2, new02 to shard 1 (stated literally, checked below). */
const NEW_OK = "new01";
const NEW_DENIED = "new02";
const SHARED = "e-commerce-shared";
const ns = (id: string) => `e-commerce-client-${id}`;
/** Onboarded through the webhook service at the same time: hook01 hashes to shard 1 of 2, hook02 to shard 0. */
const HOOKS = ["hook01", "hook02"];
const NAMESPACES = [...IDS, NEW_OK, NEW_DENIED, ...HOOKS].map(ns);
const POLICY = "cv-shards-test-deny";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cv-engine-shards-"));
const backendDir = path.join(dir, "backend");
const settingsFile = path.join(dir, "Pulumi.local.yaml");
const manifestFile = path.join(dir, "tenants.yaml");
const kube = new KubeClient(path.join(REPO_ROOT, ".work", "kubeconfig"));
const figures: Record<string, number> = {};
let region: Region;
let ownsCluster = false;

/** Small eu-west tenants in the shipped manifest's shape: standard tier, no custom domains. */
function tenantEntries(ids: readonly string[], firstWebsite = 0): Record<string, unknown>[] {
    const shipped = (parseYaml(repoManifest()) as { tenants: Record<string, unknown>[] }).tenants;
    const base = shipped.find((t) => t.id === "nordic")!;
    return ids.map((id, i) => ({
        ...base,
        id,
        websiteId: 70_000 + firstWebsite + i,
        name: `Shop ${id}`,
        domain: `client-${id}.collectverything.com`,
        customDomains: [],
        billingId: `sub_${id}`,
    }));
}

/** The manifest with the given ids added, keeping what reshard wrote (the pins). */
function addTenants(ids: readonly string[]): void {
    const doc = parseYaml(fs.readFileSync(manifestFile, "utf8")) as { tenants: Record<string, unknown>[] };
    // Website ids after the region's 12: the manifest refuses a duplicate.
    doc.tenants.push(...tenantEntries(ids, 100));
    fs.writeFileSync(manifestFile, stringifyYaml(doc));
}

/** ./tenantctl in a child process, with this process's environment (engineEnv applied it: the test's backend). */
function tenantctl(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        execFile(
            path.join(REPO_ROOT, "tenantctl"),
            [...args],
            { cwd: REPO_ROOT, env: { ...process.env, CI: "true", NO_COLOR: "1" }, maxBuffer: 64 * 1024 * 1024 },
            (err, stdout, stderr) => {
                resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
            },
        );
    });
}

function newRegion(): Region {
    return new Region({ regionStack: "local", settingsFile, manifest: manifestFile, envVars: engineEnv(backendDir).envVars, workDir: path.join(dir, "work") });
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
    const started = Date.now();
    const result = await fn();
    figures[label] = (Date.now() - started) / 1000;
    console.log(`${label}: ${figures[label].toFixed(1)} s`);
    return result;
}

async function namespaceUids(ids: readonly string[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const id of ids) out[id] = (await kube.get(paths.namespace(ns(id)))).metadata.uid as string;
    return out;
}

/** Every outcome succeeded and had no step but `same` (the root stack's outputs aside). */
function expectNothingToDo(outcomes: readonly StackOutcome[], stacks: readonly string[]): void {
    expect(outcomes.map((o) => o.stack)).toEqual(stacks);
    for (const o of outcomes) {
        expect({ stack: o.stack, result: o.result, error: o.error }).toEqual({ stack: o.stack, result: "succeeded", error: undefined });
        expect({ stack: o.stack, changed: o.changed }).toEqual({ stack: o.stack, changed: {} });
        expect({ stack: o.stack, ops: Object.keys(o.changes) }).toEqual({ stack: o.stack, ops: ["same"] });
    }
}

function pinsOf(): Record<string, unknown> {
    const doc = parseYaml(fs.readFileSync(manifestFile, "utf8")) as { tenants: { id: string; shard?: number }[] };
    return Object.fromEntries(doc.tenants.map((t) => [t.id, t.shard]));
}

function shardsSetting(): unknown {
    return (parseYaml(fs.readFileSync(settingsFile, "utf8")) as { config: Record<string, unknown> }).config["tenant-platform:shards"];
}

let uids: Record<string, string>;

beforeAll(async () => {
    await assertClusterFree(kube, NAMESPACES);
    ownsCluster = true;
    fs.mkdirSync(backendDir);
    fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.local.yaml"), settingsFile);
    fs.writeFileSync(manifestFile, stringifyYaml({ tenants: tenantEntries(IDS) }));
    region = newRegion();
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
    try {
        await kube.request("DELETE", `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${POLICY}`);
        await kube.request("DELETE", `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${POLICY}`);
        if (region) {
            const destroyed = await timed("destroy", () => newRegion().destroyAll());
            for (const d of destroyed) if (d.result === "failed") console.log(`destroy of ${d.stack} failed: ${d.error}`);
        }
    } finally {
        if (ownsCluster) {
            for (const n of NAMESPACES) await kube.request("DELETE", paths.namespace(n));
            for (const n of NAMESPACES) await kube.waitGone(paths.namespace(n));
        }
        region?.close();
        fs.rmSync(dir, { recursive: true, force: true });
        console.log(`figures (s): ${JSON.stringify(figures)}`);
    }
}, HOOK_TIMEOUT_MS);

test("the ids spread as the tests below assume (FNV-1a of the id)", () => {
    expect(IDS.map((id) => hashedShard(id, 3))).toEqual([2, 0, 1, 0, 1, 2, 0, 0, 1, 2, 1, 0]);
    expect(IDS.map((id) => hashedShard(id, 2))).toEqual([0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0]);
    expect([hashedShard(NEW_OK, 2), hashedShard(NEW_DENIED, 2)]).toEqual([0, 1]);
    expect(HOOKS.map((id) => hashedShard(id, 2))).toEqual([1, 0]);
});

test("first up of the 12-tenant region with 1 shard: the region stack creates everything", async () => {
    const outcomes = await timed("first up, 1 shard", () => region.run("up"));
    expect(outcomes.map((o) => [o.stack, o.result, o.error])).toEqual([["local", "succeeded", undefined]]);
    expect(Object.keys(outcomes[0].changes)).toEqual(["create"]);
    // 17 per tenant, the root stack, the kubernetes provider, the shared region (component, namespace).
    expect(outcomes[0].changes.create).toBeGreaterThanOrEqual(12 * 17 + 2);
    uids = await namespaceUids(IDS);
    expect((await kube.get(paths.namespace(SHARED))).metadata.name).toBe(SHARED);
});

test("reshard 1 -> 3: every tenant moves to a shard stack; every stack previews with nothing to do; no namespace recreated", async () => {
    const result = await timed("reshard 1 -> 3", () =>
        region.reshard({
            toShards: 3,
            writeLayout: (k, pins) => {
                fs.writeFileSync(settingsFile, withShardCount(fs.readFileSync(settingsFile, "utf8"), k));
                fs.writeFileSync(manifestFile, withPins(fs.readFileSync(manifestFile, "utf8"), pins));
            },
        }),
    );
    expect(result.problems).toEqual([]);
    expect(result.repaired).toEqual([]);
    expect(result.removedStacks).toEqual([]);
    expect(result.moved.map((m) => `${m.tenant}:${m.fromStack}->${m.toStack}`).sort()).toEqual(
        IDS.map((id) => `${id}:local->local-s0${hashedShard(id, 3)}`).sort(),
    );
    expect(shardsSetting()).toBe(3);
    expect(pinsOf()).toEqual(Object.fromEntries(IDS.map((id) => [id, hashedShard(id, 3)])));
    const preview = await timed("region preview, no-op, 3 shards", () => newRegion().run("preview"));
    expectNothingToDo(preview, ["local", "local-s00", "local-s01", "local-s02"]);
    expect(await namespaceUids(IDS)).toEqual(uids);
});

test("reshard 3 -> 2: tenants move between shards, local-s02 is removed; nothing to do; no namespace recreated", async () => {
    const result = await timed("reshard 3 -> 2", () =>
        region.reshard({
            toShards: 2,
            writeLayout: (k, pins) => {
                fs.writeFileSync(settingsFile, withShardCount(fs.readFileSync(settingsFile, "utf8"), k));
                fs.writeFileSync(manifestFile, withPins(fs.readFileSync(manifestFile, "utf8"), pins));
            },
        }),
    );
    expect(result.problems).toEqual([]);
    expect(result.removedStacks).toEqual(["local-s02"]);
    const expected = IDS.filter((id) => hashedShard(id, 3) !== hashedShard(id, 2)).map(
        (id) => `${id}:local-s0${hashedShard(id, 3)}->local-s0${hashedShard(id, 2)}`,
    );
    expect(result.moved.map((m) => `${m.tenant}:${m.fromStack}->${m.toStack}`).sort()).toEqual(expected.sort());
    // Both directions between s00 and s01: the outputs must move with the resources for either preview to pass.
    expect(result.moved.some((m) => m.fromStack === "local-s00" && m.toStack === "local-s01")).toBe(true);
    expect(result.moved.some((m) => m.fromStack === "local-s01" && m.toStack === "local-s00")).toBe(true);
    expect(shardsSetting()).toBe(2);
    const r = newRegion();
    expect([...(await r.existingStacks()).keys()].sort()).toEqual(["local", "local-s00", "local-s01"]);
    expectNothingToDo(await r.run("preview"), ["local", "local-s00", "local-s01"]);
    expect(await namespaceUids(IDS)).toEqual(uids);
});

test("the webhook service onboards two tenants of different shards at the same time: both updates overlap, each in its shard's stack", async () => {
    const deployer = new PulumiDeployer({
        projectDir: REPO_ROOT,
        manifestPath: manifestFile,
        stateDir: path.join(dir, "service"),
        envVars: engineEnv(backendDir).envVars,
        settingsFile,
        targetMode: "existing",
    });
    const svc = await createService({
        manifestPath: manifestFile,
        storePath: path.join(dir, "service.db"),
        deployer,
        secrets: [SECRET],
        stacks: { "eu-west": "local" },
        // The count reshard wrote (2), read from the region's file as the service does.
        shards: shardCounts({ settingsFiles: { local: settingsFile } }),
        maxParallel: 2,
        logger: pino({ level: process.env.CV_TEST_LOG ?? "silent" }),
        runner: { maxAttempts: 1 },
    });
    try {
        await svc.app.listen({ host: "127.0.0.1", port: 0 });
        const address = svc.app.server.address();
        const baseUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
        const events = HOOKS.map((id, i) => createdEvent(id, { websiteId: 70_200 + i }));
        const answers = await timed("two onboardings, 2 shards, webhook -> both jobs done", async () => {
            const res = await Promise.all(events.map((e) => post({ baseUrl }, e)));
            const deadline = Date.now() + 300_000;
            const final = () =>
                Promise.all(
                    events.map(async (e) => {
                        const jobId = (await svc.store.getEvent(e.id))?.jobId;
                        const job = jobId ? await svc.store.getJob(jobId) : undefined;
                        return job && ["succeeded", "failed", "cancelled"].includes(job.state) ? job : undefined;
                    }),
                );
            while ((await final()).some((j) => j === undefined)) {
                if (Date.now() > deadline) throw new Error("the two onboardings did not finish within 5 minutes");
                await new Promise((r) => setTimeout(r, 200));
            }
            return { codes: res.map((r) => r.statusCode), jobs: (await final()).map((j) => j!) };
        });
        expect(answers.codes).toEqual([202, 202]);
        const [a, b] = answers.jobs;
        // Full updates, not targeted: reshard made these stacks with `state move`, so their history holds no update yet (the deployer's "existing" rule).
        expect(answers.jobs.map((j) => [j.stack, j.tenants, j.state, j.error, j.targeted])).toEqual([
            ["local-s01", ["hook01"], "succeeded", null, false],
            ["local-s00", ["hook02"], "succeeded", null, false],
        ]);
        // Each update started before the other finished: they ran at the same time.
        expect(Date.parse(a.startedAt!)).toBeLessThan(Date.parse(b.finishedAt!));
        expect(Date.parse(b.startedAt!)).toBeLessThan(Date.parse(a.finishedAt!));
        for (const id of HOOKS) expect((await kube.get(paths.namespace(ns(id)))).status.phase).toBe("Active");
    } finally {
        await svc.close();
    }
});

test("tenantctl up --region --json with one shard failing admission: the other shards finish, exit 1 naming the failed shard", async () => {
    const policyPath = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";
    const bindingPath = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings";
    expect(
        (
            await kube.request("POST", policyPath, {
                apiVersion: "admissionregistration.k8s.io/v1",
                kind: "ValidatingAdmissionPolicy",
                metadata: { name: POLICY },
                spec: {
                    failurePolicy: "Fail",
                    matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["namespaces"] }] },
                    validations: [{ expression: `object.metadata.name != '${ns(NEW_DENIED)}'`, message: "refused by the shards engine test" }],
                },
            })
        ).status,
    ).toBe(201);
    expect(
        (
            await kube.request("POST", bindingPath, {
                apiVersion: "admissionregistration.k8s.io/v1",
                kind: "ValidatingAdmissionPolicyBinding",
                metadata: { name: POLICY },
                spec: { policyName: POLICY, validationActions: ["Deny"] },
            })
        ).status,
    ).toBe(201);
    // The policy takes effect once the API server has loaded it: wait until a dry run is refused.
    const deadline = Date.now() + 30_000;
    while (
        (await kube.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns(NEW_DENIED) } }, { dryRun: true }))
            .status !== 422
    ) {
        if (Date.now() > deadline) throw new Error("the ValidatingAdmissionPolicy never took effect");
        await new Promise((r) => setTimeout(r, 500));
    }
    addTenants([NEW_OK, NEW_DENIED]);
    const run = await timed("region up --json, one shard failing", () =>
        tenantctl(["up", "--region", "local", "--manifest", manifestFile, "--config-file", settingsFile, "--parallel", "2", "--json"]),
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("tenantctl up: 1 of 3 stack(s) failed: local-s01\n");
    const summary = JSON.parse(run.stdout) as {
        region: string;
        op: string;
        succeeded: boolean;
        failed: string[];
        stacks: { stack: string; result: string; changes: Record<string, number>; error?: string }[];
    };
    expect({ region: summary.region, op: summary.op, succeeded: summary.succeeded, failed: summary.failed }).toEqual({
        region: "local",
        op: "up",
        succeeded: false,
        failed: ["local-s01"],
    });
    expect(summary.stacks.map((s) => [s.stack, s.result])).toEqual([
        ["local", "succeeded"],
        ["local-s00", "succeeded"],
        ["local-s01", "failed"],
    ]);
    // The region stack has nothing to do; local-s00 creates exactly new01's 17 resources; local-s01 fails on new02's namespace.
    expect(Object.keys(summary.stacks[0].changes)).toEqual(["same"]);
    expect(summary.stacks[1].changes.create).toBe(17);
    expect(Object.keys(summary.stacks[1].changes).sort()).toEqual(["create", "same"]);
    expect(summary.stacks[0].error).toBeUndefined();
    expect(summary.stacks[1].error).toBeUndefined();
    expect(summary.stacks[2].error).toContain("refused by the shards engine test");
    expect((await kube.get(paths.namespace(ns(NEW_OK)))).metadata.labels.tenant).toBe(`client-${NEW_OK}`);
    expect((await kube.request("GET", paths.namespace(ns(NEW_DENIED)))).status).toBe(404);
});

test("first up of the 12-tenant region with 3 shards from empty", async () => {
    await kube.request("DELETE", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/" + POLICY);
    await kube.request("DELETE", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/" + POLICY);
    const destroyed = await timed("destroy, 2 shards", () => newRegion().destroyAll());
    expect(destroyed.map((d) => [d.stack, d.result, d.error])).toEqual([
        ["local-s00", "succeeded", undefined],
        ["local-s01", "succeeded", undefined],
        ["local", "succeeded", undefined],
    ]);
    // The shared namespace too: the region stack creates it again, and a terminating namespace refuses that.
    for (const n of [...NAMESPACES, SHARED]) await kube.waitGone(paths.namespace(n));
    fs.writeFileSync(settingsFile, fs.readFileSync(settingsFile, "utf8").replace(/tenant-platform:shards: 2/, "tenant-platform:shards: 3"));
    fs.writeFileSync(manifestFile, stringifyYaml({ tenants: tenantEntries(IDS) }));
    const r = newRegion();
    const outcomes = await timed("first up, 3 shards", () => r.run("up"));
    expect(outcomes.map((o) => [o.stack, o.result, o.error])).toEqual(["local", "local-s00", "local-s01", "local-s02"].map((s) => [s, "succeeded", undefined]));
    for (const o of outcomes.slice(1)) expect(Object.keys(o.changes)).toEqual(["create"]);
    expect(outcomes.slice(1).map((o) => o.changes.create - 2)).toEqual([0, 1, 2].map((k) => 17 * IDS.filter((id) => hashedShard(id, 3) === k).length));
    expect(fs.readdirSync(REPO_ROOT).filter((f) => /^Pulumi\.local-s\d\d\.yaml$/.test(f))).toEqual([]);
});
