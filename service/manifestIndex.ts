/**
 * The service's in-memory view of the manifest, for a fast acknowledgement:
 * the tenants of the last committed manifest (`base`) with the events
 * accepted since and not yet committed laid over them (`overlay`), and the
 * indexes of what must be unique across tenants (websiteIds, domains).
 *
 * `check` decides an event in about a millisecond at any manifest size,
 * with the same answer as applying it to the whole manifest: the event is
 * applied (lib/manifestEdit.ts, the same edit and the same validator) to a
 * manifest holding only its own tenant, and the tenants whose websiteId or
 * domains the result would share; the uniqueness rules are the only rules of
 * the validator across tenants. Events are decided in arrival order, each on
 * the state the accepted ones before it leave, so the answers are those of
 * applying them one at a time.
 *
 * Tombstones (purged tenants, `status: deleted`) are entries of the index
 * like the others: an event about one, or a create reusing its id, websiteId
 * or domains, is decided with the tombstone in the tiny manifest, so it is
 * refused at the door as the whole manifest would refuse it.
 *
 * The group commit later applies the accepted events to the real manifest
 * (at the git tip: someone else's change may refuse one there) and `rebase`s
 * the view on the result.
 */
import { stringify } from "yaml";
import { isTombstone, type TenantSpec } from "../lib/manifest";
import { applyEvents, EditError, StaleEvent, type TimedEvent } from "../lib/manifestEdit";

export type IndexVerdict =
    | { readonly kind: "ok"; readonly changed: boolean; readonly tenant: TenantSpec }
    | { readonly kind: "rejected"; readonly error: EditError }
    | { readonly kind: "stale"; readonly stale: StaleEvent };

function domainsOf(t: TenantSpec): string[] {
    return [t.domain, ...(t.customDomains ?? [])];
}

export class ManifestIndex {
    /** Position of each tenant in the manifest (new ones after the last), for the validator's order of entries. */
    private order = new Map<string, number>();
    private base = new Map<string, TenantSpec>();
    /** Tenants changed by accepted, uncommitted events: their entry (null: not in the manifest). */
    private readonly overlay = new Map<string, TenantSpec | null>();
    /** Per tenant, how many accepted events are not committed yet. */
    private readonly pending = new Map<string, number>();
    /** Per tenant, the `created` of the last accepted event. */
    private readonly lastCreated = new Map<string, number>();
    private websiteOwner = new Map<number, string>();
    private domainOwner = new Map<string, string>();
    private next = 0;

    constructor(
        tenants: readonly TenantSpec[],
        private readonly file: string,
    ) {
        this.reset(tenants);
    }

    /** Live tenants of the last committed manifest (tombstones not counted). */
    get size(): number {
        let n = 0;
        for (const t of this.base.values()) if (!isTombstone(t)) n++;
        return n;
    }

    private reset(tenants: readonly TenantSpec[]): void {
        this.base = new Map(tenants.map((t) => [t.id, t]));
        this.order = new Map(tenants.map((t, i) => [t.id, i]));
        this.next = tenants.length;
        for (const id of this.overlay.keys()) if (!this.order.has(id)) this.order.set(id, this.next++);
        this.websiteOwner = new Map();
        this.domainOwner = new Map();
        for (const t of this.tenants()) this.own(t);
    }

    /** The tenants as the accepted events leave them. */
    *tenants(): Iterable<TenantSpec> {
        for (const [id, t] of this.base) if (!this.overlay.has(id)) yield t;
        for (const t of this.overlay.values()) if (t) yield t;
    }

    get(id: string): TenantSpec | undefined {
        const o = this.overlay.get(id);
        return o === undefined ? this.base.get(id) : (o ?? undefined);
    }

    private own(t: TenantSpec): void {
        if (!this.websiteOwner.has(t.websiteId)) this.websiteOwner.set(t.websiteId, t.id);
        for (const d of domainsOf(t)) if (!this.domainOwner.has(d)) this.domainOwner.set(d, t.id);
    }

    private disown(t: TenantSpec): void {
        if (this.websiteOwner.get(t.websiteId) === t.id) this.websiteOwner.delete(t.websiteId);
        for (const d of domainsOf(t)) if (this.domainOwner.get(d) === t.id) this.domainOwner.delete(d);
    }

