/**
 * Applies a billing event to the text of tenants.yaml. Pure: text in, text
 * out. Edits go through the `yaml` Document API, so comments, key order,
 * blank lines and flow lists survive; the result is then validated with
 * lib/manifest.ts, the same validator the CLI and the program use.
 */
import { isMap, isSeq, parseDocument, type Document, type YAMLMap } from "yaml";
import { deletionDate, formatIssues, validateManifest, type ManifestIssue, type TenantSpec } from "../lib/manifest";
import type { Region } from "../lib/regions";
import type { Tier } from "../lib/tiers";

export interface CreatedData {
    readonly tenantId: string;
    readonly websiteId: number;
    readonly name: string;
    readonly domain: string;
    readonly customDomains?: readonly string[];
    readonly tier: Tier;
    readonly region: Region;
    readonly billingId: string;
    readonly costCenter: string;
    readonly department: string;
    readonly createdDate?: string;
}
export interface UpdatedData {
    readonly tenantId: string;
    readonly tier?: Tier;
    readonly customDomains?: readonly string[];
}
export interface CancelledData {
    readonly tenantId: string;
    readonly cancelledAt?: string;
}
export interface ReactivatedData {
    readonly tenantId: string;
}

export type BillingEvent =
    | { readonly type: "subscription.created"; readonly data: CreatedData }
    | { readonly type: "subscription.updated"; readonly data: UpdatedData }
    | { readonly type: "subscription.cancelled"; readonly data: CancelledData }
    | { readonly type: "subscription.reactivated"; readonly data: ReactivatedData };

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
    /** The tenant's entry after the edit, as validated. */
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
                throw new EditError(409, "tenant-exists", `tenant "${d.tenantId}" already exists with another websiteId or billingId; ids are never reused`, "data.tenantId");
            }
            const entry = doc.createNode({
                id: d.tenantId,
                websiteId: d.websiteId,
                name: d.name,
                domain: d.domain,
                customDomains: [...(d.customDomains ?? [])],
                tier: d.tier,
                region: d.region,
                billingId: d.billingId,
                costCenter: d.costCenter,
                department: d.department,
                createdDate: d.createdDate ?? today,
                status: "active",
            });
            const domains = entry.get("customDomains", true);
            if (isSeq(domains)) domains.flow = true;
            const seq = tenantsSeq(doc);
            if (seq.items.length > 0) entry.spaceBefore = true;
            seq.items.push(entry);
            return true;
        }
        case "subscription.updated": {
            const entry = requireTenant(doc, event.data.tenantId);
            let changed = false;
            if (event.data.tier !== undefined && entry.get("tier") !== event.data.tier) {
                entry.set("tier", event.data.tier);
                changed = true;
            }
            if (event.data.customDomains !== undefined) {
                const current = entry.get("customDomains");
                const currentJs = current && typeof current === "object" && "toJSON" in current ? (current as { toJSON(): unknown }).toJSON() : current;
                if (!sameList(currentJs, event.data.customDomains)) {
                    entry.set("customDomains", flowList(doc, event.data.customDomains));
                    changed = true;
                }
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

/**
 * Applies `event` to a manifest source and validates the result. Throws
 * EditError (404 unknown tenant, 409 conflict, 422 the result would be an
 * invalid manifest, with the validator's message) and leaves nothing half done.
 */
export function applyEvent(source: string, event: BillingEvent, opts: { file?: string; today?: string } = {}): EditResult {
    const file = opts.file ?? "tenants.yaml";
    const today = opts.today ?? utcDate();
    const before = validateManifest(source, file);
    if (!before.ok) {
        throw new EditError(422, "manifest-invalid", `the manifest is invalid before the change; fix it first.\n${formatIssues(before.issues)}`, undefined, before.issues);
    }
    const doc = parseDocument(source);
    const changed = edit(doc, event, today);
    const out = changed ? doc.toString({ flowCollectionPadding: false }) : source;
    const after = validateManifest(out, file);
    if (!after.ok) {
        const field = after.issues[0]?.field?.replace(/\[.*$/, "");
        const dataField = field === undefined ? undefined : `data.${field === "id" ? "tenantId" : field}`;
        throw new EditError(422, "manifest-invalid", formatIssues(after.issues), dataField, after.issues);
    }
    const tenant = after.manifest.tenants.find((t) => t.id === event.data.tenantId);
    if (!tenant) throw new EditError(404, "tenant-not-found", `tenant "${event.data.tenantId}" is not in the manifest`, "data.tenantId");
    return { changed, source: out, tenant };
}

