import fc from "fast-check";
import * as fs from "node:fs";
import type { BillingEvent } from "../../../lib/billingEvent";
import { applyEvent, applyEvents, EditError, StaleEvent, type TimedEvent } from "../../../lib/manifestEdit";
import { validateManifest, type TenantSpec } from "../../../lib/manifest";
import { REPO_MANIFEST } from "../../support/service";

const source = fs.readFileSync(REPO_MANIFEST, "utf8");
const today = "2025-06-01";

const created: BillingEvent = {
    type: "subscription.created",
    data: {
        tenantId: "newshop",
        websiteId: 9001,
        name: "New Shop",
        domain: "client-newshop.collectverything.com",
        customDomains: ["shop.newshop.fr"],
        tier: "standard",
        region: "eu-west",
        billingId: "sub_new1",
        costCenter: "CC-NEW-001",
        department: "retail",
    },
};

function tenant(text: string, id: string) {
    const r = validateManifest(text);
    if (!r.ok) throw new Error("invalid");
    return r.manifest.tenants.find((t) => t.id === id);
}

function editError(fn: () => unknown): EditError {
    try {
        fn();
    } catch (err) {
        if (err instanceof EditError) return err;
        throw err;
    }
    throw new Error("expected an EditError");
}

describe("applyEvent", () => {
    it("appends a created tenant after the others, keeping every comment and the existing text byte for byte", () => {
        const r = applyEvent(source, created, { today });
        expect(r.changed).toBe(true);
        expect(r.source.startsWith(source.trimEnd())).toBe(true);
        expect(r.source.slice(source.trimEnd().length)).toBe(
            [
                "",
                "",
                "  - id: newshop",
                "    websiteId: 9001",
                "    name: New Shop",
                "    domain: client-newshop.collectverything.com",
                "    customDomains: [shop.newshop.fr]",
                "    tier: standard",
                "    region: eu-west",
                "    billingId: sub_new1",
                "    costCenter: CC-NEW-001",
                "    department: retail",
                "    createdDate: 2025-06-01",
                "    status: active",
                "",
            ].join("\n"),
        );
        expect(r.tenant).toMatchObject({ id: "newshop", status: "active", createdDate: today, customDomains: ["shop.newshop.fr"] });
    });

    it("onboards into an empty `tenants: []` as a block list, the way people write it (not a flow list of maps)", () => {
        const r = applyEvent("tenants: []\n", { ...created, data: { ...created.data, customDomains: [] } }, { today });
        expect(r.source).toBe(
            [
                "tenants:",
                "  - id: newshop",
                "    websiteId: 9001",
                "    name: New Shop",
                "    domain: client-newshop.collectverything.com",
                "    customDomains: []",
                "    tier: standard",
                "    region: eu-west",
                "    billingId: sub_new1",
                "    costCenter: CC-NEW-001",
                "    department: retail",
                "    createdDate: 2025-06-01",
                "    status: active",
                "",
            ].join("\n"),
        );
    });

    it("treats a second created for the same subscription as already applied, and refuses a reused id", () => {
        const once = applyEvent(source, created, { today }).source;
        expect(applyEvent(once, created, { today })).toMatchObject({ changed: false, source: once });
        const other = { ...created, data: { ...created.data, websiteId: 9002, billingId: "sub_other" } } as BillingEvent;
        expect(editError(() => applyEvent(once, other, { today }))).toMatchObject({ status: 409, code: "tenant-exists", field: "data.tenantId" });
    });

    it("changes only the tier line on an upgrade", () => {
        const r = applyEvent(source, { type: "subscription.updated", data: { tenantId: "nordic", tier: "premium" } }, { today });
        const changed = r.source.split("\n").filter((line, i) => line !== source.split("\n")[i]);
        expect(changed).toEqual(["    tier: premium"]);
        expect(tenant(r.source, "nordic")?.tier).toBe("premium");
    });

    it("replaces custom domains as a flow list", () => {
        const r = applyEvent(
            source,
            { type: "subscription.updated", data: { tenantId: "abc", customDomains: ["shop.client-abc.com", "www.client-abc.com"] } },
            { today },
        );
        expect(r.source).toContain("customDomains: [shop.client-abc.com, www.client-abc.com]");
    });

    it("cancels with today's date and reactivates within the grace period", () => {
        const cancelled = applyEvent(source, { type: "subscription.cancelled", data: { tenantId: "nordic" } }, { today });
        expect(tenant(cancelled.source, "nordic")).toMatchObject({ status: "cancelled", cancelledAt: today });
        expect(applyEvent(cancelled.source, { type: "subscription.cancelled", data: { tenantId: "nordic" } }, { today: "2025-06-05" }).changed).toBe(false);
        const back = applyEvent(cancelled.source, { type: "subscription.reactivated", data: { tenantId: "nordic" } }, { today: "2025-07-01" });
        expect(back.source).toBe(source);
    });

    it("refuses a reactivation after the grace period", () => {
        const cancelled = applyEvent(source, { type: "subscription.cancelled", data: { tenantId: "nordic" } }, { today }).source;
        const err = editError(() => applyEvent(cancelled, { type: "subscription.reactivated", data: { tenantId: "nordic" } }, { today: "2025-07-02" }));
        expect(err).toMatchObject({ status: 409, code: "grace-period-over" });
        expect(err.message).toContain("the grace period ended on 2025-07-01");
    });

    it("answers 404 for an unknown tenant", () => {
        expect(editError(() => applyEvent(source, { type: "subscription.cancelled", data: { tenantId: "nobody" } }, { today }))).toMatchObject({
            status: 404,
            field: "data.tenantId",
        });
    });

    it("refuses a change that makes the manifest invalid with the validator's message", () => {
        const dup = { ...created, data: { ...created.data, domain: "client-abc.collectverything.com" } } as BillingEvent;
        const err = editError(() => applyEvent(source, dup, { today }));
        expect(err.status).toBe(422);
        expect(err.field).toBe("data.domain");
        expect(err.message).toContain('duplicate domain: already served for tenant "abc"');
        const longId = { ...created, data: { ...created.data, tenantId: "a".repeat(40) } } as BillingEvent;
        expect(editError(() => applyEvent(source, longId, { today }))).toMatchObject({ status: 422, field: "data.tenantId" });
    });
});

