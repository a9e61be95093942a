/**
 * tenants.yaml: schema, parsing and whole-file validation.
 *
 * The file is validated completely before any resource exists. Every error
 * is collected and reported once, each naming the file, line, tenant, field,
 * bad value, what is allowed and the fix. Pure: no Pulumi imports.
 */
import { isMap, isScalar, LineCounter, parseDocument, type Document } from "yaml";
import { z } from "zod";
import { MAX_SHARDS } from "./shards";
import { DEFAULT_SERVICES, namesOverLimit, maxTenantIdLength, TENANT_ID_PATTERN } from "./naming";
import { REGIONS, type Region } from "./regions";
import { FINAL_BACKUP_RETENTION_YEARS } from "./retention";
import { credentialKeys, parseRotations, type Rotations } from "./rotation";
import { TIERS, type Tier } from "./tiers";

export const STATUSES = ["active", "suspended", "cancelled", "deleted"] as const;
export type TenantStatus = (typeof STATUSES)[number];

/** Days between cancellation and the earliest date the tenant's data may be removed. */
export const GRACE_PERIOD_DAYS = 30;

/**
 * Years a purged tenant's tombstone (`status: deleted`) reserves its id,
 * websiteId and domains: the retention of its final backup in the archive,
 * whose object keys and audit record name the tenant by these values.
 */
export const TOMBSTONE_RETENTION_YEARS = FINAL_BACKUP_RETENTION_YEARS;

/** deletedAt + TOMBSTONE_RETENTION_YEARS, as YYYY-MM-DD: the first day the tombstone's identifiers may be reused. */
export function reservedUntil(deletedAt: string): string {
    const d = new Date(`${deletedAt}T00:00:00Z`);
    d.setUTCFullYear(d.getUTCFullYear() + TOMBSTONE_RETENTION_YEARS);
    return d.toISOString().slice(0, 10);
}

export interface TenantSpec {
    /** Slug; derived names use "client-<id>". Never changes. */
    readonly id: string;
    /** The websites-table id, propagated in events. */
    readonly websiteId: number;
    /** Display name; free to change, affects no resource name. */
    readonly name: string;
    readonly domain: string;
    readonly customDomains: readonly string[];
    readonly tier: Tier;
    readonly region: Region;
    readonly billingId: string;
    readonly costCenter: string;
    readonly department: string;
    /** YYYY-MM-DD. */
    readonly createdDate: string;
    readonly status: TenantStatus;
    /** YYYY-MM-DD; required when status is cancelled or deleted. */
    readonly cancelledAt?: string;
    /** YYYY-MM-DD; the day `tenantctl purge` erased the tenant's data. Set exactly when status is deleted (a tombstone). */
    readonly deletedAt?: string;
    /** The region shard the tenant is pinned to (written by `tenantctl reshard`); default: a stable hash of the id. */
    readonly shard?: number;
}

export interface Manifest {
    /** The live tenants (every status but deleted): the ones the program declares. */
    readonly tenants: readonly TenantSpec[];
    /** Purged tenants (`status: deleted`): they declare nothing and reserve their id, websiteId and domains (TOMBSTONE_RETENTION_YEARS). */
    readonly tombstones?: readonly TenantSpec[];
    /** Credential rotation states by tenant (lib/rotation.ts); absent: every credential at generation 0. */
    readonly rotations?: Rotations;
}

export interface ManifestIssue {
    readonly file: string;
    readonly line?: number;
    readonly tenant?: string;
    readonly field?: string;
    /** The offending value, rendered for humans. */
    readonly value?: string;
    readonly problem: string;
    readonly allowed?: string;
    readonly fix: string;
    /** A value two entries both claim (a duplicate domain): the other entry, which holds it first in the file. */
    readonly conflict?: { readonly tenant: string; readonly value: string };
}

export class ManifestError extends Error {
    constructor(readonly issues: readonly ManifestIssue[]) {
        super(formatIssues(issues));
        this.name = "ManifestError";
    }
}

export interface ValidateOptions {
    /** The services that get a database per tenant; names are checked against limits for these. */
    readonly services?: readonly string[];
    /** YYYY-MM-DD (UTC), for the dates' upper bound. Default: today. */
    readonly today?: string;
}

