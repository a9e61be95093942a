/**
 * Which stacks a change touches (the preview workflow: README, "Region
 * shards", "Workflows"): from each region's layout before and after the
 * change (`tenantctl shards --format json` on the base and head manifest and
 * settings), the two manifests and the list of changed files. Pure.
 *
 *  - a changed, added or removed tenant: the stack that holds it after the
 *    change and the one that held it before (a removal deletes there);
 *  - a region's settings file (`Pulumi.<region>.yaml`): every stack of that
 *    region (the shards read it, the region stack owns the shared resources);
 *  - the program (any file not known to stay out of it) or a manifest key
 *    other than `tenants`: every stack of every region.
 * Unaffected stacks are not previewed: their program and inputs are those of
 * the base branch, so their plan is the base branch's.
 */
import { parse as parseYaml } from "yaml";

/** `tenantctl shards --format json` of one region stack. */
export interface LayoutJson {
    readonly region: string;
    readonly shards: readonly { readonly stack: string; readonly tenants: readonly string[] }[];
}

export interface AffectedInput {
    /** The layouts with the base branch's manifest and settings; a region new in the change has none. */
    readonly base: readonly LayoutJson[];
    /** The layouts of the change: the regions to consider, in this order. */
    readonly head: readonly LayoutJson[];
    /** The base branch's manifest text; undefined when it had none. */
    readonly baseManifest?: string;
    readonly headManifest: string;
    /** Repository paths the change touches (`git diff --name-only base head`). */
    readonly changedFiles: readonly string[];
    /** The manifest's path in the repository. Default: tenants.yaml. */
    readonly manifestPath?: string;
}

export interface AffectedStack {
    /** The region stack (`eu-west`): its settings file and its GitHub environments are named after it. */
    readonly region: string;
    readonly stack: string;
    /** Why it is previewed, e.g. `tenant nordic`, `settings Pulumi.eu-west.yaml`, `program components/tenant.ts`. */
    readonly reasons: readonly string[];
}

export interface AffectedResult {
    /** The stacks to preview, per region in the head's order: the region stack first, then its shards. */
    readonly include: readonly AffectedStack[];
    /** Every other stack of the head layouts, in the same order. */
    readonly unaffected: readonly string[];
}

/**
 * Paths that never change what a stack deploys: the CLI, the service,
 * tests, benches, docs, workflows, scripts and tools. Anything else (index.ts,
 * components/, stacks/, lib/, core/, policy/, package files, tsconfig) is the
 * program.
 */
const OUTSIDE_PROGRAM = [/\.md$/, /^(cli|service|test|bench|scripts|tools|docs|\.github|\.ci)\//, /^(tenantctl|Makefile|Dockerfile\.tenantctl|\.gitignore)$/];

/** The config files of stacks: Pulumi.<stack>.yaml (not Pulumi.yaml, the project). */
const SETTINGS_FILE = /^Pulumi\.(.+)\.yaml$/;

type Entries = Map<string, string>;

/** Tenant id -> canonical JSON of its entry, and the canonical JSON of the other top-level keys. */
function manifestEntries(text: string | undefined): { tenants: Entries; rest: string } {
    const doc = (text === undefined ? {} : (parseYaml(text) ?? {})) as Record<string, unknown>;
    const tenants = new Map<string, string>();
    for (const t of Array.isArray(doc.tenants) ? (doc.tenants as unknown[]) : []) {
        if (t !== null && typeof t === "object" && typeof (t as { id?: unknown }).id === "string") tenants.set((t as { id: string }).id, canonical(t));
    }
    const rest = Object.fromEntries(Object.entries(doc).filter(([k]) => k !== "tenants"));
    return { tenants, rest: canonical(rest) };
}

/** JSON with object keys sorted, so that reordering keys is no change. */
function canonical(v: unknown): string {
    if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
    if (v !== null && typeof v === "object")
        return `{${Object.keys(v)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
            .join(",")}}`;
    return JSON.stringify(v) ?? "null";
}

/**
 * The tenants whose entry differs between two manifests (added, removed or
 * edited; reordering is no change), sorted, and whether anything outside
 * `tenants` changed.
 */
export function changedTenants(baseText: string | undefined, headText: string): { tenants: string[]; otherKeys: boolean } {
    const base = manifestEntries(baseText);
    const head = manifestEntries(headText);
    const ids = new Set([...base.tenants.keys(), ...head.tenants.keys()]);
    const tenants = [...ids].filter((id) => base.tenants.get(id) !== head.tenants.get(id)).sort();
    return { tenants, otherKeys: base.rest !== head.rest };
}

/** Every stack of a region: its region stack, then its shard stacks (for one shard, the region stack holds the tenants). */
function stacksOf(layout: LayoutJson): string[] {
    return [...new Set([layout.region, ...layout.shards.map((s) => s.stack)])];
}

/** The stacks the change touches, and the others. */
export function affectedStacks(input: AffectedInput): AffectedResult {
    const manifestPath = input.manifestPath ?? "tenants.yaml";
    const reasons = new Map<string, string[]>();
    const add = (stack: string, reason: string) => {
        const r = reasons.get(stack) ?? [];
        if (!r.includes(reason)) r.push(reason);
        reasons.set(stack, r);
    };
    const regions = new Set(input.head.map((l) => l.region));

    const program = input.changedFiles.filter((f) => f !== manifestPath && !SETTINGS_FILE.test(f) && !OUTSIDE_PROGRAM.some((re) => re.test(f)));
    const manifest = changedTenants(input.baseManifest, input.headManifest);
    for (const layout of input.head) {
        const all = stacksOf(layout);
        if (program.length > 0) for (const s of all) add(s, `program ${program[0]}${program.length > 1 ? ` (+${program.length - 1} more)` : ""}`);
        if (manifest.otherKeys) for (const s of all) add(s, `${manifestPath} outside tenants`);
        const settings = `Pulumi.${layout.region}.yaml`;
        if (input.changedFiles.includes(settings)) for (const s of all) add(s, `settings ${settings}`);
    }

    const holder = (layouts: readonly LayoutJson[], id: string) => {
        for (const l of layouts) for (const s of l.shards) if (s.tenants.includes(id)) return { region: l.region, stack: s.stack };
        return undefined;
    };
    for (const id of manifest.tenants) {
        for (const h of [holder(input.head, id), holder(input.base, id)]) if (h && regions.has(h.region)) add(h.stack, `tenant ${id}`);
    }

    const include: AffectedStack[] = [];
    const unaffected: string[] = [];
    for (const layout of input.head) {
        for (const stack of stacksOf(layout)) {
            const r = reasons.get(stack);
            if (r) include.push({ region: layout.region, stack, reasons: r });
            else unaffected.push(stack);
        }
    }
    return { include, unaffected };
}

/** The markdown line the PR comment shows above the previews. */
export function affectedMarkdown(result: AffectedResult): string {
    const previewed = result.include.map((a) => `\`${a.stack}\` (${a.reasons.join("; ")})`);
    const lines = [
        `**Stacks previewed:** ${previewed.length > 0 ? previewed.join(", ") : "none: no tenant, settings or program change"}`,
        ...(result.unaffected.length > 0
            ? [
                  `**Not previewed** (no tenant, settings or program change; their plan is the base branch's): ${result.unaffected.map((s) => `\`${s}\``).join(", ")}`,
              ]
            : []),
    ];
    return `${lines.join("\n\n")}\n`;
}