describe("applyEvents (group commit)", () => {
    /** The reference: the events applied one after the other with applyEvent. */
    type Answer = { changed: boolean; tenant: TenantSpec } | { status: number; code: string; field?: string };
    function oneByOne(events: readonly BillingEvent[]) {
        let current = source;
        const results = events.map((e): Answer => {
            try {
                const r = applyEvent(current, e, { today });
                current = r.source;
                return { changed: r.changed, tenant: r.tenant };
            } catch (err) {
                if (err instanceof EditError) return { status: err.status, code: err.code, field: err.field };
                throw err;
            }
        });
        return { source: current, results };
    }

    const ids = ["abc", "nordic", "fresh", "other"];
    const eventArb: fc.Arbitrary<BillingEvent> = fc.oneof(
        // `other`: a second subscription for the same id (another websiteId and billingId): refused 409 once the id exists.
        fc
            .record({ id: fc.constantFrom(...ids), tier: fc.constantFrom("standard", "premium", "business"), dup: fc.boolean(), other: fc.boolean() })
            .map(({ id, tier, dup, other }): BillingEvent => ({
                type: "subscription.created",
                data: {
                    ...created.data,
                    tenantId: id,
                    websiteId: 9000 + ids.indexOf(id) + (other ? 100 : 0),
                    billingId: `sub_${id}${other ? "_2" : ""}`,
                    tier,
                    domain: dup ? "client-abc.collectverything.com" : `client-${id}${other ? "-2" : ""}.collectverything.com`,
                    customDomains: [],
                },
            })),
        fc
            .record({ id: fc.constantFrom(...ids), tier: fc.constantFrom("standard", "premium", "business") })
            .map(({ id, tier }): BillingEvent => ({ type: "subscription.updated", data: { tenantId: id, tier } })),
        fc.constantFrom(...ids).map((id): BillingEvent => ({ type: "subscription.cancelled", data: { tenantId: id } })),
        fc.constantFrom(...ids).map((id): BillingEvent => ({ type: "subscription.reactivated", data: { tenantId: id } })),
    );

    it("gives every event the answer it gets applied one by one, and the same final manifest", () => {
        fc.assert(
            fc.property(fc.array(eventArb, { minLength: 1, maxLength: 8 }), (events) => {
                const batch = applyEvents(source, events, { today });
                const reference = oneByOne(events);
                expect(batch.source).toBe(reference.source);
                // An accepted event reports its tenant's entry as the whole batch leaves it: the reference's last one for that tenant.
                const lastOf = new Map<string, unknown>();
                for (const r of reference.results) if ("tenant" in r) lastOf.set(r.tenant.id, r.tenant);
                expect(
                    batch.results.map((r) => {
                        if (r instanceof StaleEvent) throw new Error("no event is stale without lastApplied");
                        return r instanceof EditError ? { status: r.status, code: r.code, field: r.field } : { changed: r.changed, tenant: r.tenant };
                    }),
                ).toEqual(reference.results.map((r) => ("tenant" in r ? { ...r, tenant: lastOf.get(r.tenant.id) } : r)));
            }),
            { numRuns: 150, seed: 4 },
        );
    });

    it("a valid create after a refused create of the same id gets its own answer and lands (issue 10, 4.1)", () => {
        // The first create is refused by the validator (a domain abc serves); the second, another subscription for
        // the same id, is valid. One at a time: 422, then 202. The combined pass saw the second collide with the first.
        const refused = { ...created, data: { ...created.data, domain: "client-abc.collectverything.com" } } as BillingEvent;
        const valid = {
            ...created,
            data: { ...created.data, websiteId: 9100, billingId: "sub_new2", domain: "client-newshop2.collectverything.com" },
        } as BillingEvent;
        const batch = applyEvents(source, [refused, valid], { today });
        expect(batch.results.map((r) => (r instanceof EditError ? `${r.status} ${r.code}` : "applied"))).toEqual(["422 manifest-invalid", "applied"]);
        expect(tenant(batch.source, "newshop")).toMatchObject({ websiteId: 9100, billingId: "sub_new2" });
    });

    it("an event created before the last one applied to its tenant is stale: answered, not applied, in the fast path and in the fallback (issue 10, 4.2)", () => {
        const lastApplied = new Map([["nordic", 1000]]);
        const events: TimedEvent[] = [
            { type: "subscription.updated", data: { tenantId: "nordic", tier: "premium" }, created: 999 },
            { type: "subscription.updated", data: { tenantId: "nordic", tier: "business" }, created: 1000 },
            { type: "subscription.updated", data: { tenantId: "nordic", tier: "premium" }, created: 1001 },
            { type: "subscription.updated", data: { tenantId: "nordic", tier: "standard" }, created: 1000 },
            { type: "subscription.updated", data: { tenantId: "nordic", tier: "business" } },
        ];
        const label = (r: unknown) => (r instanceof StaleEvent ? `stale ${r.created} < ${r.lastApplied}` : r instanceof EditError ? `${r.status}` : "applied");
        const fast = applyEvents(source, events, { today, lastApplied });
        expect(fast.results.map(label)).toEqual(["stale 999 < 1000", "applied", "applied", "stale 1000 < 1001", "applied"]);
        expect(tenant(fast.source, "nordic")?.tier).toBe("business");
        // The same events next to one the validator refuses: the fallback keeps the same answers.
        const bad = { ...created, data: { ...created.data, domain: "client-abc.collectverything.com" } } as BillingEvent;
        const slow = applyEvents(source, [...events, bad], { today, lastApplied });
        expect(slow.results.map(label)).toEqual([...fast.results.map(label), "422"]);
        expect(slow.source).toBe(fast.source);
    });

    it("validates the manifest once before and once after, whatever the number of events", () => {
        const events: BillingEvent[] = [
            created,
            { type: "subscription.updated", data: { tenantId: "nordic", tier: "premium" } },
            { type: "subscription.cancelled", data: { tenantId: "abc" } },
        ];
        expect(applyEvents(source, events, { today }).validations).toBe(2);
        expect(applyEvents(source, events, { today, sourceIsValid: true }).validations).toBe(1);
    });
});
