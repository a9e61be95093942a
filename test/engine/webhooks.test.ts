/**
 * End to end on the real local engine and API server: the service (real
 * PulumiDeployer: LocalWorkspace on the project directory, stack `local` as
 * region eu-west) receives signed webhooks and the cluster changes.
 * Needs `source .work/toolchain.env` and `make local-up` (k8s + RabbitMQ).
 * The manifest is a temp file with only the test's tenant; the backend is a
 * temp file:// directory, so the repository's tenants.yaml and state are untouched.
 */
import * as amqp from "amqplib";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import pino from "pino";
import { PulumiDeployer } from "../../core/deployer";
import { EVENTS_EXCHANGE } from "../../service/events";
import { createdEvent, event, post, request, SECRET, STATUS_TOKEN, tempDir, type TestService } from "../support/service";
import { createService } from "../../service/service";

jest.setTimeout(900_000);

const ROOT = path.resolve(__dirname, "../..");

function localEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const m of fs.readFileSync(path.join(ROOT, ".work/local.env"), "utf8").matchAll(/^export ([A-Z0-9_]+)="([^"]*)"$/gm)) env[m[1]] = m[2];
    return env;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- raw Kubernetes JSON
function kubectlJson(env: Record<string, string>, resource: string): any {
    // The API server over loopback with the local kubeconfig's client certificate, through node's https.
    const out = execFileSync(process.execPath, ["-e", KUBE_GET, resource], { env: { ...process.env, KUBECONFIG: env.KUBECONFIG }, encoding: "utf8" });
    return JSON.parse(out);
}

/** Deletes the test's namespace: it is protected in the state, and the temp backend goes away with the test. */
function kubectlDelete(env: Record<string, string>, resource: string): void {
    execFileSync(process.execPath, ["-e", KUBE_GET, resource, "DELETE"], { env: { ...process.env, KUBECONFIG: env.KUBECONFIG }, encoding: "utf8" });
}

/** A tiny kubeconfig-driven request, GET unless argv[2] says otherwise (no kubectl binary on this machine). Prints the JSON or {"notFound":true}. */
const KUBE_GET = `
const fs=require("fs"),https=require("https"),yaml=require("yaml");
const kc=yaml.parse(fs.readFileSync(process.env.KUBECONFIG,"utf8"));
const ctx=kc.contexts.find(c=>c.name===kc["current-context"]).context;
const cl=kc.clusters.find(c=>c.name===ctx.cluster).cluster, u=kc.users.find(x=>x.name===ctx.user).user;
const b=(d,f)=>d?Buffer.from(d,"base64"):fs.readFileSync(f);
const url=new URL(cl.server+process.argv[1]);
https.request(url,{method:process.argv[2]||"GET",ca:b(cl["certificate-authority-data"],cl["certificate-authority"]),cert:b(u["client-certificate-data"],u["client-certificate"]),key:b(u["client-key-data"],u["client-key"])},r=>{let s="";r.on("data",d=>s+=d);r.on("end",()=>{process.stdout.write(r.statusCode===404?'{"notFound":true}':s)})}).on("error",e=>{console.error(e.message);process.exit(1)}).end();
`;