const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;
const LABEL_VALUE_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function isDnsName(value: string): boolean {
    if (value.length > 253) return false;
    const labels = value.split(".");
    if (labels.length < 2) return false;
    if (!/^[a-z]{2,63}$/.test(labels[labels.length - 1])) return false;
    return labels.every((l) => DNS_LABEL.test(l));
}

export function isCalendarDate(value: string): boolean {
    if (!DATE_PATTERN.test(value)) return false;
    const d = new Date(`${value}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}

/** cancelledAt + the grace period, as YYYY-MM-DD. */
export function deletionDate(cancelledAt: string): string {
    const d = new Date(`${cancelledAt}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + GRACE_PERIOD_DAYS);
    return d.toISOString().slice(0, 10);
}

/** The cancelled tenants whose deletion date (cancelledAt + the grace period) is `today` or earlier: due for `tenantctl purge`. */
export function tenantsDue(tenants: readonly TenantSpec[], today: string): { readonly tenant: TenantSpec; readonly deleteAfter: string }[] {
    return tenants
        .filter((t) => t.status === "cancelled" && t.cancelledAt !== undefined && deletionDate(t.cancelledAt) <= today)
        .map((t) => ({ tenant: t, deleteAfter: deletionDate(t.cancelledAt!) }));
}

/** Today in UTC, YYYY-MM-DD. */
export function utcDate(now: Date = new Date()): string {
    return now.toISOString().slice(0, 10);
}

/** The earliest createdDate or cancelledAt the manifest accepts. */
export const EARLIEST_DATE = "2000-01-01";

/**
 * The range of createdDate and cancelledAt: from EARLIEST_DATE to one year
 * after `today`. A date further ahead would hold a cancellation off for
 * years, or yield a deletion-date label that is not a label value
 * (9999-12-31 + 30 days is "+010000-01-30").
 */
export function dateBounds(today: string = utcDate()): { readonly earliest: string; readonly latest: string } {
    const d = new Date(`${today}T00:00:00Z`);
    d.setUTCFullYear(d.getUTCFullYear() + 1);
    return { earliest: EARLIEST_DATE, latest: d.toISOString().slice(0, 10) };
}

/** Why a calendar date is out of bounds (for the problem text), or undefined when it is within them. */
export function dateOutOfBounds(value: string, today: string = utcDate()): string | undefined {
    const { earliest, latest } = dateBounds(today);
    if (value < earliest) return `${value} is before ${earliest}`;
    if (value > latest) return `${value} is more than a year after today (${today})`;
    return undefined;
}

/** What a bounded date field allows, for the messages of the manifest and the webhook. */
export function dateBoundsAllowed(today: string = utcDate()): string {
    const { earliest, latest } = dateBounds(today);
    return `a calendar date written YYYY-MM-DD, from ${earliest} to ${latest} (a year after today)`;
}

/**
 * The characters `name` may not hold: C0 and C1 control characters (NUL, ESC,
 * tab, CR, LF...), the Unicode line and paragraph separators, and the
 * bidirectional overrides and isolates. Written as \u escapes, so the JSON
 * Schema pattern it yields reads the same in every regex dialect.
 */
// eslint-disable-next-line no-control-regex -- the pattern's purpose is to refuse control characters
const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$/;

interface FieldHelp {
    readonly allowed: string;
    readonly fix: string;
}

const labelValueHelp = (example: string): FieldHelp => ({
    allowed: "1-63 characters of A-Z a-z 0-9 . _ -, starting and ending with a letter or digit (it becomes a Kubernetes label)",
    fix: `use a value such as "${example}"`,
});
const dateHelp: FieldHelp = { allowed: "a calendar date written YYYY-MM-DD", fix: "write the date as 2025-01-15" };
const dnsHelp: FieldHelp = {
    allowed: "a lowercase DNS name of at least two labels (a-z, 0-9, inner hyphens), at most 253 characters",
    fix: "use a host name such as client-abc.collectverything.com, without scheme, port, path or wildcard",
};

