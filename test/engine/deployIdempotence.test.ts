/**
 * Git is the one source of truth (issue 10 §1): a deployment by the service
 * and one by deploy.yml for the same commit leave the stack unchanged the
 * second time.
 *
 * The service (real PulumiDeployer on the local stack, region eu-west)
 * receives a signed subscription.created, commits and pushes the manifest to
 * a local bare remote and deploys it. Then the workflow's path: a fresh
 * checkout of the remote's main (actions/checkout), and `./tenantctl up
 * --region <region> --json` on it (deploy.yml's step, with the same region
 * settings file and backend, under the policy pack). Expected: the checkout
 * is the service's commit, and that `up` succeeds with 0 changes (only
 * `same` in the engine summary): the pack lets it through (a mandatory
 * violation fails the `up`).
 *
 * The workflow passes `--policy-pack policy` (the pack's directory); here the
 * same pack goes as its binary analyzer, policy/bin/pulumi-analyzer-policy:
 * the project-built Node.js language host (v3.68.0) cannot start a pack
 * directory (`policy pack "…/policy" failed to start: could not read plugin
 * […/policy]: not supported`, reported by the Automation API as `code: -2`,
 * its code for any failed CLI run), as test/engine/policy.test.ts does.
 *
 * Everything lives in a temp dir (backend, remote, clones, a copy of
 * Pulumi.local.yaml); the tenant namespaces are deleted at the end.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { stringify as stringifyYaml } from "yaml";
import { PulumiDeployer } from "../../core/deployer";
import { shardCounts } from "../../service/queue";
import { createService, type Service } from "../../service/service";
import { SECRET, createdEvent, post } from "../support/service";
import { HOOK_TIMEOUT_MS, REPO_ROOT, assertClusterFree, engineEnv } from "../support/engine";
import { cloneOf, git, seededRemote } from "../support/gitRemote";
import { KubeClient, paths } from "../support/k8s";

jest.setTimeout(HOOK_TIMEOUT_MS);

const TENANT = "idem01";
const NS = `e-commerce-client-${TENANT}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cv-engine-idem-"));
const backendDir = path.join(dir, "backend");
const settingsFile = path.join(dir, "Pulumi.local.yaml");
const remote = path.join(dir, "remote.git");
const serviceClone = path.join(dir, "service");
const kube = new KubeClient(path.join(REPO_ROOT, ".work", "kubeconfig"));
let svc: Service | undefined;
let ownsCluster = false;

interface Summary {
    succeeded: boolean;
    failed: string[];
    stacks: { stack: string; result: string; changes: Record<string, number>; error?: string }[];
}

/** The policy pack as deploy.yml passes it, in the form this machine's language host can start (see the header). */
const POLICY_PACK = path.join(REPO_ROOT, "policy", "bin", "pulumi-analyzer-policy");

/** deploy.yml's step on a fresh checkout of main: `./tenantctl up --region local --policy-pack … --json` (this process's environment: the test's backend). */
function workflowUp(): Promise<{ code: number; summary: Summary; stderr: string; head: string }> {
    const checkout = fs.mkdtempSync(path.join(dir, "checkout-"));
    git(dir, "clone", "--quiet", "-b", "main", remote, checkout);
    const head = git(checkout, "rev-parse", "HEAD").trim();
    return new Promise((resolve) => {
        execFile(
            path.join(REPO_ROOT, "tenantctl"),
            [
                "up",
                "--region",
                "local",
                "--manifest",
                path.join(checkout, "tenants.yaml"),
                "--config-file",
                settingsFile,
                "--policy-pack",
                POLICY_PACK,
                "--json",
            ],
            { cwd: REPO_ROOT, env: { ...process.env, CI: "true", NO_COLOR: "1" }, maxBuffer: 64 * 1024 * 1024 },
            (err, stdout, stderr) => {
                let summary: Summary;
                try {
                    summary = JSON.parse(stdout) as Summary;
                } catch {
                    summary = { succeeded: false, failed: [], stacks: [] };
                }
                resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, summary, stderr, head });
            },
        );
    });
}

