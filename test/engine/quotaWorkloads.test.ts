/**
 * Workloads under the quota, for real on the local node (issue 11): tenant nordic (standard: HPA 2–3, quota
 * requests.cpu 1 / limits.cpu 3, LimitRange default 250m / 256Mi, defaultRequest 100m / 128Mi) gets a stand-in
 * Deployment for each autoscaled workload (the probe image, no resources of its own: the LimitRange defaults
 * apply), at the tier's minimum of 2 replicas.
 * - The 4 HPAs find their targets (AbleToScale True).
 * - The quota admits the 8 pods and two backup pods (the headroom rule, README "Tiers"); a third is refused.
 * - An HPA pushed past the quota gets `FailedCreate ... exceeded quota` on its ReplicaSet (README, deviation 12).
 */
import { execFile } from "node:child_process";
import { autoscaledWorkloads } from "../../components/tenantNamespace";
import { tierSpec } from "../../lib/tiers";
import { EngineFixture, HOOK_TIMEOUT_MS, assertClusterFree, manifestOf } from "../support/engine";
import { paths, type KubeObject } from "../support/k8s";
import { RESTRICTED_POD, nodeEnv, probeContainer, type NodeEnv } from "../support/node";
import { SHARED_NS } from "../support/podAccess";

jest.setTimeout(HOOK_TIMEOUT_MS);

const TENANT = "nordic";
const NS = `e-commerce-client-${TENANT}`;
const WORKLOADS = autoscaledWorkloads(["auth", "products", "orders"]);
const MIN = tierSpec("standard").replicas.min;
const fixture = new EngineFixture("quota");
let node: NodeEnv;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await probe();
        if (v !== undefined) return v;
        if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
        await sleep(1000);
    }
}

