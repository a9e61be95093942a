/** Shared set-up for the webhook service tests: a temp manifest, a service on a fake deployer, signed requests. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import type { Deployer } from "../../core/deployer";
import { PROJECT_DIR } from "../../core/project";
import { createService, type Service, type ServiceOptions } from "../../service/service";
import { signatureHeader } from "../../service/signature";

export const SECRET = "whsec_test_current";
export const OLD_SECRET = "whsec_test_previous";
/** The status endpoints' token of the test services; `request` sends it unless told otherwise. */
export const STATUS_TOKEN = "status_test_token";
export const REPO_MANIFEST = path.join(PROJECT_DIR, "tenants.yaml");

export function tempDir(prefix = "cv-webhooks-"): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A copy of the repository's tenants.yaml in a fresh temp dir. */
export function tempManifest(dir = tempDir()): string {
    const file = path.join(dir, "tenants.yaml");
    fs.copyFileSync(REPO_MANIFEST, file);
    return file;
}

export type TestService = Service & { dir: string; manifestPath: string; baseUrl: string };

export async function startService(deployer: Deployer, overrides: Partial<ServiceOptions> = {}): Promise<TestService> {
    const dir = tempDir();
    const manifestPath = overrides.manifestPath ?? tempManifest(dir);
    const svc = await createService({
        manifestPath,
        storePath: path.join(dir, "service.db"),
        deployer,
        secrets: [SECRET],
        statusTokens: [STATUS_TOKEN],
        logger: pino({ level: process.env.CV_TEST_LOG ?? "silent" }),
        runner: { retryDelayMs: 5, maxRetryDelayMs: 20, maxAttempts: 3, lockAttempts: 10 },
        ...overrides,
    });
    await svc.app.listen({ host: "127.0.0.1", port: 0 });
    const address = svc.app.server.address();
    const baseUrl = typeof address === "object" && address ? `http://127.0.0.1:${address.port}` : "";
    return Object.assign(svc, { dir, manifestPath, baseUrl });
}

export interface Res {
    readonly statusCode: number;
    readonly body: string;
    readonly headers: Headers;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
    json(): any;
}

/**
 * An HTTP request over loopback (Fastify's inject needs an ESM-only module jest cannot load), with the
 * service's status token (`svc.statusToken`, else STATUS_TOKEN) unless `auth` is false or the headers carry an authorization.
 */
export async function request(
    svc: { baseUrl: string; statusToken?: string },
    req: { method?: string; url: string; payload?: string; headers?: Record<string, string>; auth?: boolean },
): Promise<Res> {
    const headers: Record<string, string> = { ...req.headers };
    if (req.auth !== false && !Object.keys(headers).some((h) => h.toLowerCase() === "authorization"))
        headers.authorization = `Bearer ${svc.statusToken ?? STATUS_TOKEN}`;
    const r = await fetch(`${svc.baseUrl}${req.url}`, { method: req.method ?? "GET", body: req.payload, headers });
    const body = await r.text();
    return { statusCode: r.status, body, headers: r.headers, json: () => JSON.parse(body) };
}

export function signed(body: unknown, opts: { secret?: string; timestamp?: number } = {}): { payload: string; headers: Record<string, string> } {
    const payload = typeof body === "string" ? body : JSON.stringify(body);
    return {
        payload,
        headers: { "content-type": "application/json", "billing-signature": signatureHeader(opts.secret ?? SECRET, payload, opts.timestamp) },
    };
}

export async function post(svc: { baseUrl: string }, body: unknown, opts: { secret?: string; timestamp?: number; headers?: Record<string, string> } = {}) {
    const s = signed(body, opts);
    return request(svc, { method: "POST", url: "/webhooks/billing", payload: s.payload, headers: { ...s.headers, ...opts.headers } });
}

let seq = 0;
export function eventId(): string {
    seq += 1;
    return `evt_${process.pid}_${Date.now()}_${seq}`;
}

export function createdEvent(tenantId: string, overrides: Record<string, unknown> = {}, id = eventId()) {
    return {
        id,
        type: "subscription.created",
        created: Math.floor(Date.now() / 1000),
        data: {
            tenantId,
            websiteId: 5000 + Math.floor(Math.random() * 1_000_000),
            name: `Shop ${tenantId}`,
            domain: `client-${tenantId}.collectverything.com`,
            customDomains: [],
            tier: "standard",
            region: "eu-west",
            billingId: `sub_${tenantId.replace(/-/g, "_")}`,
            costCenter: "CC-NEW-001",
            department: "retail",
            ...overrides,
        },
    };
}

export function event(type: string, data: Record<string, unknown>, id = eventId()) {
    return { id, type, created: Math.floor(Date.now() / 1000), data };
}