export function fieldHelp(field: string, services: readonly string[] = DEFAULT_SERVICES): FieldHelp {
    switch (field) {
        case "id":
            return {
                allowed: `a lowercase slug: a-z, 0-9 and single inner hyphens, starting with a letter, at most ${maxTenantIdLength(services)} characters`,
                fix: 'choose a short slug such as "abc" or "nordic"; it can never change once deployed',
            };
        case "websiteId":
            return { allowed: "a positive integer", fix: "use the id of the tenant's row in the websites table" };
        case "name":
            return {
                allowed: "a non-empty display name of at most 200 characters",
                fix: "give the shop's display name, on one line and without control characters (NUL, ESC, tab, line breaks)",
            };
        case "domain":
            return dnsHelp;
        case "customDomains":
            return { allowed: "a list of DNS names, e.g. [shop.client-abc.com]", fix: "write customDomains: [] when there are none" };
        case "tier":
            return { allowed: TIERS.join(", "), fix: `set tier to one of ${TIERS.join(", ")}` };
        case "region":
            return { allowed: REGIONS.join(", "), fix: `set region to one of ${REGIONS.join(", ")}` };
        case "billingId":
            return labelValueHelp("sub_abc123");
        case "costCenter":
            return labelValueHelp("CC-ABC-001");
        case "department":
            return labelValueHelp("retail");
        case "createdDate":
        case "cancelledAt":
        case "deletedAt":
            return dateHelp;
        case "status":
            return { allowed: STATUSES.join(", "), fix: `set status to one of ${STATUSES.join(", ")}` };
        case "shard":
            return {
                allowed: `an integer from 0 to ${MAX_SHARDS - 1}, below the region's shard count`,
                fix: "leave it out (the shard is then a hash of the id) or let tenantctl reshard write it",
            };
        case "tenants":
            return { allowed: "a list of tenant entries", fix: "start the file with `tenants:` followed by `- id: ...` entries" };
        default:
            return {
                allowed: `the fields ${TENANT_FIELDS.join(", ")}`,
                fix: "remove the field or correct its spelling",
            };
    }
}

const labelValue = z.string().regex(LABEL_VALUE_PATTERN);
// A refinement has no JSON Schema form: `meta` states the shape the published schemas (the webhook API) check.
const calendarDate = z.string().refine(isCalendarDate).meta({ pattern: DATE_PATTERN.source, description: "YYYY-MM-DD" });
const dnsName = z
    .string()
    .refine(isDnsName)
    .meta({ minLength: 4, maxLength: 253, pattern: "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", description: "A lowercase host name." });

/**
 * One tenant entry of tenants.yaml: the one definition of the tenant's
 * shape. TenantSpec is its parsed form; the webhook events
 * (lib/billingEvent.ts) and the service's responses derive their fields from it.
 */
export const tenantSchema = z
    .object({
        id: z.string().regex(TENANT_ID_PATTERN),
        websiteId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
        // The characters are checked before the trim: a trailing newline is refused, not trimmed away.
        name: z.string().regex(NO_CONTROL_CHARACTERS).trim().min(1).max(200),
        domain: dnsName,
        customDomains: z.array(dnsName).default([]),
        tier: z.enum(TIERS),
        region: z.enum(REGIONS),
        billingId: labelValue,
        costCenter: labelValue,
        department: labelValue,
        createdDate: calendarDate,
        status: z.enum(STATUSES),
        cancelledAt: calendarDate.optional(),
        deletedAt: calendarDate.optional(),
        shard: z
            .number()
            .int()
            .min(0)
            .max(MAX_SHARDS - 1)
            .optional(),
    })
    .strict();

/** The fields of a tenant entry, in the order the manifest writes them. */
export const TENANT_FIELDS = tenantSchema.keyof().options;

// `rotations`: the credential rotation states `tenantctl rotate` writes (lib/rotation.ts), checked after the tenants.
const manifestSchema = z.object({ tenants: z.array(z.unknown()).default([]), rotations: z.unknown().optional() }).strict();

type Path = readonly (string | number)[];

class Locator {
    constructor(
        private readonly doc: Document,
        private readonly lines: LineCounter,
    ) {}