    private tiny(ids: readonly string[]): string {
        const entries = ids
            .map((id) => this.get(id))
            .filter((t): t is TenantSpec => t !== undefined)
            .sort((a, b) => (this.order.get(a.id) ?? Infinity) - (this.order.get(b.id) ?? Infinity));
        return stringify({ tenants: entries });
    }

    private applyTo(ids: readonly string[], event: TimedEvent, today?: string) {
        return applyEvents(this.tiny(ids), [event], { file: this.file, sourceIsValid: true, today }).results[0];
    }

    /**
     * The answer applying `event` now would get. `storedCreated`: the
     * `created` of the last event the store recorded as applied to its tenant.
     */
    check(event: TimedEvent, storedCreated?: number | null, today?: string): IndexVerdict {
        const id = event.data.tenantId;
        const last = Math.max(this.lastCreated.get(id) ?? -Infinity, storedCreated ?? -Infinity);
        if (event.created !== undefined && Number.isFinite(last) && event.created < last) {
            return { kind: "stale", stale: new StaleEvent(id, event.created, last, this.get(id)) };
        }
        const alone = this.applyTo([id], event, today);
        if (alone instanceof EditError) return { kind: "rejected", error: alone };
        if (alone instanceof StaleEvent) return { kind: "stale", stale: alone };
        const t = alone.tenant;
        const others = new Set<string>();
        const site = this.websiteOwner.get(t.websiteId);
        if (site !== undefined && site !== id) others.add(site);
        for (const d of domainsOf(t)) {
            const owner = this.domainOwner.get(d);
            if (owner !== undefined && owner !== id) others.add(owner);
        }
        if (others.size === 0) return { kind: "ok", changed: alone.changed, tenant: t };
        const together = this.applyTo([id, ...others], event, today);
        if (together instanceof EditError) return { kind: "rejected", error: together };
        if (together instanceof StaleEvent) return { kind: "stale", stale: together };
        // Accepted beside every tenant it shares a value with: a tombstone whose reservation has ended.
        return { kind: "ok", changed: together.changed, tenant: together.tenant };
    }

    /**
     * Records an accepted event: the next checks see its effect. Returns its
     * undo (its intent could not be written); call `reindex` after undoing.
     */
    accept(event: TimedEvent, tenant: TenantSpec): () => void {
        const id = tenant.id;
        if (!this.order.has(id)) this.order.set(id, this.next++);
        const hadOverlay = this.overlay.has(id);
        const prevOverlay = this.overlay.get(id);
        const prevCreated = this.lastCreated.get(id);
        const before = this.get(id);
        if (before) this.disown(before);
        this.overlay.set(id, tenant);
        this.own(tenant);
        this.pending.set(id, (this.pending.get(id) ?? 0) + 1);
        if (event.created !== undefined) this.lastCreated.set(id, Math.max(event.created, this.lastCreated.get(id) ?? event.created));
        return () => {
            if (hadOverlay) this.overlay.set(id, prevOverlay ?? null);
            else this.overlay.delete(id);
            if (prevCreated === undefined) this.lastCreated.delete(id);
            else this.lastCreated.set(id, prevCreated);
            const n = (this.pending.get(id) ?? 1) - 1;
            if (n > 0) this.pending.set(id, n);
            else this.pending.delete(id);
        };
    }

    /** Rebuilds the uniqueness indexes (after undoing accepts). */
    reindex(): void {
        this.reset([...this.base.values()]);
    }

    /**
     * After a batch is committed: `tenants` is the whole new manifest when
     * the batch was applied to a text the index did not know (else
     * undefined, and `updated`, the entries the batch's events left, are
     * laid over the known base); `settled` the tenant ids of the batch's
     * events, one per event. The overlay keeps only tenants with events
     * still pending.
     */
    rebase(tenants: readonly TenantSpec[] | undefined, settled: readonly string[], updated: readonly TenantSpec[] = []): void {
        for (const id of settled) {
            const n = (this.pending.get(id) ?? 1) - 1;
            if (n > 0) this.pending.set(id, n);
            else {
                this.pending.delete(id);
                this.overlay.delete(id);
            }
        }
        if (tenants) return this.reset(tenants);
        const base = new Map(this.base);
        for (const t of updated) base.set(t.id, t);
        this.reset([...base.values()]);
    }
}
