/**
 * `tenantctl diff`: what a manifest change does to each region stack, per
 * tenant, computed from two offline synths (base and changed manifest).
 * This is what a reviewer reads on a pull request. Unsafe changes (a
 * protected data resource would be deleted, a tenant moves region) are
 * flagged and make the command exit 1.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { formatIssues, validateManifest, type TenantSpec } from "../lib/manifest";
import { REGIONS } from "../lib/regions";

const execFileAsync = promisify(execFile);

export interface DiffResource {
    readonly type: string;
    readonly name: string;
    readonly urn?: string;
    readonly tenant?: string | null;
    readonly protect?: boolean;
    readonly inputs: Record<string, unknown>;
}

export interface ResourceChange {
    readonly kind: "add" | "remove" | "update";
    readonly type: string;
    readonly name: string;
    readonly tenant: string;
    /** For updates: the input paths that differ, with old and new values. */
    readonly fields: readonly { path: string; before: unknown; after: unknown }[];
    /** Why this change must not be applied, if it must not. */
    readonly blocked?: string;
}

export interface StackDiff {
    readonly stack: string;
    readonly region: string;
    readonly changes: readonly ResourceChange[];
    /** Manifest-level findings, e.g. a tenant moving between regions. */
    readonly findings: readonly string[];
}

function keyOf(r: DiffResource): string {
    return r.urn ?? `${r.type}::${r.name}`;
}

/** Leaf-level differences between two input trees, as dotted paths. */
export function inputDifferences(before: unknown, after: unknown, prefix = ""): { path: string; before: unknown; after: unknown }[] {
    if (JSON.stringify(before) === JSON.stringify(after)) return [];
    const isObj = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
    if (isObj(before) && isObj(after)) {
        const b = before as Record<string, unknown>;
        const a = after as Record<string, unknown>;
        const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].sort();
        return keys.flatMap((k) => inputDifferences(b[k], a[k], prefix ? `${prefix}.${k}` : k));
    }
    return [{ path: prefix || "(value)", before, after }];
}

/** Compares two synths of one stack. Pure. */
export function diffResources(base: readonly DiffResource[], next: readonly DiffResource[]): ResourceChange[] {
    const before = new Map(base.map((r) => [keyOf(r), r]));
    const after = new Map(next.map((r) => [keyOf(r), r]));
    const changes: ResourceChange[] = [];
    for (const [key, r] of after) {
        const old = before.get(key);
        if (!old) {
            changes.push({ kind: "add", type: r.type, name: r.name, tenant: r.tenant ?? "(shared)", fields: [] });
        } else {
            const fields = inputDifferences(old.inputs, r.inputs);
            if (fields.length > 0) changes.push({ kind: "update", type: r.type, name: r.name, tenant: r.tenant ?? "(shared)", fields });
        }
    }
    for (const [key, r] of before) {
        if (!after.has(key)) {
            changes.push({
                kind: "remove",
                type: r.type,
                name: r.name,
                tenant: r.tenant ?? "(shared)",
                fields: [],
                blocked: r.protect ? "protected data resource: `pulumi up` refuses to delete it; offboard through the cancellation grace period instead" : undefined,
            });
        }
    }
    const order = { remove: 0, update: 1, add: 2 };
    return changes.sort((a, b) => a.tenant.localeCompare(b.tenant) || order[a.kind] - order[b.kind] || a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
}

/** Tenants that changed region between the two manifests: data never crosses regions. */
export function regionMoves(base: readonly TenantSpec[], next: readonly TenantSpec[]): string[] {
    const was = new Map(base.map((t) => [t.id, t.region]));
    return next
        .filter((t) => was.has(t.id) && was.get(t.id) !== t.region)
        .map(
            (t) =>
                `tenant "${t.id}" moves from ${was.get(t.id)} to ${t.region}: refused, data never leaves its region. ` +
                `To move a client, onboard it under a new id in ${t.region}, migrate its data, then cancel "${t.id}".`,
        );
}

function render(value: unknown): string {
    if (value === undefined) return "(none)";
    const text = JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const SYMBOL = { add: "+", remove: "-", update: "~" } as const;

export function markdown(diffs: readonly StackDiff[]): string {
    const lines: string[] = [];
    for (const d of diffs) {
        const count = (k: ResourceChange["kind"]) => d.changes.filter((c) => c.kind === k).length;
        lines.push(`### Region \`${d.region}\` (stack \`${d.stack}\`): ${count("add")} to add, ${count("update")} to change, ${count("remove")} to remove`);
        for (const f of d.findings) lines.push(`> **Refused:** ${f}`);
        if (d.changes.length === 0) {
            lines.push("No resource changes.", "");
            continue;
        }
        const tenants = [...new Set(d.changes.map((c) => c.tenant))];
        for (const tenant of tenants) {
            const own = d.changes.filter((c) => c.tenant === tenant);
            lines.push("", `<details${own.some((c) => c.blocked) ? " open" : ""}><summary>${tenant === "(shared)" ? "shared resources" : `tenant <code>${tenant}</code>`}: ${own.length} change${own.length === 1 ? "" : "s"}${own.some((c) => c.blocked) ? " ⛔" : ""}</summary>`, "");
            lines.push("| | type | name | details |", "|---|---|---|---|");
            for (const c of own) {
                const details = c.blocked
                    ? `⛔ ${c.blocked}`
                    : c.fields
                          .slice(0, 6)
                          .map((f) => `\`${f.path}\`: ${render(f.before)} → ${render(f.after)}`)
                          .join("<br>") + (c.fields.length > 6 ? `<br>…and ${c.fields.length - 6} more` : "");
                lines.push(`| ${SYMBOL[c.kind]} | \`${c.type}\` | \`${c.name}\` | ${details.replace(/\|/g, "\\|")} |`);
            }
            lines.push("", "</details>");
        }
        lines.push("");
    }
    return lines.join("\n");
}

async function synthFile(stack: string, manifest: string, out: string): Promise<{ region: string; resources: DiffResource[] }> {
    await execFileAsync(process.execPath, [...process.execArgv, path.join(__dirname, "main.ts"), "_synth-worker", "--stack", stack, "--manifest", manifest, "--out", out, "--full"], {
        maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(fs.readFileSync(out, "utf8")) as { region: string; resources: DiffResource[] };
}

/** Runs `tasks` with at most `limit` at a time. */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
    const results: T[] = new Array(tasks.length);
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.min(limit, tasks.length) }, async () => {
            while (next < tasks.length) {
                const i = next++;
                results[i] = await tasks[i]();
            }
        }),
    );
    return results;
}

