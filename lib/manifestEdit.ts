/**
 * Applies a billing event to the text of tenants.yaml. Pure: text in, text
 * out. Edits go through the `yaml` Document API, so comments, key order,
 * blank lines and flow lists survive; the result is then validated with
 * lib/manifest.ts, the same validator the CLI and the program use.
 */
import { isMap, isSeq, parseDocument, type Document, type YAMLMap } from "yaml";
import { eventField, type BillingEvent, type CreatedData } from "./billingEvent";
import { deletionDate, formatIssues, TENANT_FIELDS, validateManifest, type ManifestIssue, type TenantSpec } from "./manifest";

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

export interface EditResult {
    /** False when the manifest already says what the event asks for (a no-op). */
    readonly changed: boolean;
    readonly source: string;
    /** The tenant's entry after the edit, as validated (in a batch: as the whole batch leaves it). */
    readonly tenant: TenantSpec;
}

/** Today in UTC, YYYY-MM-DD. */
export function utcDate(now: Date = new Date()): string {
    return now.toISOString().slice(0, 10);
}

function tenantsSeq(doc: Document) {
    const seq = doc.get("tenants", true);
    if (isSeq(seq)) return seq;
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

function requireTenant(doc: Document, id: string): YAMLMap {
    const entry = findTenant(doc, id);
    if (!entry) throw new EditError(404, "tenant-not-found", `tenant "${id}" is not in the manifest`, "data.tenantId");
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

/** Edits the document in place; returns whether anything changed. */
function edit(doc: Document, event: BillingEvent, today: string): boolean {
    switch (event.type) {
        case "subscription.created": {
            const d = event.data;
            const existing = findTenant(doc, d.tenantId);
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

/** The 422 for a change the validator refuses, naming the event field when the issue has one. */
function invalidChange(issues: readonly ManifestIssue[]): EditError {
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
}

/**
 * Applies `event` to a manifest source and validates the result. Throws
 * EditError (404 unknown tenant, 409 conflict, 422 the result would be an
 * invalid manifest, with the validator's message) and leaves nothing half done.
 */
export function applyEvent(source: string, event: BillingEvent, opts: EditOptions = {}): EditResult {
    const [result] = applyEvents(source, [event], opts).results;
    if (result instanceof EditError) throw result;
    return result;
}

export interface BatchResult {
    /** The manifest after every accepted event, validated (or `source` itself when nothing changed). */
    readonly source: string;
    /** Whether `source` is a valid manifest (false only when it was invalid before the change). */
    readonly valid: boolean;
    /** Per event, in order: its result, or why it was refused (it then changed nothing). */
    readonly results: readonly (EditResult | EditError)[];
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
 * reason of its own (404, 409) changes nothing and does not stop the others.
 */
export function applyEvents(source: string, events: readonly BillingEvent[], opts: EditOptions = {}): BatchResult {
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
    const edits = events.map((event): boolean | EditError => {
        try {
            return edit(doc, event, today);
        } catch (err) {
            if (err instanceof EditError) return err;
            throw err;
        }
    });
    const anyChange = edits.some((e) => e === true);
    if (!anyChange && edits.every((e) => e instanceof EditError)) return { source, valid: true, results: edits, validations };
    const out = anyChange ? serialize(doc) : source;
    validations++;
    const after = validateManifest(out, file);
    if (after.ok) {
        const results = events.map((event, i) => {
            const e = edits[i];
            if (e instanceof EditError) return e;
            const tenant = tenantOf(after.manifest.tenants, event);
            return tenant instanceof EditError ? tenant : { changed: e, source: out, tenant };
        });
        return { source: out, valid: true, results, validations };
    }
    const applicable = edits.filter((e) => !(e instanceof EditError)).length;
    if (applicable === 1) {
        // One event made it invalid: no need to replay.
        return { source, valid: true, results: edits.map((e) => (e instanceof EditError ? e : invalidChange(after.issues))), validations };
    }
    // Fallback: one at a time, each on the result of the accepted ones before it.
    let current = source;
    let currentTenants: readonly TenantSpec[] | undefined;
    const results = events.map((event): EditResult | EditError => {
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
            if (!checked.ok) return invalidChange(checked.issues);
            tenants = checked.manifest.tenants;
        }
        const tenant = tenantOf(tenants, event);
        if (tenant instanceof EditError) return tenant;
        current = next;
        currentTenants = tenants;
        return { changed, source: next, tenant };
    });
    // As on the fast path: each accepted event reports its tenant as the whole batch leaves it.
    const final = currentTenants ?? [];
    const settled = results.map((r) =>
        r instanceof EditError ? r : { changed: r.changed, source: current, tenant: final.find((t) => t.id === r.tenant.id) ?? r.tenant },
    );
    return { source: current, valid: true, results: settled, validations };
}