    /** The 1-based line of the node at `path`, or of its closest existing ancestor. */
    line(path: Path): number | undefined {
        for (let n = path.length; n >= 0; n--) {
            const node = n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true);
            const range = (node as { range?: [number, number, number] } | undefined)?.range;
            if (range) return this.lines.linePos(range[0]).line;
        }
        return undefined;
    }

    /** The line of the key `path[-1]` inside its map (better than the value's line for block values). */
    keyLine(path: Path): number | undefined {
        const parent = path.length > 1 ? this.doc.getIn(path.slice(0, -1), true) : this.doc.contents;
        if (isMap(parent)) {
            const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1]);
            const range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
            if (range) return this.lines.linePos(range[0]).line;
        }
        return this.line(path);
    }
}

function render(value: unknown): string {
    if (value === undefined) return "(missing)";
    const text = JSON.stringify(value) ?? typeof value;
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function valueAt(root: unknown, path: Path): unknown {
    let cur: unknown = root;
    for (const key of path) {
        if (cur === null || typeof cur !== "object") return undefined;
        cur = (cur as Record<string | number, unknown>)[key];
    }
    return cur;
}

export function formatIssue(issue: ManifestIssue): string {
    const where = issue.line !== undefined ? `${issue.file}:${issue.line}` : issue.file;
    const parts = [where];
    if (issue.tenant !== undefined) parts.push(`tenant "${issue.tenant}"`);
    if (issue.field !== undefined) parts.push(`field "${issue.field}"`);
    let text = `${parts.join(": ")}: ${issue.problem}`;
    if (issue.value !== undefined) text += ` (got ${issue.value})`;
    text += ".";
    if (issue.allowed !== undefined) text += ` Allowed: ${issue.allowed}.`;
    text += ` Fix: ${issue.fix}.`;
    return text;
}

export function formatIssues(issues: readonly ManifestIssue[]): string {
    const head = `${issues.length} problem${issues.length === 1 ? "" : "s"} in ${issues[0]?.file ?? "the manifest"}; nothing was applied:`;
    return [head, ...issues.map((i) => `  - ${formatIssue(i)}`)].join("\n");
}

export type ValidationResult = { readonly ok: true; readonly manifest: Manifest } | { readonly ok: false; readonly issues: readonly ManifestIssue[] };

/**
 * Parses and validates a manifest source. Never throws for bad input: every
 * problem found is returned, in file order.
 */
export function validateManifest(source: string, file = "tenants.yaml", options: ValidateOptions = {}): ValidationResult {
    const services = options.services ?? DEFAULT_SERVICES;
    const today = options.today ?? utcDate();
    const lines = new LineCounter();
    const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const issues: ManifestIssue[] = [];

    if (doc.errors.length > 0) {
        for (const err of doc.errors) {
            const offset = err.pos[0];
            issues.push({
                file,
                line: lines.linePos(offset).line,
                problem: `malformed YAML: ${err.message.split("\n")[0]}`,
                allowed: "YAML 1.2 with unique keys",
                fix: "correct the YAML syntax at that line (indentation, quotes, colons, duplicate keys)",
            });
        }
        return { ok: false, issues };
    }

    const raw: unknown = doc.toJS() ?? {};
    const locate = new Locator(doc, lines);
    const top = manifestSchema.safeParse(raw);
    if (!top.success) {
        for (const issue of top.error.issues) {
            if (issue.code === "unrecognized_keys") {
                for (const key of issue.keys) {
                    issues.push({
                        file,
                        line: locate.keyLine([key]),
                        field: key,
                        problem: "unknown top-level field",
                        allowed: "tenants, rotations",
                        fix: "the file holds `tenants:` and the `rotations:` that tenantctl rotate writes; remove or rename this one",
                    });
                }
            } else {
                const help = fieldHelp("tenants");
                issues.push({
                    file,
                    line: locate.line(issue.path as Path),
                    field: issue.path.length ? String(issue.path[0]) : undefined,
                    problem:
                        raw === null || typeof raw !== "object" || Array.isArray(raw) ? "the file is not a map with a `tenants` list" : "tenants is not a list",
                    ...help,
                });
            }
        }
        return { ok: false, issues };
    }

    const tenants: TenantSpec[] = [];
    const entries = top.data.tenants;
    entries.forEach((entry, index) => {
        const base: Path = ["tenants", index];
        const rawId = entry !== null && typeof entry === "object" ? (entry as Record<string, unknown>).id : undefined;
        const tenantLabel = typeof rawId === "string" && rawId !== "" ? rawId : `#${index + 1}`;
        const parsed = tenantSchema.safeParse(entry);
        if (!parsed.success) {
            for (const zi of parsed.error.issues) {
                if (zi.code === "unrecognized_keys") {
                    for (const key of zi.keys) {
                        const help = fieldHelp(key, services);
                        issues.push({ file, line: locate.keyLine([...base, key]), tenant: tenantLabel, field: key, problem: "unknown field", ...help });
                    }
                    continue;
                }
                if (zi.path.length === 0) {
                    issues.push({
                        file,
                        line: locate.line(base),
                        tenant: tenantLabel,
                        problem: "a tenant entry must be a map of fields",
                        value: render(entry),
                        allowed: `a map with the fields ${TENANT_FIELDS.join(", ")}`,
                        fix: "write the entry as `- id: abc` followed by its fields, indented",
                    });
                    continue;
                }
                const path: Path = [...base, ...(zi.path as (string | number)[])];
                const field = String(zi.path[0]) + (zi.path.length > 1 ? `[${zi.path.slice(1).join("][")}]` : "");
                const value = valueAt(entry, zi.path as Path);
                const help = fieldHelp(String(zi.path[0]), services);
                issues.push({
                    file,
                    line: value === undefined ? locate.line(base) : locate.line(path),
                    tenant: tenantLabel,
                    field,
                    value: value === undefined ? undefined : render(value),
                    problem: value === undefined ? "required field is missing" : "invalid value",
                    ...help,
                });
            }
            return;
        }
        tenants.push(parsed.data);
        issues.push(...checkTenant(parsed.data, base, file, locate, services, today));
    });

    issues.push(...checkUniqueness(entries, file, locate, today));
    const live = tenants.filter((t) => !isTombstone(t));
    const tombstones = tenants.filter(isTombstone);
    const parsedRotations = parseRotations(top.data.rotations, {
        live: new Set(live.map((t) => t.id)),
        deleted: new Set(tombstones.map((t) => t.id)),
        credentials: credentialKeys(services),
    });
    for (const ri of parsedRotations.issues) {
        issues.push({
            file,
            line: locate.keyLine(ri.path),
            tenant: ri.tenant,
            field: ri.field,
            value: ri.value === undefined ? undefined : render(ri.value),
            problem: ri.problem,
            allowed: ri.allowed,
            fix: ri.fix,
        });
    }
    issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    if (issues.length > 0) return { ok: false, issues };
    const rotations = Object.keys(parsedRotations.rotations).length > 0 ? { rotations: parsedRotations.rotations } : {};
    return { ok: true, manifest: { tenants: live, ...(tombstones.length > 0 ? { tombstones } : {}), ...rotations } };
}

/** Whether an entry is a purged tenant's tombstone (`status: deleted`): it declares nothing. */
export function isTombstone(t: { readonly status?: unknown }): boolean {
    return t.status === "deleted";
}

function checkTenant(t: TenantSpec, base: Path, file: string, locate: Locator, services: readonly string[], today: string): ManifestIssue[] {
    const issues: ManifestIssue[] = [];
    const dates: [field: "createdDate" | "cancelledAt" | "deletedAt", value: string | undefined, fix: string][] = [
        ["createdDate", t.createdDate, "write the day the subscription started, e.g. 2025-01-15"],
        ["cancelledAt", t.cancelledAt, "write the day the subscription was cancelled (the grace period is counted from it), e.g. 2025-06-01"],
        ["deletedAt", t.deletedAt, "write the day tenantctl purge erased the tenant, e.g. 2025-07-01"],
    ];
    const outOfBounds = new Set<string>();
    for (const [field, value, fix] of dates) {
        const out = value === undefined ? undefined : dateOutOfBounds(value, today);
        if (value === undefined || out === undefined) continue;
        outOfBounds.add(field);
        issues.push({
            file,
            line: locate.line([...base, field]),
            tenant: t.id,
            field,
            value: render(value),
            problem: `${field} is out of bounds: ${out}`,
            allowed: dateBoundsAllowed(today),
            fix,
        });
    }
    if (t.cancelledAt !== undefined && !outOfBounds.has("cancelledAt") && !LABEL_VALUE_PATTERN.test(deletionDate(t.cancelledAt))) {
        // Unreachable within the bounds above; stated so a change of the bounds cannot yield a label the API server refuses.
        issues.push({
            file,
            line: locate.line([...base, "cancelledAt"]),
            tenant: t.id,
            field: "cancelledAt",
            value: render(t.cancelledAt),
            problem: `the deletion date it yields, ${deletionDate(t.cancelledAt)}, is not a valid Kubernetes label value`,
            allowed: dateBoundsAllowed(today),
            fix: "write the day the subscription was cancelled",
        });
    }
    for (const over of namesOverLimit(t.id, services)) {
        issues.push({
            file,
            line: locate.line([...base, "id"]),
            tenant: t.id,
            field: "id",
            value: render(t.id),
            problem: `id is too long: the derived ${over.kind} name "${over.name}" has ${over.name.length} characters, over the limit of ${over.limit}`,
            allowed: `ids of at most ${maxTenantIdLength(services)} characters`,
            fix: "choose a shorter id; ids can never change once deployed",
        });
    }
    if ((t.status === "cancelled" || t.status === "deleted") && t.cancelledAt === undefined) {
        issues.push({
            file,
            line: locate.line([...base, "status"]),
            tenant: t.id,
            field: "cancelledAt",
            problem: `status is ${t.status} but cancelledAt is missing`,
            allowed: dateHelp.allowed,
            fix: "add cancelledAt: <the cancellation date>; the grace period is counted from it",
        });
    }
    if (t.status !== "cancelled" && t.status !== "deleted" && t.cancelledAt !== undefined) {
        issues.push({
            file,
            line: locate.line([...base, "cancelledAt"]),
            tenant: t.id,
            field: "cancelledAt",
            value: render(t.cancelledAt),
            problem: `cancelledAt is set but status is ${t.status}`,
            allowed: "cancelledAt only together with status: cancelled",
            fix: "remove cancelledAt when a tenant is reactivated, or set status: cancelled",
        });
    }
    if (t.status === "deleted" && t.deletedAt === undefined) {
        issues.push({
            file,
            line: locate.line([...base, "status"]),
            tenant: t.id,
            field: "deletedAt",
            problem: "status is deleted but deletedAt is missing",
            allowed: dateHelp.allowed,
            fix: "add deletedAt: <the day tenantctl purge ran>; a tombstone is written by `tenantctl purge`, not by hand",
        });
    }
    if (t.status !== "deleted" && t.deletedAt !== undefined) {
        issues.push({
            file,
            line: locate.line([...base, "deletedAt"]),
            tenant: t.id,
            field: "deletedAt",
            value: render(t.deletedAt),
            problem: `deletedAt is set but status is ${t.status}`,
            allowed: "deletedAt only together with status: deleted (a purged tenant's tombstone)",
            fix: "a purged tenant cannot come back: restore the tombstone's status: deleted, or remove deletedAt if the tenant was never purged",
        });
    }
    // The lifecycle's dates in order: created, then cancelled, then deleted.
    const notBefore = (field: "deletedAt" | "cancelledAt", earlier: "cancelledAt" | "createdDate") => {
        const date = t[field];
        const bound = t[earlier];
        if (date === undefined || bound === undefined || date >= bound) return;
        issues.push({
            file,
            line: locate.line([...base, field]),
            tenant: t.id,
            field,
            value: render(date),
            problem: `${field} is before ${earlier} ${bound}`,
            allowed: `a date on or after ${bound}`,
            fix: "correct one of the two dates",
        });
    };
    notBefore("deletedAt", "cancelledAt");
    notBefore("cancelledAt", "createdDate");
    return issues;
}

interface UniqueKeys {
    readonly id?: string;
    readonly websiteId?: number;
    readonly domains: readonly [string, Path][];
    /** A tombstone's deletedAt (its reservation is counted from it); undefined for a live entry. */
    readonly deletedAt?: string;
    readonly tombstone: boolean;
}

/** The identifying values of a raw entry, whatever else is wrong with it. */
function uniqueKeys(entry: unknown, base: Path): UniqueKeys {
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) return { domains: [], tombstone: false };
    const e = entry as Record<string, unknown>;
    const domains: [string, Path][] = [];
    if (typeof e.domain === "string") domains.push([e.domain, [...base, "domain"]]);
    if (Array.isArray(e.customDomains)) {
        e.customDomains.forEach((d, i) => {
            if (typeof d === "string") domains.push([d, [...base, "customDomains", i]]);
        });
    }
    return {
        id: typeof e.id === "string" ? e.id : undefined,
        websiteId: typeof e.websiteId === "number" ? e.websiteId : undefined,
        domains,
        tombstone: isTombstone(e),
        deletedAt: isTombstone(e) && typeof e.deletedAt === "string" && isCalendarDate(e.deletedAt) ? e.deletedAt : undefined,
    };
}