function kubectl(args: string[]): Promise<string> {
    return new Promise((resolve, reject) =>
        execFile(node.kubectl, ["--kubeconfig", node.kubeconfig, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
            err ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr.toString().trim() || err.message}`)) : resolve(stdout.toString()),
        ),
    );
}

function standIn(name: string): KubeObject {
    const container = { ...probeContainer(node, { tcp: [8080], resources: {} }), name: "app" };
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name, namespace: NS },
        spec: {
            replicas: MIN,
            selector: { matchLabels: { app: name } },
            template: {
                metadata: { labels: { app: name } },
                spec: { securityContext: RESTRICTED_POD, automountServiceAccountToken: false, terminationGracePeriodSeconds: 1, containers: [container] },
            },
        },
    };
}

const quotaUsed = async () => (await fixture.kube.get(`${paths.resourceQuotas(NS)}/client-quota`)).status?.used as Record<string, string> | undefined;
const events = async (kind: string, name: string) =>
    (await fixture.kube.list(`/api/v1/namespaces/${NS}/events?fieldSelector=involvedObject.kind=${kind},involvedObject.name=${name}`)).map(
        (e) => `${e.reason}: ${e.message}`,
    );

beforeAll(async () => {
    node = nodeEnv();
    await assertClusterFree(fixture.kube, [NS]);
    await fixture.init(manifestOf([TENANT]));
    await fixture.stack.up({ ...fixture.opts });
    for (const w of WORKLOADS) {
        const res = await fixture.kube.request("POST", `/apis/apps/v1/namespaces/${NS}/deployments`, standIn(w));
        if (res.status !== 201) throw new Error(`Deployment ${w}: ${res.status} ${JSON.stringify(res.body)}`);
    }
});

afterAll(async () => {
    await fixture.teardown([NS, SHARED_NS]);
});

test("the stand-ins run at the tier's minimum with the LimitRange defaults, and the 4 HPAs find their targets", async () => {
    for (const w of WORKLOADS) {
        await until(`${w} ready`, async () => {
            const d = await fixture.kube.get(`/apis/apps/v1/namespaces/${NS}/deployments/${w}`);
            return d.status?.readyReplicas === MIN ? d : undefined;
        });
    }
    const pods = (await fixture.kube.list(paths.pods(NS))).filter((p) => p.status?.phase === "Running");
    expect(pods).toHaveLength(4 * MIN);
    expect(pods.map((p) => p.spec.containers[0].resources)).toEqual(
        Array(8).fill({ requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "250m", memory: "256Mi" } }),
    );
    for (const w of WORKLOADS) {
        const able = await until(`${w}-hpa AbleToScale`, async () => {
            const hpa = await fixture.kube.get(`${paths.hpas(NS)}/${w}-hpa`);
            return (hpa.status?.conditions ?? []).find((c: KubeObject) => c.type === "AbleToScale" && c.status === "True");
        });
        expect(able.reason).toBe("SucceededGetScale");
    }
    expect(
        await until("quota usage", async () => {
            const used = await quotaUsed();
            return used?.pods === "8" ? used : undefined;
        }),
    ).toMatchObject({ pods: "8", "requests.cpu": "800m", "requests.memory": "1Gi", "limits.cpu": "2", "limits.memory": "2Gi" });
});

test("the quota admits two backup pods at the minimum, and refuses a third (exceeded quota)", async () => {
    for (const n of [1, 2, 3]) await kubectl(["create", "job", `backup-${n}`, "--from=cronjob/db-backup", "-n", NS]);
    // The first two are admitted (their pods exist and are counted; they need no database to be counted).
    for (const n of [1, 2]) {
        await until(`backup-${n}'s pod`, async () => {
            const pods = await fixture.kube.list(`${paths.pods(NS)}?labelSelector=job-name=backup-${n}`);
            return pods.length === 1 ? pods : undefined;
        });
    }
    const used = await until("quota usage with two backup pods", async () => {
        const u = await quotaUsed();
        return u?.pods === "10" ? u : undefined;
    });
    expect(used).toMatchObject({ "requests.cpu": "1", "requests.memory": "1536Mi", "limits.cpu": "3", "limits.memory": "3Gi" });
    const refused = await until("backup-3 refused", async () => {
        const ev = (await events("Job", "backup-3")).filter((e) => e.startsWith("FailedCreate:"));
        return ev.length ? ev : undefined;
    });
    // Only what is exceeded is named: both CPU figures are used up exactly (the rule's two pods).
    expect(refused[0]).toMatch(/^FailedCreate: Error creating: pods "backup-3-[a-z0-9]*" is forbidden: exceeded quota: client-quota, /);
    expect(refused[0]).toContain("requested: limits.cpu=500m,requests.cpu=100m, used: limits.cpu=3,requests.cpu=1, limited: limits.cpu=3,requests.cpu=1");
    expect((await fixture.kube.list(`${paths.pods(NS)}?labelSelector=job-name=backup-3`)).length).toBe(0);
    for (const n of [1, 2, 3]) await kubectl(["delete", "job", `backup-${n}`, "-n", NS, "--wait=true"]);
});

test("an HPA pushed past the quota gets FailedCreate: exceeded quota on its ReplicaSet", async () => {
    await until("backup pods gone", async () => ((await quotaUsed())?.pods === "8" ? true : undefined));
    // requests.cpu: 800m used of 1; api-gateway at 5 replicas needs 300m more.
    const patched = await fixture.kube.request(
        "PATCH",
        `${paths.hpas(NS)}/api-gateway-hpa`,
        { spec: { minReplicas: 5, maxReplicas: 5 } },
        { contentType: "application/merge-patch+json" },
    );
    expect(patched.status).toBe(200);
    const rs = await until("api-gateway ReplicaSet at 5", async () => {
        const list = await fixture.kube.list(`/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=app=api-gateway`);
        return list.find((r) => r.spec.replicas === 5);
    });
    const failed = await until("FailedCreate on the ReplicaSet", async () => {
        const ev = (await events("ReplicaSet", rs.metadata.name)).filter((e) => e.startsWith("FailedCreate:"));
        return ev.length ? ev : undefined;
    });
    expect(failed[0]).toMatch(/^FailedCreate: Error creating: pods "api-gateway-[a-z0-9-]*" is forbidden: exceeded quota: client-quota, /);
    expect(failed[0]).toContain("requested: requests.cpu=100m, used: requests.cpu=1, limited: requests.cpu=1");
    // Two more fit (requests.cpu 1000m of 1), the fifth does not.
    const used = await until("quota full", async () => {
        const u = await quotaUsed();
        return u?.pods === "10" ? u : undefined;
    });
    expect(used["requests.cpu"]).toBe("1");
    process.stdout.write(`quota at the push: ${JSON.stringify(used)}\n${failed[0]}\n`);
});