export interface DiffOptions {
    readonly stacks: string;
    readonly base: string;
    readonly manifest: string;
    readonly format: "markdown" | "json";
}

export async function runDiff(opts: DiffOptions): Promise<number> {
    const read = (file: string) => {
        try {
            return fs.readFileSync(file, "utf8");
        } catch (err) {
            process.stderr.write(`${file}: cannot read the manifest (${(err as NodeJS.ErrnoException).code}). Fix: check the path.\n`);
            return undefined;
        }
    };
    const baseSrc = read(opts.base);
    const nextSrc = read(opts.manifest);
    if (baseSrc === undefined || nextSrc === undefined) return 1;
    const baseRes = validateManifest(baseSrc, opts.base);
    const nextRes = validateManifest(nextSrc, opts.manifest);
    if (!nextRes.ok) {
        process.stderr.write(`${formatIssues(nextRes.issues)}\n`);
        return 1;
    }
    if (!baseRes.ok) {
        process.stderr.write(`the base manifest is invalid; diffing against an empty base.\n`);
    }
    const baseTenants = baseRes.ok ? baseRes.manifest.tenants : [];
    const moves = regionMoves(baseTenants, nextRes.manifest.tenants);

    const stacks = opts.stacks === "all" ? [...REGIONS] : opts.stacks.split(",");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tenantctl-diff-"));
    try {
        const emptyBase = path.join(dir, "empty.yaml");
        fs.writeFileSync(emptyBase, "tenants: []\n");
        const baseFile = baseRes.ok ? opts.base : emptyBase;
        const jobs = stacks.flatMap((stack) => [
            () => synthFile(stack, baseFile, path.join(dir, `${stack}-base.json`)),
            () => synthFile(stack, opts.manifest, path.join(dir, `${stack}-next.json`)),
        ]);
        const synths = await pool(jobs, Math.max(1, Math.min(os.availableParallelism(), 4)));
        const diffs: StackDiff[] = stacks.map((stack, i) => {
            const [b, n] = [synths[2 * i], synths[2 * i + 1]];
            const region = n.region;
            return {
                stack,
                region,
                changes: diffResources(b.resources, n.resources),
                findings: moves.filter((m) => m.includes(` to ${region}:`) || m.includes(`from ${region} `)),
            };
        });
        process.stdout.write(opts.format === "json" ? `${JSON.stringify(diffs, null, 2)}\n` : `${markdown(diffs)}\n`);
        const unsafe = diffs.some((d) => d.findings.length > 0 || d.changes.some((c) => c.blocked));
        if (unsafe) process.stderr.write("tenantctl diff: this change is unsafe (see ⛔ / Refused above)\n");
        return unsafe ? 1 : 0;
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