interface Reservation {
    readonly tenant: string;
    readonly deletedAt: string;
    /** The first day the value may be reused. */
    readonly until: string;
}

/**
 * A live entry reusing a tombstone's id, websiteId or domain: refused while
 * the reservation runs; after it, the websiteId and domains are free again,
 * and the id once its tombstone is removed (two entries cannot share an id).
 */
function reservationIssue(
    r: Reservation,
    field: string,
    value: string | number,
    today: string,
    base: Omit<ManifestIssue, "field" | "value" | "problem" | "fix" | "allowed">,
): ManifestIssue | undefined {
    const what = field === "id" ? "id" : field === "websiteId" ? "websiteId" : "domain";
    if (today >= r.until) {
        if (what !== "id") return undefined;
        return {
            ...base,
            field,
            value: render(value),
            problem: `id of the tombstone of tenant "${r.tenant}" (deleted ${r.deletedAt}), whose reservation ended on ${r.until}`,
            allowed: "an id no other entry, live or tombstone, holds",
            fix: `remove the tombstone of "${r.tenant}" (status: deleted) from the manifest first, or choose another id`,
        };
    }
    return {
        ...base,
        field,
        value: render(value),
        problem: `${what} reserved by the deleted tenant "${r.tenant}" (purged ${r.deletedAt}) until ${r.until}: its final backup is archived under it for ${TOMBSTONE_RETENTION_YEARS} years`,
        allowed: `${what === "id" ? "an" : "a"} ${what} that no live or deleted tenant holds`,
        fix:
            what === "id"
                ? "choose another id; a purged tenant's id is never reused within the retention period"
                : what === "websiteId"
                  ? "use the new websites-table row's id; a purged tenant's websiteId is not reused within the retention period"
                  : `use another domain, or wait until ${r.until}`,
    };
}