/** Waits until the event is applied and its job has finished; the job. */
async function jobOf(s: Service, eventId: string) {
    const deadline = Date.now() + 600_000;
    for (;;) {
        const e = await s.store.getEvent(eventId);
        const job = e?.jobId ? await s.store.getJob(e.jobId) : undefined;
        if (job && ["succeeded", "failed", "cancelled"].includes(job.state)) return job;
        if (Date.now() > deadline) throw new Error(`event ${eventId} not deployed within 10 minutes`);
        await new Promise((r) => setTimeout(r, 500));
    }
}

beforeAll(async () => {
    await assertClusterFree(kube, [NS]);
    ownsCluster = true;
    fs.mkdirSync(backendDir);
    fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.local.yaml"), settingsFile);
    seededRemote(dir, stringifyYaml({ tenants: [] }));
    cloneOf(remote, dir, "service", { name: "Billing service", email: "billing@example.com" });
    const env = engineEnv(backendDir);
    const manifestPath = path.join(serviceClone, "tenants.yaml");
    svc = await createService({
        manifestPath,
        storePath: path.join(dir, "service.db"),
        deployer: new PulumiDeployer({
            projectDir: REPO_ROOT,
            manifestPath,
            stateDir: path.join(dir, "state"),
            targetMode: "existing",
            envVars: env.envVars,
            settingsFile,
        }),
        secrets: [SECRET],
        stacks: { "eu-west": "local" },
        shards: shardCounts({ settingsFiles: { local: settingsFile } }),
        logger: pino({ level: process.env.CV_TEST_LOG ?? "silent" }),
        runner: { retryDelayMs: 500, maxAttempts: 2 },
        git: { remote: "origin", branch: "main" },
    });
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
    await svc?.close();
    if (ownsCluster && process.env.CV_KEEP_NAMESPACES !== "1") await kube.request("DELETE", paths.namespace(NS));
    fs.rmSync(dir, { recursive: true, force: true });
}, HOOK_TIMEOUT_MS);

test("the service deploys a webhook's commit; deploy.yml's `tenantctl up --region --policy-pack` on that commit then changes nothing", async () => {
    const ev = createdEvent(TENANT, { websiteId: 72_001, region: "eu-west" });
    const res = await post({ baseUrl: await listen(svc!) }, ev);
    expect(res.statusCode).toBe(202);
    const job = await jobOf(svc!, ev.id);
    expect({ state: job.state, error: job.error }).toEqual({ state: "succeeded", error: null });
    expect((await kube.get(paths.namespace(NS))).metadata.labels.tenant).toBe(`client-${TENANT}`);
    // The commit the service pushed names the event.
    const pushed = git(remote, "log", "-1", "--format=%H%n%B", "main");
    expect(pushed).toContain(ev.id);

    const run = await workflowUp();
    expect(run.head).toBe(pushed.split("\n")[0]);
    expect({ code: run.code, stderr: run.code === 0 ? "" : run.stderr }).toEqual({ code: 0, stderr: "" });
    expect(run.summary.succeeded).toBe(true);
    for (const s of run.summary.stacks) {
        expect({ stack: s.stack, result: s.result, error: s.error }).toEqual({ stack: s.stack, result: "succeeded", error: undefined });
        // 0 changes: the engine summary holds only `same`.
        expect({ stack: s.stack, ops: Object.keys(s.changes) }).toEqual({ stack: s.stack, ops: ["same"] });
    }
    console.log(
        `deploy idempotence: service job then workflow up on ${run.head.slice(0, 8)}: ${JSON.stringify(run.summary.stacks.map((s) => [s.stack, s.changes]))}`,
    );
});

async function listen(s: Service): Promise<string> {
    if (!s.app.server.listening) await s.app.listen({ host: "127.0.0.1", port: 0 });
    const address = s.app.server.address();
    return `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
}
