/**
 * Manifest fixtures: the shipped tenants.yaml as raw entries, and temporary
 * manifests built from variants of it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import type { TenantSpec } from "../../lib/manifest";
import { PROJECT_DIR } from "./synth";

export const SHIPPED_MANIFEST = path.join(PROJECT_DIR, "tenants.yaml");

/** A raw manifest entry, as written in YAML (before validation). */
export type RawTenant = Record<string, unknown> & { id: string };

/** The shipped manifest's entries, parsed but not validated, in file order. */
export function shippedEntries(): RawTenant[] {
    const doc = parse(fs.readFileSync(SHIPPED_MANIFEST, "utf8")) as { tenants: RawTenant[] };
    return doc.tenants.map((t) => ({ ...t }));
}

/** The shipped entries with one tenant's fields changed (`undefined` removes a field). */
export function withTenant(entries: readonly RawTenant[], id: string, change: Record<string, unknown>): RawTenant[] {
    if (!entries.some((t) => t.id === id)) throw new Error(`no tenant ${id} in the fixture`);
    return entries.map((t) => {
        if (t.id !== id) return t;
        const next: Record<string, unknown> = { ...t, ...change };
        for (const [k, v] of Object.entries(change)) if (v === undefined) delete next[k];
        return next as RawTenant;
    });
}

export function manifestYaml(entries: readonly RawTenant[]): string {
    return stringify({ tenants: entries });
}

/** A scratch directory for one test file; remove it with `fs.rmSync(dir, { recursive: true, force: true })`. */
export function tempDir(prefix: string): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), `cv-unit-${prefix}-`));
}

/** Writes a manifest of `entries` (or raw text) into `dir` and returns its path. */
export function writeManifest(dir: string, name: string, content: readonly RawTenant[] | string): string {
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(file, typeof content === "string" ? content : manifestYaml(content));
    return file;
}

/** A valid tenant (standard, active, eu-west, created 2025-01-01) with `change` applied: for tests that build manifests in memory. */
export function tenantSpec(id: string, change: Partial<TenantSpec> = {}): TenantSpec {
    return {
        id,
        websiteId: 1,
        name: id,
        domain: `client-${id}.collectverything.com`,
        customDomains: [],
        tier: "standard",
        region: "eu-west",
        billingId: `sub_${id}`,
        costCenter: "CC-1",
        department: "retail",
        createdDate: "2025-01-01",
        status: "active",
        ...change,
    };
}