/**
 * Duplicate ids, websiteIds and domains across all entries, including entries
 * with other errors; and live entries reusing a tombstone's values within its
 * reservation (reservationIssue), wherever the tombstone sits in the file.
 */
function checkUniqueness(entries: readonly unknown[], file: string, locate: Locator, today: string): ManifestIssue[] {
    const issues: ManifestIssue[] = [];
    const firstById = new Map<string, number>();
    const firstByWebsite = new Map<number, string>();
    const firstByDomain = new Map<string, string>();
    const reservedIds = new Map<string, Reservation>();
    const reservedWebsites = new Map<number, Reservation>();
    const reservedDomains = new Map<string, Reservation>();
    const tombstoneIds = new Set<string>();
    entries.forEach((entry, index) => {
        const keys = uniqueKeys(entry, ["tenants", index]);
        if (!keys.tombstone || keys.id === undefined || keys.deletedAt === undefined) return;
        const r: Reservation = { tenant: keys.id, deletedAt: keys.deletedAt, until: reservedUntil(keys.deletedAt) };
        if (!reservedIds.has(keys.id)) reservedIds.set(keys.id, r);
        if (keys.websiteId !== undefined && !reservedWebsites.has(keys.websiteId)) reservedWebsites.set(keys.websiteId, r);
        for (const [domain] of keys.domains) if (!reservedDomains.has(domain)) reservedDomains.set(domain, r);
    });
    entries.forEach((entry, index) => {
        const base: Path = ["tenants", index];
        const keys = uniqueKeys(entry, base);
        const tenant = keys.id ?? `#${index + 1}`;
        if (!keys.tombstone) {
            const reserved: [Reservation | undefined, string, string | number | undefined, Path][] = [
                [keys.id === undefined ? undefined : reservedIds.get(keys.id), "id", keys.id, [...base, "id"]],
                [keys.websiteId === undefined ? undefined : reservedWebsites.get(keys.websiteId), "websiteId", keys.websiteId, [...base, "websiteId"]],
                ...keys.domains.map(([d, path]): [Reservation | undefined, string, string, Path] => [
                    reservedDomains.get(d),
                    path[2] === "domain" ? "domain" : `customDomains[${path[3]}]`,
                    d,
                    path,
                ]),
            ];
            for (const [r, field, value, path] of reserved) {
                if (r === undefined || value === undefined) continue;
                const issue = reservationIssue(r, field, value, today, { file, line: locate.line(path), tenant });
                if (issue) issues.push(issue);
            }
        }
        // Tombstones are checked among themselves for ids only: their domains and websiteIds may repeat (a re-created, re-purged shop).
        if (keys.tombstone) {
            if (keys.id !== undefined && tombstoneIds.has(keys.id)) {
                issues.push({
                    file,
                    line: locate.line([...base, "id"]),
                    tenant,
                    field: "id",
                    value: render(keys.id),
                    problem: "duplicate tombstone: another deleted entry has this id",
                    allowed: "one tombstone per id",
                    fix: "remove one of the two tombstones",
                });
            } else if (keys.id !== undefined) {
                tombstoneIds.add(keys.id);
            }
            return;
        }
        if (keys.id !== undefined) {
            const first = firstById.get(keys.id);
            if (first !== undefined) {
                issues.push({
                    file,
                    line: locate.line([...base, "id"]),
                    tenant,
                    field: "id",
                    value: render(keys.id),
                    problem: `duplicate id: already used by the tenant at line ${locate.line(["tenants", first, "id"])}`,
                    allowed: "an id no other tenant uses",
                    fix: "give each tenant its own id, or merge the two entries",
                });
            } else {
                firstById.set(keys.id, index);
            }
        }
        if (keys.websiteId !== undefined) {
            const owner = firstByWebsite.get(keys.websiteId);
            if (owner !== undefined) {
                issues.push({
                    file,
                    line: locate.line([...base, "websiteId"]),
                    tenant,
                    field: "websiteId",
                    value: render(keys.websiteId),
                    problem: `duplicate websiteId: already used by tenant "${owner}"`,
                    allowed: "a websiteId no other tenant uses",
                    fix: "use the tenant's own row id from the websites table",
                });
            } else {
                firstByWebsite.set(keys.websiteId, tenant);
            }
        }
        for (const [domain, path] of keys.domains) {
            const owner = firstByDomain.get(domain);
            if (owner !== undefined) {
                issues.push({
                    file,
                    line: locate.line(path),
                    tenant,
                    field: path[2] === "domain" ? "domain" : `customDomains[${path[3]}]`,
                    value: render(domain),
                    problem: owner === tenant ? "domain listed twice for this tenant" : `duplicate domain: already served for tenant "${owner}"`,
                    allowed: "a domain that no other entry lists (primary or custom)",
                    fix: "a domain routes to exactly one tenant; remove it from one of the entries",
                    ...(owner === tenant ? {} : { conflict: { tenant: owner, value: domain } }),
                });
            } else {
                firstByDomain.set(domain, tenant);
            }
        }
    });
    return issues;
}
