/**
 * Shared plumbing of the contract tests: the local services' endpoints, the
 * contract manifest, and what the program declares for it (from the synth
 * recorder, i.e. exactly the inputs `pulumi up` sends to the providers).
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { SynthResource } from "../../core/synth";

export const REPO_ROOT = path.resolve(__dirname, "../..");
export const LOCAL_ENV_FILE = path.join(REPO_ROOT, ".work", "local.env");

/** A TCP port free on 127.0.0.1 right now (for a server a test starts itself). */
export async function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const port = (server.address() as net.AddressInfo).port;
            server.close(() => resolve(port));
        });
    });
}

/**
 * Tenant ids of the contract manifest. "a-b" and "a1b" are the pair that
 * proves the `_` escaping of GRANT patterns: client_a_b_auth_db, read as a
 * LIKE pattern, also matches client_a1b_auth_db.
 */
export const TENANT_A = "a-b";
export const TENANT_B = "a1b";
/** The region stack whose synth provides the declarations: every feature on. */
export const CONTRACT_STACK = "eu-west";

export interface LocalServices {
    readonly mysql: { readonly host: string; readonly port: number; readonly user: string; readonly password: string };
    readonly rabbitmq: { readonly host: string; readonly amqpPort: number; readonly mgmtUrl: string; readonly user: string; readonly password: string };
}

/** `export KEY="value"` lines of .work/local.env, overridden by the process environment. */
export function readLocalEnv(file = LOCAL_ENV_FILE): Record<string, string> {
    const values: Record<string, string> = {};
    if (fs.existsSync(file)) {
        for (const line of fs.readFileSync(file, "utf8").split("\n")) {
            const m = /^\s*(?:export\s+)?([A-Z0-9_]+)=(?:"([^"]*)"|'([^']*)'|(\S*))\s*$/.exec(line);
            if (m) values[m[1]] = m[2] ?? m[3] ?? m[4] ?? "";
        }
    }
    for (const [k, v] of Object.entries(process.env)) {
        if (k.startsWith("CV_") && v !== undefined) values[k] = v;
    }
    return values;
}

/** The loopback MariaDB and RabbitMQ that `make local-up` starts; throws with the fix when they are not configured. */
export function localServices(): LocalServices {
    const env = readLocalEnv();
    const need = (key: string): string => {
        const value = env[key];
        if (!value) {
            throw new Error(`${key} is not set (read from ${LOCAL_ENV_FILE} and the environment). Fix: run \`make local-up\` (scripts/local-up.sh) first.`);
        }
        return value;
    };
    const secret = (key: string): string => fs.readFileSync(need(key), "utf8").trim();
    return {
        mysql: {
            host: need("CV_MYSQL_HOST"),
            port: Number(need("CV_MYSQL_PORT")),
            user: need("CV_MYSQL_ADMIN_USER"),
            password: secret("CV_MYSQL_ADMIN_PASSWORD_FILE"),
        },
        rabbitmq: {
            host: need("CV_RABBITMQ_HOST"),
            amqpPort: Number(need("CV_RABBITMQ_AMQP_PORT")),
            mgmtUrl: need("CV_RABBITMQ_MGMT_URL").replace(/\/$/, ""),
            user: need("CV_RABBITMQ_ADMIN_USER"),
            password: secret("CV_RABBITMQ_ADMIN_PASSWORD_FILE"),
        },
    };
}

/** A manifest entry in the shape of tenants.yaml. */
function entry(id: string, websiteId: number, tier: string): string {
    return [
        `  - id: ${id}`,
        `    websiteId: ${websiteId}`,
        `    name: Contract tenant ${id}`,
        `    domain: client-${id}.collectverything.com`,
        `    customDomains: []`,
        `    tier: ${tier}`,
        `    region: ${CONTRACT_STACK}`,
        `    billingId: sub_contract_${id.replace(/-/g, "_")}`,
        `    costCenter: CC-CONTRACT`,
        `    department: contract-tests`,
        `    createdDate: 2025-01-15`,
        `    status: active`,
    ].join("\n");
}

/** Writes the contract manifest (tenants A and B, both in the contract stack's region) to a fresh temp dir. */
export function writeContractManifest(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cv-contract-"));
    const file = path.join(dir, "tenants.yaml");
    fs.writeFileSync(file, `tenants:\n${entry(TENANT_A, 9101, "standard")}\n\n${entry(TENANT_B, 9102, "premium")}\n`);
    return file;
}

/**
 * Every resource the program declares for the contract manifest in the
 * contract stack, through the offline synth recorder (secrets redacted).
 * The synth runtime is a process singleton: call this once per test file.
 */
export async function declaredResources(): Promise<SynthResource[]> {
    const manifest = writeContractManifest();
    try {
        // Imported here so that the Pulumi runtime is loaded by the test file that needs it.
        const { synthesize } = require("../../core/synth") as typeof import("../../core/synth");
        const result = await synthesize({ stack: CONTRACT_STACK, manifest });
        return result.resources;
    } finally {
        fs.rmSync(path.dirname(manifest), { recursive: true, force: true });
    }
}

/** The declared custom resources of one type token, for one tenant, in URN order. */
export function ofType(resources: readonly SynthResource[], type: string, tenant: string): SynthResource[] {
    return resources.filter((r) => r.type === type && r.tenant === tenant);
}

/** A string input of a declared resource; fails loudly (with the URN) when it is missing or not a string. */
export function input(resource: SynthResource, key: string): string {
    const value = resource.inputs[key];
    if (typeof value !== "string") throw new Error(`${resource.urn}: input ${key} is ${JSON.stringify(value)}, expected a string`);
    return value;
}

/** A password like the program's RandomPassword (letters and digits, `length` long): synth redacts the real ones. */
export function testPassword(length = 32): string {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const bytes = randomBytes(length);
    return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

/** The error a promise rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
    try {
        await promise;
    } catch (err) {
        return err as Error & Record<string, unknown>;
    }
    throw new Error("expected the operation to be refused, but it succeeded");
}