describe("webhooks on the real engine (stack local = eu-west)", () => {
    const env = localEnv();
    const dir = tempDir("cv-webhooks-e2e-");
    const tenant = `wh${Date.now().toString(36).slice(-5)}`;
    const ns = `e-commerce-client-${tenant}`;
    let svc: TestService;
    let conn: amqp.ChannelModel;
    const stackSettings = path.join(ROOT, "Pulumi.local.yaml");
    const settingsBefore = fs.readFileSync(stackSettings, "utf8");
    const repoManifestBefore = fs.readFileSync(path.join(ROOT, "tenants.yaml"), "utf8");
    const received: Record<string, unknown>[] = [];

    beforeAll(async () => {
        const manifestPath = path.join(dir, "tenants.yaml");
        fs.writeFileSync(manifestPath, "# e2e manifest\ntenants: []\n");
        const backend = path.join(dir, "state");
        fs.mkdirSync(backend);
        const password = fs.readFileSync(env.CV_RABBITMQ_ADMIN_PASSWORD_FILE, "utf8").trim();
        const eventsUrl = `amqp://${encodeURIComponent(env.CV_RABBITMQ_ADMIN_USER)}:${encodeURIComponent(password)}@${env.CV_RABBITMQ_HOST}:${env.CV_RABBITMQ_AMQP_PORT}`;
        conn = await amqp.connect(eventsUrl);
        const ch = await conn.createChannel();
        await ch.assertExchange(EVENTS_EXCHANGE, "topic", { durable: true });
        const q = await ch.assertQueue("", { exclusive: true });
        await ch.bindQueue(q.queue, EVENTS_EXCHANGE, "tenant.#");
        await ch.consume(q.queue, (m) => m && received.push(JSON.parse(m.content.toString()) as Record<string, unknown>), { noAck: true });

        const deployer = new PulumiDeployer({
            projectDir: ROOT,
            manifestPath,
            stateDir: dir,
            targetMode: "existing",
            envVars: {
                PULUMI_BACKEND_URL: `file://${backend}`,
                PULUMI_CONFIG_PASSPHRASE: "local-only-passphrase",
                PULUMI_SKIP_UPDATE_CHECK: "true",
                KUBECONFIG: env.KUBECONFIG,
            },
        });
        const service = await createService({
            manifestPath,
            storePath: path.join(dir, "service.db"),
            statusTokens: [STATUS_TOKEN],
            deployer,
            secrets: [SECRET],
            stacks: { "eu-west": "local" },
            eventsUrl,
            logger: pino({ level: process.env.CV_TEST_LOG ?? "silent" }),
            runner: { retryDelayMs: 500, maxAttempts: 2 },
            outboxIntervalMs: 500,
        });
        await service.app.listen({ host: "127.0.0.1", port: 0 });
        const address = service.app.server.address();
        svc = Object.assign(service, { dir, manifestPath, baseUrl: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}` });
    });

    afterAll(async () => {
        await svc?.close();
        await conn?.close();
        if (process.env.CV_KEEP_NAMESPACES !== "1") kubectlDelete(env, `/api/v1/namespaces/${ns}`);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    /** The job of an event the service answered 202 queued (no job yet): applied (committed), then run. */
    async function settled(eventId: string) {
        await svc.settled();
        const applied = (await request(svc, { url: `/events/${eventId}` })).json();
        const jobId = applied.jobId as string | null;
        if (!jobId) throw new Error(`event ${eventId} has no job: ${JSON.stringify(applied)}`);
        await svc.queue.idle();
        const job = (await request(svc, { url: `/jobs/${jobId}` })).json();
        if (job.state !== "succeeded") throw new Error(`job ${jobId} ${job.state}: ${job.error}\n${(job.logTail as string[]).join("\n")}`);
        return job;
    }

    it("subscription.created: the namespace exists, the state is active, tenant.provisioned is published", async () => {
        const created = createdEvent(tenant, { tier: "standard", websiteId: 777001 });
        const res = await post(svc, created);
        expect(res.statusCode).toBe(202);
        await settled(created.id);
        const namespace = kubectlJson(env, `/api/v1/namespaces/${ns}`);
        expect(namespace.metadata.labels).toMatchObject({ tenant: `client-${tenant}`, tier: "standard" });
        expect((await request(svc, { url: `/tenants/${tenant}` })).json()).toMatchObject({ state: "active" });
        const deadline = Date.now() + 15_000;
        while (!received.some((e) => e.event === "tenant.provisioned" && e.tenant_id === `client-${tenant}`) && Date.now() < deadline)
            await new Promise((r) => setTimeout(r, 200));
        expect(received.find((e) => e.event === "tenant.provisioned" && e.tenant_id === `client-${tenant}`)).toMatchObject({
            website_id: 777001,
            payload: { namespace: ns },
        });
    });

    it("subscription.updated to a higher tier raises the quota", async () => {
        const before = kubectlJson(env, `/api/v1/namespaces/${ns}/resourcequotas/client-quota`);
        expect(before.spec.hard["requests.cpu"]).toBe("1");
        const upgrade = event("subscription.updated", { tenantId: tenant, tier: "premium" });
        const res = await post(svc, upgrade);
        expect(res.statusCode).toBe(202);
        const job = await settled(upgrade.id);
        expect(job.targeted).toBe(true);
        const after = kubectlJson(env, `/api/v1/namespaces/${ns}/resourcequotas/client-quota`);
        expect(after.spec.hard).toMatchObject({ "requests.cpu": "4", "requests.memory": "8Gi", pods: "50" });
    });

    it("subscription.cancelled removes the Ingress and labels the namespace", async () => {
        const ingresses = kubectlJson(env, `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses`);
        expect(ingresses.items.length).toBe(1);
        const cancel = event("subscription.cancelled", { tenantId: tenant });
        const res = await post(svc, cancel);
        expect(res.statusCode).toBe(202);
        await settled(cancel.id);
        expect(kubectlJson(env, `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses`).items).toHaveLength(0);
        const namespace = kubectlJson(env, `/api/v1/namespaces/${ns}`);
        expect(namespace.metadata.labels["collectverything.com/lifecycle"]).toBe("cancelled");
        expect(namespace.metadata.labels["collectverything.com/deletion-date"]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        expect((await request(svc, { url: `/tenants/${tenant}` })).json()).toMatchObject({ state: "offboarding" });
    });

    it("never writes into the repository: Pulumi.local.yaml and tenants.yaml are untouched", () => {
        // `stack init`, `stack history` and `stack output` write the passphrase salt into the settings file of the
        // directory they run in: the deployer runs them in its scratch workspace, which holds the salt.
        expect(fs.readFileSync(stackSettings, "utf8")).toBe(settingsBefore);
        expect(fs.readFileSync(path.join(ROOT, "tenants.yaml"), "utf8")).toBe(repoManifestBefore);
        expect(fs.existsSync(path.join(dir, "workspaces", "local", "Pulumi.local.yaml"))).toBe(true);
        expect(fs.readFileSync(path.join(dir, "workspaces", "local", "Pulumi.local.yaml"), "utf8")).toContain("encryptionsalt");
    });
});
