/**
 * `tenantctl bench-webhooks`: two figures.
 * 1. Acknowledgement latency: autocannon at a fixed rate on loopback against
 *    the service (fake deployer: the deployment is asynchronous and not part
 *    of the acknowledgement). Every request is a distinct, signed
 *    `subscription.updated` that really changes tenants.yaml (tier toggled).
 * 2. Webhook to namespace ready on the real engine, in a region that already
 *    holds N tenants: targeted update (the default) and full update.
 */
import autocannon from "autocannon";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { parse, stringify } from "yaml";
import { PROJECT_DIR } from "./commands";
import { FakeDeployer, PulumiDeployer, type TargetMode } from "./deployer";
import { createService } from "./service";
import { signatureHeader } from "./signature";

const SECRET = "bench-secret";

export async function runWebhookBench(opts: { rate: number; duration: number; tenants: number; skipEngine?: boolean; stack: string }): Promise<void> {
    const ack = await ackLatency(opts.rate, opts.duration);
    process.stdout.write(
        `ack latency at ${opts.rate} req/s for ${opts.duration}s: p50 ${ack.p50} ms, p99 ${ack.p99} ms, max ${ack.max} ms; ${ack.requests} requests, ${ack.non2xx} non-2xx, ${ack.errors} errors (target: p99 < 100 ms)\n`,
    );
    if (opts.skipEngine) return;
    const engine = await namespaceReady(opts.tenants, opts.stack);
    for (const r of engine) {
        process.stdout.write(`webhook -> namespace ready with ${opts.tenants} tenants in the region (${r.mode} update): ${r.seconds.toFixed(1)} s (job ${r.jobSeconds.toFixed(1)} s)\n`);
    }
}

function tempDir(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), "cv-bench-webhooks-"));
}

interface AckFigures {
    p50: number;
    p99: number;
    max: number;
    requests: number;
    non2xx: number;
    errors: number;
}

async function ackLatency(rate: number, duration: number): Promise<AckFigures> {
    const dir = tempDir();
    const manifestPath = path.join(dir, "tenants.yaml");
    fs.copyFileSync(path.join(PROJECT_DIR, "tenants.yaml"), manifestPath);
    const svc = await createService({
        manifestPath,
        storePath: path.join(dir, "service.db"),
        deployer: new FakeDeployer({ delayMs: 1000 }),
        secrets: [SECRET],
        logger: pino({ level: "warn" }),
    });
    await svc.app.listen({ host: "127.0.0.1", port: 0 });
    const address = svc.app.server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const tenants = ["abc", "nordic", "xyz"];
    const tiers = ["standard", "premium", "business"];
    let n = 0;
    try {
        const result = await autocannon({
            url: `http://127.0.0.1:${port}/webhooks/billing`,
            method: "POST",
            connections: 20,
            overallRate: rate,
            duration,
            requests: [
                {
                    setupRequest: (req) => {
                        n += 1;
                        const body = JSON.stringify({
                            id: `evt_bench_${process.pid}_${n}`,
                            type: "subscription.updated",
                            created: Math.floor(Date.now() / 1000),
                            data: { tenantId: tenants[n % tenants.length], tier: tiers[Math.floor(n / tenants.length) % tiers.length] },
                        });
                        return { ...req, method: "POST", body, headers: { "content-type": "application/json", "billing-signature": signatureHeader(SECRET, body) } };
                    },
                },
            ],
        });
        return {
            p50: result.latency.p50,
            p99: result.latency.p99,
            max: result.latency.max,
            requests: result.requests.total,
            non2xx: result.non2xx,
            errors: result.errors,
        };
    } finally {
        await svc.close();
    }
}

function syntheticManifest(count: number): string {
    const tenants = Array.from({ length: count }, (_, i) => ({
        id: `bench${i}`,
        websiteId: 100_000 + i,
        name: `Bench shop ${i}`,
        domain: `client-bench${i}.collectverything.com`,
        customDomains: [],
        tier: "standard",
        region: "eu-west",
        billingId: `sub_bench${i}`,
        costCenter: "CC-BENCH-001",
        department: "retail",
        createdDate: "2025-01-15",
        status: "active",
    }));
    return `# bench-webhooks: ${count} synthetic tenants\n${stringify({ tenants })}`;
}

function readLocalEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    const file = path.join(PROJECT_DIR, ".work/local.env");
    for (const m of fs.readFileSync(file, "utf8").matchAll(/^export ([A-Z0-9_]+)="([^"]*)"$/gm)) env[m[1]] = m[2];
    return env;
}

/** GET on the local API server with the kubeconfig's client certificate; undefined on 404. */
interface Named<T> {
    name: string;
    context: T;
    cluster: T;
    user: T;
}
type Kv = Record<string, string>;

