/**
 * The cluster side of `tenantctl rotate` (core/rotate.ts) against the real
 * Kubernetes API server of `make local-up`: after a switch it restarts the
 * tenant's Deployments (a pod-template annotation, as `kubectl rollout
 * restart`), and before a retirement it reads what the namespace's Secret
 * names, when that Secret last changed, and the pods' start times — the
 * account name only, never the password.
 */
import { kubeAccess } from "../../core/kube";
import { restartWorkloads, retireEvidence } from "../../core/rotate";
import { namespaceName } from "../../lib/naming";
import { retireProblems, retireStep } from "../../lib/rotation";
import { readLocalEnv } from "../support/contract";
import { KubeClient } from "../support/k8s";

jest.setTimeout(120_000);

const TENANT = "rotk";
const NS = namespaceName(TENANT);
let kube: KubeClient;
let kubeconfig: string;
let context: string | undefined;

beforeAll(async () => {
    const env = readLocalEnv();
    kubeconfig = env.KUBECONFIG;
    context = env.CV_K8S_CONTEXT;
    kube = new KubeClient(kubeconfig, context);
    await kube.request("DELETE", `/api/v1/namespaces/${NS}`);
    await kube.waitGone(`/api/v1/namespaces/${NS}`);
    const ns = await kube.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
    expect(ns.status).toBe(201);
});

afterAll(async () => {
    if (kube) await kube.request("DELETE", `/api/v1/namespaces/${NS}`);
});

test("restart after a switch: every Deployment's pod template gets the rotation time; retirement evidence from the Secret and the pods", async () => {
    const deployment = (name: string) => ({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name, namespace: NS },
        spec: {
            replicas: 1,
            selector: { matchLabels: { app: name } },
            // A node selector no node matches: the pods stay Pending (not started) whether or not the local stack runs a node.
            template: {
                metadata: { labels: { app: name } },
                spec: { nodeSelector: { "collectverything.com/test": "never-scheduled" }, containers: [{ name: "app", image: "registry.invalid/app:1" }] },
            },
        },
    });
    for (const name of ["auth-service", "orders-service"]) {
        expect((await kube.request("POST", `/apis/apps/v1/namespaces/${NS}/deployments`, deployment(name))).status).toBe(201);
    }
    const access = kubeAccess(kubeconfig, context);
    const at = "2026-12-01T10:00:00.000Z";
    expect((await restartWorkloads(access, NS, at)).sort()).toEqual(["deployments/auth-service", "deployments/orders-service"]);
    for (const name of ["auth-service", "orders-service"]) {
        const d = await kube.get(`/apis/apps/v1/namespaces/${NS}/deployments/${name}`);
        expect(d.spec.template.metadata.annotations).toEqual({ "collectverything.com/credentials-rotated-at": at });
    }

    // The Secret after a switch to slot b; the step retires slot a of generation 1.
    const secret = await kube.request("POST", `/api/v1/namespaces/${NS}/secrets`, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "rabbitmq-credentials", namespace: NS },
        stringData: { AMQP_USERNAME: "client-rotk-app-b", AMQP_PASSWORD: "not-read-by-the-check" },
    });
    expect(secret.status).toBe(201);
    const created = (secret.body as { metadata: { creationTimestamp: string } }).metadata.creationTimestamp;
    const step = retireStep(TENANT, "rabbitmq", { generation: 1, rotatedAt: "2026-11-01T00:00:00Z", retired: false }, new Date("2026-12-01T00:00:00Z"));
    const evidence = await retireEvidence(access, TENANT, step);
    expect(evidence.secretUser).toBe("client-rotk-app-b");
    expect(evidence.secretChangedAt).toBe(created);
    // The Deployments' pods exist but have not started (unschedulable): they will read the new Secret, so they do not hold the retirement back.
    expect(evidence.pods.every((p) => p.startTime === undefined)).toBe(true);
    expect(retireProblems(TENANT, NS, step, evidence)).toEqual([]);
    // A Secret still naming the old account holds it back.
    await kube.request("PUT", `/api/v1/namespaces/${NS}/secrets/rabbitmq-credentials`, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "rabbitmq-credentials", namespace: NS },
        stringData: { AMQP_USERNAME: "client-rotk-app", AMQP_PASSWORD: "x" },
    });
    const stale = await retireEvidence(access, TENANT, step);
    expect(retireProblems(TENANT, NS, step, stale)).toEqual([
        `the Secret ${NS}/rabbitmq-credentials still names client-rotk-app, not the active account client-rotk-app-b. Fix: wait for the Secret to be updated (aws-secrets-manager: external-secrets refreshes it), then retry`,
    ]);
});

test("archive retirement evidence: the Secret's AWS_ACCESS_KEY_ID against the active slot's key id from the stack's state", async () => {
    const access = kubeAccess(kubeconfig, context);
    const secret = await kube.request("POST", `/api/v1/namespaces/${NS}/secrets`, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "archive-credentials", namespace: NS },
        stringData: { AWS_ACCESS_KEY_ID: "AKIAROTKSLOTB", AWS_SECRET_ACCESS_KEY: "not-read-by-the-check" },
    });
    expect(secret.status).toBe(201);
    const step = retireStep(TENANT, "archive", { generation: 1, rotatedAt: "2026-11-01T00:00:00Z", retired: false }, new Date("2026-12-01T00:00:00Z"));
    const urn = (name: string) =>
        `urn:pulumi:eu-west::tenant-platform::collectverything:tenant:Tenant$collectverything:tenant:TenantArchiveAccess$aws:iam/accessKey:AccessKey::${name}`;
    const state = [
        { urn: urn("rotk-archive-key"), type: "aws:iam/accessKey:AccessKey", id: "AKIAROTKSLOTA" },
        { urn: urn("rotk-archive-key-b"), type: "aws:iam/accessKey:AccessKey", id: "AKIAROTKSLOTB" },
    ];
    const evidence = await retireEvidence(access, TENANT, step, state);
    expect([evidence.secretUser, evidence.activeKeyId]).toEqual(["AKIAROTKSLOTB", "AKIAROTKSLOTB"]);
    expect(retireProblems(TENANT, NS, step, evidence)).toEqual([]);
    // The state says slot b's key is another one (the Secret was not updated yet): held back.
    const other = await retireEvidence(access, TENANT, step, [state[0], { ...state[1], id: "AKIAROTKNEWER" }]);
    expect(retireProblems(TENANT, NS, step, other)).toEqual([
        `the Secret ${NS}/archive-credentials still names AKIAROTKSLOTB, not the active slot b's access key AKIAROTKNEWER. Fix: wait for the Secret to be updated (aws-secrets-manager: external-secrets refreshes it), then retry`,
    ]);
});
