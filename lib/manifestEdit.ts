/**
 * Applies a billing event to the text of tenants.yaml. Pure: text in, text
 * out. Edits go through the `yaml` Document API, so comments, key order,
 * blank lines and flow lists survive; the result is then validated with
 * lib/manifest.ts, the same validator the CLI and the program use.
 */
import { isMap, isSeq, parseDocument, type Document, type YAMLMap } from "yaml";
import { eventField, SUSPENSION_EFFECT, type BillingEvent, type CreatedData, type SuspensionEventType } from "./billingEvent";
import {
    deletionDate,
    formatIssues,
    GRACE_PERIOD_DAYS,
    isTombstone,
    TENANT_FIELDS,
    utcDate,
    validateManifest,
    type ManifestIssue,
    type TenantSpec,
} from "./manifest";

/** Why an event cannot be applied; `status` is the HTTP status the service answers with. */
export class EditError extends Error {
    constructor(
        readonly status: 404 | 409 | 422,
        readonly code: string,
        message: string,
        readonly field?: string,
        readonly issues?: readonly ManifestIssue[],
    ) {
        super(message);
        this.name = "EditError";
    }
}

/**
 * An event created before the last event applied to its tenant (a late
 * retry of an older change): acknowledged, not applied, so it cannot undo
 * the newer state.
 */
export class StaleEvent {
    constructor(
        readonly tenantId: string,
        /** The event's `created` (unix seconds). */
        readonly created: number,
        /** The `created` of the last event applied to the tenant. */
        readonly lastApplied: number,
        /** The tenant's entry as the batch leaves it, when the batch was validated and holds it. */
        readonly tenant?: TenantSpec,
    ) {}

    get message(): string {
        const at = (t: number) => {
            const d = new Date(t * 1000);
            return Number.isNaN(d.getTime()) ? `${t} (unix seconds)` : d.toISOString().replace(".000Z", "Z");
        };
        return `event created ${at(this.created)} is older than the last event applied to tenant "${this.tenantId}" (created ${at(this.lastApplied)}); acknowledged, not applied`;
    }
}

/** A billing event with its envelope's `created` (unix seconds), which orders the events of a tenant. */
export type TimedEvent = BillingEvent & { readonly created?: number };

export interface EditResult {
    /** False when the manifest already says what the event asks for (a no-op). */
    readonly changed: boolean;
    readonly source: string;
    /** The tenant's entry after the edit, as validated (in a batch: as the whole batch leaves it). */
    readonly tenant: TenantSpec;
}

function tenantsSeq(doc: Document) {
    const seq = doc.get("tenants", true);
    if (isSeq(seq)) {
        // An empty list written `tenants: []` would otherwise stay a flow list, every tenant then on it as a `{ … }` map.
        if (seq.flow && seq.items.length === 0) seq.flow = false;
        return seq;
    }
    if (seq === undefined || seq === null) {
        const created = doc.createNode([]);
        doc.set("tenants", created);
        return created;
    }
    throw new EditError(422, "manifest-invalid", "tenants.yaml: `tenants` is not a list; fix the manifest first", "tenants");
}

function findTenant(doc: Document, id: string): YAMLMap | undefined {
    const seq = tenantsSeq(doc);
    for (const item of seq.items) {
        if (isMap(item) && item.get("id") === id) return item;
    }
    return undefined;
}

/** The 409 for an event about a purged tenant: its entry is a tombstone (lib/manifest.ts) and never changes again. */
function deletedTenant(entry: YAMLMap, id: string): EditError {
    return new EditError(
        409,
        "tenant-deleted",
        `tenant "${id}" was purged on ${String(entry.get("deletedAt"))}; its entry is a tombstone and its id, websiteId and domains are reserved. Create a new subscription with a new id instead`,
        "data.tenantId",
    );
}