function kubeGet(kubeconfig: string, apiPath: string): Promise<{ status?: { phase?: string } } | undefined> {
    const kc = parse(fs.readFileSync(kubeconfig, "utf8")) as { "current-context": string; contexts: Named<Kv>[]; clusters: Named<Kv>[]; users: Named<Kv>[] };
    const ctx = kc.contexts.find((c) => c.name === kc["current-context"])!.context;
    const cl = kc.clusters.find((c) => c.name === ctx.cluster)!.cluster;
    const u = kc.users.find((x) => x.name === ctx.user)!.user;
    const load = (data?: string, file?: string) => (data ? Buffer.from(data, "base64") : fs.readFileSync(path.resolve(path.dirname(kubeconfig), file!)));
    return new Promise((resolve, reject) => {
        https
            .get(new URL(cl.server + apiPath), { ca: load(cl["certificate-authority-data"], cl["certificate-authority"]), cert: load(u["client-certificate-data"], u["client-certificate"]), key: load(u["client-key-data"], u["client-key"]) }, (res) => {
                let s = "";
                res.on("data", (d) => (s += d));
                res.on("end", () => resolve(res.statusCode === 404 ? undefined : (JSON.parse(s) as { status?: { phase?: string } })));
            })
            .on("error", reject);
    });
}

async function namespaceReady(count: number, stack: string): Promise<{ mode: TargetMode; seconds: number; jobSeconds: number }[]> {
    const env = readLocalEnv();
    const dir = tempDir();
    const manifestPath = path.join(dir, "tenants.yaml");
    fs.writeFileSync(manifestPath, syntheticManifest(count));
    const backend = path.join(dir, "state");
    fs.mkdirSync(backend);
    const envVars: Record<string, string> = {
        PULUMI_BACKEND_URL: `file://${backend}`,
        PULUMI_CONFIG_PASSPHRASE: "local-only-passphrase",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        KUBECONFIG: env.KUBECONFIG,
    };
    process.stdout.write(`prefill: deploying ${count} tenants to stack ${stack} (not timed)...\n`);
    const t0 = Date.now();
    await new PulumiDeployer({ projectDir: PROJECT_DIR, manifestPath, stateDir: dir, envVars, targetMode: "never" }).deploy({
        jobId: "prefill",
        region: "eu-west",
        stack,
        tenants: [],
        signal: new AbortController().signal,
        onOutput: () => undefined,
    });
    process.stdout.write(`prefill done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const out: { mode: TargetMode; seconds: number; jobSeconds: number }[] = [];
    for (const mode of ["existing", "never"] as TargetMode[]) {
        const deployer = new PulumiDeployer({ projectDir: PROJECT_DIR, manifestPath, stateDir: dir, envVars, targetMode: mode });
        const svc = await createService({ manifestPath, storePath: path.join(dir, `service-${mode}.db`), deployer, secrets: [SECRET], stacks: { "eu-west": stack }, logger: pino({ level: "warn" }) });
        await svc.app.listen({ host: "127.0.0.1", port: 0 });
        const address = svc.app.server.address();
        const port = typeof address === "object" && address ? address.port : 0;
        const id = `benchnew${mode === "never" ? "full" : "tgt"}`;
        const body = JSON.stringify({
            id: `evt_bench_ready_${mode}_${Date.now()}`,
            type: "subscription.created",
            data: { tenantId: id, websiteId: 900_000 + out.length, name: id, domain: `client-${id}.collectverything.com`, tier: "standard", region: "eu-west", billingId: `sub_${id}`, costCenter: "CC-BENCH-001", department: "retail" },
        });
        const started = Date.now();
        const res = await fetch(`http://127.0.0.1:${port}/webhooks/billing`, { method: "POST", body, headers: { "content-type": "application/json", "billing-signature": signatureHeader(SECRET, body) } });
        const { jobId } = (await res.json()) as { jobId: string };
        for (;;) {
            const ns = await kubeGet(env.KUBECONFIG, `/api/v1/namespaces/e-commerce-client-${id}`);
            if (ns?.status?.phase === "Active") break;
            if (Date.now() - started > 900_000) throw new Error("namespace not ready after 15 minutes");
            await new Promise((r) => setTimeout(r, 100));
        }
        const seconds = (Date.now() - started) / 1000;
        await svc.queue.idle();
        const job = svc.store.getJob(jobId)!;
        if (job.state !== "succeeded") throw new Error(`job ${job.state}: ${job.error}`);
        out.push({ mode, seconds, jobSeconds: (Date.parse(job.finishedAt!) - Date.parse(job.startedAt!)) / 1000 });
        await svc.close();
    }
    return out;
}
