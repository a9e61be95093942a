/**
 * What the rotation contract tests share (test/contract/rotation.test.ts for
 * MariaDB and RabbitMQ, test/contract/objectStoreRotation.test.ts for the
 * object store): the program synthesized for one tenant in a state of the
 * `rotations:` block, the provider's RandomPassword as an oracle, the
 * dependency lookups the engine's order follows, and the client that
 * reconnects every 100 ms with what the Secret holds.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import type { SynthResource } from "../../core/synth";
import type { CredentialState } from "../../lib/rotation";
import type { SynthRecord } from "../../core/synthProcess";
import { REPO_ROOT, testPassword } from "./contract";

/** The tenant a rotation contract test synthesizes: what differs between the tests. */
export interface RotationTenant {
    readonly id: string;
    readonly websiteId: number;
    readonly name: string;
    readonly region: string;
    readonly billingId: string;
}

/** A manifest of that one active tenant, with its `rotations:` entry (credential key -> state) when given. */
export function rotationManifest(t: RotationTenant, rotations?: Readonly<Record<string, CredentialState>>): string {
    const lines = [
        "tenants:",
        `  - id: ${t.id}`,
        `    websiteId: ${t.websiteId}`,
        `    name: ${t.name}`,
        `    domain: client-${t.id}.collectverything.com`,
        "    customDomains: []",
        "    tier: standard",
        `    region: ${t.region}`,
        `    billingId: ${t.billingId}`,
        "    costCenter: CC-CONTRACT",
        "    department: contract-tests",
        "    createdDate: 2025-01-15",
        "    status: active",
    ];
    if (rotations) {
        lines.push("rotations:", `  ${t.id}:`);
        for (const [k, s] of Object.entries(rotations))
            lines.push(`    ${k}: {generation: ${s.generation}, rotatedAt: "${s.rotatedAt}", retired: ${s.retired}}`);
    }
    return `${lines.join("\n")}\n`;
}

/** The custom resources of `tenant` in `stack`'s program for the manifest `source` (core/synthProcess.ts in a child: one Pulumi runtime each). */
export async function declaredTenant(work: string, tenant: string, stack: string, source: string, label: string): Promise<SynthResource[]> {
    const file = path.join(work, `${stack}-${label}.yaml`);
    fs.writeFileSync(file, source);
    const out = path.join(work, `${stack}-${label}.json`);
    await promisify(execFile)(
        process.execPath,
        ["--import", "tsx", path.join(REPO_ROOT, "core", "synthProcess.ts"), "--stack", stack, "--manifest", file, "--out", out, "--full"],
        { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 },
    );
    const record = JSON.parse(fs.readFileSync(out, "utf8")) as SynthRecord;
    return record.resources.filter((r) => r.tenant === tenant && r.custom);
}

/** The provider's RandomPassword: a value per (resource, keepers); changed keepers are a new value. */
export class PasswordOracle {
    private readonly values = new Map<string, string>();
    value(r: SynthResource): string {
        const key = `${r.urn} ${JSON.stringify(r.inputs.keepers ?? null)}`;
        let v = this.values.get(key);
        if (v === undefined) {
            v = testPassword(r.inputs.length as number);
            this.values.set(key, v);
        }
        return v;
    }
}

/**
 * A dependency URN's type and name (the recorder writes dependency URNs with
 * the type chain of the dependency's own parent only, so they are matched by
 * type and name, which are unique within the tenant).
 */
export const typeAndName = (urn: string) => {
    const parts = urn.split("::");
    return `${parts[2].split("$").pop()}::${parts[3]}`;
};

/** The only dependency of `r` of type `type`; fails naming both when there is not exactly one. */
export function dependency(resources: readonly SynthResource[], r: SynthResource, type: string): SynthResource {
    const deps = new Set((r.options.dependencies ?? []).map(typeAndName));
    const found = resources.filter((x) => x.type === type && deps.has(typeAndName(x.urn)));
    if (found.length !== 1) throw new Error(`${r.urn}: expected one ${type} among its dependencies, found ${found.length}`);
    return found[0];
}

export const byName = (resources: readonly SynthResource[], type: string, name: string): SynthResource => {
    const r = resources.find((x) => x.type === type && x.name === name);
    if (!r) throw new Error(`no ${type} named ${name}`);
    return r;
};

export interface ClientStats {
    connections: number;
    failures: string[];
}

/** Every 100 ms until `stop.done`: read the credentials (from the Secret) and connect with them; a thrown error is a failure. */
export async function reconnectEvery100ms<C>(read: () => Promise<C>, connect: (c: C) => Promise<void>, stop: { done: boolean }): Promise<ClientStats> {
    const stats: ClientStats = { connections: 0, failures: [] };
    while (!stop.done) {
        const started = Date.now();
        try {
            await connect(await read());
            stats.connections++;
        } catch (err) {
            // The message names the user, never the password.
            stats.failures.push(err instanceof Error ? err.message : String(err));
        }
        await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - started))));
    }
    return stats;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