function requireTenant(doc: Document, id: string): YAMLMap {
    const entry = findTenant(doc, id);
    if (!entry) throw new EditError(404, "tenant-not-found", `tenant "${id}" is not in the manifest`, "data.tenantId");
    if (isTombstone({ status: entry.get("status") })) throw deletedTenant(entry, id);
    return entry;
}

function flowList(doc: Document, values: readonly string[]) {
    const node = doc.createNode([...values]);
    node.flow = true;
    return node;
}

function sameList(a: unknown, b: readonly string[]): boolean {
    return Array.isArray(a) && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** A created tenant's manifest entry: its fields in the schema's order, the defaults applied. */
function newEntry(d: CreatedData, today: string): Record<string, unknown> {
    const { tenantId, customDomains, createdDate, ...fields } = d;
    const spec: TenantSpec = { id: tenantId, ...fields, customDomains: [...(customDomains ?? [])], createdDate: createdDate ?? today, status: "active" };
    return Object.fromEntries(TENANT_FIELDS.filter((k) => spec[k] !== undefined).map((k) => [k, spec[k]]));
}

/**
 * A suspension or its end. Suspending takes an active tenant to `suspended`
 * (not served; data, backups and credentials kept); ending it takes a
 * suspended tenant back to `active`. A cancelled tenant stays cancelled:
 * a suspension adds nothing to a cancellation, a payment that succeeds
 * after it (the last invoice) changes nothing, and a resume is refused (409)
 * because only `subscription.reactivated` undoes a cancellation.
 */
function editSuspension(doc: Document, type: SuspensionEventType, tenantId: string): boolean {
    const entry = requireTenant(doc, tenantId);
    const status = entry.get("status");
    if (SUSPENSION_EFFECT[type] === "suspend") {
        if (status !== "active") return false;
        entry.set("status", "suspended");
        return true;
    }
    if (status === "suspended") {
        entry.set("status", "active");
        return true;
    }
    if (status === "cancelled" && type === "subscription.resumed") {
        const cancelledAt = entry.get("cancelledAt");
        const dated = typeof cancelledAt === "string";
        const since = dated ? ` on ${cancelledAt}` : "";
        const by = dated ? `by ${deletionDate(cancelledAt)}, the end of its grace period,` : `within the ${GRACE_PERIOD_DAYS}-day grace period`;
        throw new EditError(
            409,
            "tenant-cancelled",
            `tenant "${tenantId}" was cancelled${since}; a resume does not undo a cancellation. Fix: send subscription.reactivated ${by} to serve it again`,
            "type",
        );
    }
    return false;
}

/** Edits the document in place; returns whether anything changed. */
function edit(doc: Document, event: BillingEvent, today: string): boolean {
    switch (event.type) {
        case "subscription.paused":
        case "subscription.resumed":
        case "invoice.payment_failed":
        case "invoice.payment_succeeded":
            return editSuspension(doc, event.type, event.data.tenantId);
        case "subscription.created": {
            const d = event.data;
            const existing = findTenant(doc, d.tenantId);
            if (existing && isTombstone({ status: existing.get("status") })) throw deletedTenant(existing, d.tenantId);
            if (existing) {
                // A redelivery after a crash between the manifest write and the
                // event record: the same subscription is already there.
                if (existing.get("websiteId") === d.websiteId && existing.get("billingId") === d.billingId) return false;
                throw new EditError(
                    409,
                    "tenant-exists",
                    `tenant "${d.tenantId}" already exists with another websiteId or billingId; ids are never reused`,
                    "data.tenantId",
                );
            }
            const entry = doc.createNode(newEntry(d, today));
            const domains = entry.get("customDomains", true);
            if (isSeq(domains)) domains.flow = true;
            const seq = tenantsSeq(doc);
            if (seq.items.length > 0) entry.spaceBefore = true;
            seq.items.push(entry);
            return true;
        }
        case "subscription.updated": {
            // Every field the event carries replaces the entry's (lists are written as flow lists).
            const { tenantId, ...changes } = event.data;
            const entry = requireTenant(doc, tenantId);
            let changed = false;
            for (const [field, value] of Object.entries(changes)) {
                if (value === undefined) continue;
                if (Array.isArray(value)) {
                    const current = entry.get(field, true);
                    if (sameList(isSeq(current) ? current.toJSON() : current, value)) continue;
                    entry.set(field, flowList(doc, value));
                } else {
                    if (entry.get(field) === value) continue;
                    entry.set(field, value);
                }
                changed = true;
            }
            return changed;
        }
        case "subscription.cancelled": {
            const entry = requireTenant(doc, event.data.tenantId);
            if (entry.get("status") === "cancelled") return false;
            entry.set("status", "cancelled");
            entry.set("cancelledAt", event.data.cancelledAt ?? today);
            return true;
        }
        case "subscription.reactivated": {
            const entry = requireTenant(doc, event.data.tenantId);
            const status = entry.get("status");
            if (status === "active") return false;
            const cancelledAt = entry.get("cancelledAt");
            if (status === "cancelled" && typeof cancelledAt === "string") {
                const deadline = deletionDate(cancelledAt);
                if (today > deadline) {
                    throw new EditError(
                        409,
                        "grace-period-over",
                        `tenant "${event.data.tenantId}" was cancelled on ${cancelledAt}; the grace period ended on ${deadline}, so it can no longer be reactivated. Create a new subscription instead`,
                        "data.tenantId",
                    );
                }
            }
            entry.set("status", "active");
            entry.delete("cancelledAt");
            return true;
        }
    }
}

/** Where a domain sits in an event's data: `domain` or `customDomains[i]`. */
function domainField(event: BillingEvent, domain: string): string | undefined {
    if ((event.type === "subscription.created" || event.type === "subscription.updated") && event.data.domain === domain) return "domain";
    const list = event.type === "subscription.created" || event.type === "subscription.updated" ? event.data.customDomains : undefined;
    const i = list?.indexOf(domain) ?? -1;
    return i >= 0 ? `customDomains[${i}]` : undefined;
}

/**
 * The issues of a refused change as the event's sender sees them: its own
 * tenant's, without the manifest's line numbers. A domain the event claims
 * that another entry listed first is reported on the event's tenant; when
 * the event's tenant comes first in the file, the validator reports the
 * other entry, and that entry (its line, its field) is not shown.
 */
function senderIssues(issues: readonly ManifestIssue[], event: BillingEvent): ManifestIssue[] {
    const tenantId = event.data.tenantId;
    const out: ManifestIssue[] = [];
    for (const { line: _line, ...issue } of issues) {
        if (issue.tenant === tenantId) {
            out.push(issue);
        } else if (issue.conflict?.tenant === tenantId && issue.tenant !== undefined) {
            const field = domainField(event, issue.conflict.value) ?? "customDomains";
            out.push({
                ...issue,
                tenant: tenantId,
                field,
                problem: `duplicate domain: already served for tenant "${issue.tenant}"`,
                conflict: { tenant: issue.tenant, value: issue.conflict.value },
            });
        }
    }
    return out.length > 0 ? out : issues.map(({ line: _line, ...issue }) => issue);
}

/** The 422 for a change the validator refuses, naming the event field when the issue has one. */
function invalidChange(all: readonly ManifestIssue[], event: BillingEvent): EditError {
    const issues = senderIssues(all, event);
    const field = issues[0]?.field?.replace(/\[.*$/, "");
    const dataField = field === undefined ? undefined : `data.${eventField(field)}`;
    return new EditError(422, "manifest-invalid", formatIssues(issues), dataField, issues);
}

function invalidBefore(issues: readonly ManifestIssue[]): EditError {
    return new EditError(422, "manifest-invalid", `the manifest is invalid before the change; fix it first.\n${formatIssues(issues)}`, undefined, issues);
}

function serialize(doc: Document): string {
    return doc.toString({ flowCollectionPadding: false });
}

function tenantOf(tenants: readonly TenantSpec[], event: BillingEvent): TenantSpec | EditError {
    return (
        tenants.find((t) => t.id === event.data.tenantId) ??
        new EditError(404, "tenant-not-found", `tenant "${event.data.tenantId}" is not in the manifest`, "data.tenantId")
    );
}

export interface EditOptions {
    readonly file?: string;
    /** YYYY-MM-DD (UTC) for default dates and the grace period. Default: today. */
    readonly today?: string;
    /** The caller already knows `source` is a valid manifest (it validated or wrote exactly this text): skip the check before the change. */
    readonly sourceIsValid?: boolean;
    /**
     * Per tenant, the `created` time (unix seconds) of the last event applied
     * to it (applyEvents): an event created earlier is a StaleEvent, answered
     * and not applied. Events without `created` are applied in arrival order.
     */
    readonly lastApplied?: ReadonlyMap<string, number>;
}

/** Tracks, through a batch, the `created` of the last event applied to each tenant. */
class Recency {
    private readonly last: Map<string, number>;

    constructor(initial: ReadonlyMap<string, number> | undefined) {
        this.last = new Map(initial ?? []);
    }

    /** The event's StaleEvent when it is older than its tenant's last applied event. */
    stale(event: TimedEvent): StaleEvent | undefined {
        const last = this.last.get(event.data.tenantId);
        return event.created !== undefined && last !== undefined && event.created < last ? new StaleEvent(event.data.tenantId, event.created, last) : undefined;
    }

    applied(event: TimedEvent): void {
        if (event.created === undefined) return;
        const last = this.last.get(event.data.tenantId);
        this.last.set(event.data.tenantId, last === undefined ? event.created : Math.max(last, event.created));
    }
}

function withTenant(stale: StaleEvent, tenants: readonly TenantSpec[]): StaleEvent {
    return new StaleEvent(
        stale.tenantId,
        stale.created,
        stale.lastApplied,
        tenants.find((t) => t.id === stale.tenantId),
    );
}

/**
 * Applies `event` to a manifest source and validates the result. Throws
 * EditError (404 unknown tenant, 409 conflict, 422 the result would be an
 * invalid manifest, with the validator's message) and leaves nothing half done.
 */
export function applyEvent(source: string, event: BillingEvent, opts: Omit<EditOptions, "lastApplied"> = {}): EditResult {
    const [result] = applyEvents(source, [event], opts).results;
    if (result instanceof EditError) throw result;
    // Without lastApplied no event is stale.
    if (result instanceof StaleEvent) throw new Error("unreachable: a stale event without lastApplied");
    return result;
}

export interface BatchResult {
    /** The manifest after every accepted event, validated (or `source` itself when nothing changed). */
    readonly source: string;
    /** Whether `source` is a valid manifest (false only when it was invalid before the change). */
    readonly valid: boolean;
    /** Per event, in order: its result, why it was refused, or that it was stale (either way it changed nothing). */
    readonly results: readonly (EditResult | EditError | StaleEvent)[];
    /** Whole-manifest validations run (1 when every event is fine; the fallback adds one per event). */
    readonly validations: number;
}

/**
 * Applies events in order to a manifest source with one parse, one
 * serialization and one validation of the result (group commit). When the
 * combined result is invalid, falls back to applying them one by one, each
 * validated, so only the events that make the manifest invalid are refused
 * (422 with the validator's message) and the others still land, exactly as
 * if they had been applied one after the other. An event refused for a
 * reason of its own (404, 409) changes nothing and does not stop the others,
 * and so does a stale one (opts.lastApplied).
 */
export function applyEvents(source: string, events: readonly TimedEvent[], opts: EditOptions = {}): BatchResult {
    const file = opts.file ?? "tenants.yaml";
    const today = opts.today ?? utcDate();
    let validations = 0;
    if (!opts.sourceIsValid) {
        validations++;
        const before = validateManifest(source, file);
        if (!before.ok) return { source, valid: false, results: events.map(() => invalidBefore(before.issues)), validations };
    }
    // Every edit throws before touching the document, so a refused event leaves it as it was.
    const doc = parseDocument(source);
    const recency = new Recency(opts.lastApplied);
    const edits = events.map((event): boolean | EditError | StaleEvent => {
        const stale = recency.stale(event);
        if (stale) return stale;
        try {
            const changed = edit(doc, event, today);
            recency.applied(event);
            return changed;
        } catch (err) {
            if (err instanceof EditError) return err;
            throw err;
        }
    });
    const anyChange = edits.some((e) => e === true);
    if (!anyChange && edits.every((e) => typeof e !== "boolean")) return { source, valid: true, results: edits, validations };
    const out = anyChange ? serialize(doc) : source;
    validations++;
    const after = validateManifest(out, file);
    if (after.ok) {
        const results = events.map((event, i) => {
            const e = edits[i];
            if (e instanceof EditError) return e;
            if (e instanceof StaleEvent) return withTenant(e, after.manifest.tenants);
            const tenant = tenantOf(after.manifest.tenants, event);
            return tenant instanceof EditError ? tenant : { changed: e, source: out, tenant };
        });
        return { source: out, valid: true, results, validations };
    }
    // One event changed the document and made it invalid. The other events' answers stand when none of them
    // comes after it for the same tenant: a refusal (404, 409) or a staleness depends only on the tenant's own
    // entry and events. Otherwise (a second create of the same id after a refused one...) they are replayed.
    const applicable = edits.flatMap((e, i) => (typeof e === "boolean" ? [i] : []));
    if (applicable.length === 1) {
        const k = applicable[0];
        const tenant = events[k].data.tenantId;
        if (events.every((e, i) => i <= k || e.data.tenantId !== tenant)) {
            return {
                source,
                valid: true,
                results: edits.map((e, i) => (i === k ? invalidChange(after.issues, events[k]) : (e as EditError | StaleEvent))),
                validations,
            };
        }
    }
    // The answers of the combined pass are not those of one event at a time: an event refused there (a 409
    // "tenant-exists", a 404) may have been refused because of an earlier event that the validator now refuses.
    // Fallback: one at a time, each on the result of the accepted ones before it.
    let current = source;
    let currentTenants: readonly TenantSpec[] | undefined;
    const order = new Recency(opts.lastApplied);
    const results = events.map((event): EditResult | EditError | StaleEvent => {
        const stale = order.stale(event);
        if (stale) return stale;
        const one = parseDocument(current);
        let changed: boolean;
        try {
            changed = edit(one, event, today);
        } catch (err) {
            if (err instanceof EditError) return err;
            throw err;
        }
        let tenants = changed ? undefined : currentTenants;
        const next = changed ? serialize(one) : current;
        if (tenants === undefined) {
            validations++;
            const checked = validateManifest(next, file);
            if (!checked.ok) return invalidChange(checked.issues, event);
            tenants = checked.manifest.tenants;
        }
        const tenant = tenantOf(tenants, event);
        if (tenant instanceof EditError) return tenant;
        current = next;
        currentTenants = tenants;
        order.applied(event);
        return { changed, source: next, tenant };
    });
    // As on the fast path: each accepted event reports its tenant as the whole batch leaves it.
    const final = currentTenants ?? [];
    const settled = results.map((r) => {
        if (r instanceof EditError) return r;
        if (r instanceof StaleEvent) return withTenant(r, final);
        return { changed: r.changed, source: current, tenant: final.find((t) => t.id === r.tenant.id) ?? r.tenant };
    });
    return { source: current, valid: true, results: settled, validations };
}
