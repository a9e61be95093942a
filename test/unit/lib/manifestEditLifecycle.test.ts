/**
 * The rest of the subscription lifecycle (issue 10, section 5): a payment
 * failure or a pause suspends a tenant, a payment or a resume ends the
 * suspension, a cancellation outranks both; `subscription.updated` changes
 * domains and billing facts, and they end in the manifest and in the
 * namespace's labels and annotations. Expected values are written out by hand.
 */
import * as fs from "node:fs";
import { checkEventData, EVENT_TYPES, type BillingEvent } from "../../../lib/billingEvent";
import { namespaceAnnotations, namespaceLabels } from "../../../lib/labels";
import { validateManifest, type TenantSpec } from "../../../lib/manifest";
import { applyEvent, applyEvents, EditError, StaleEvent, type TimedEvent } from "../../../lib/manifestEdit";
import { REPO_MANIFEST } from "../../support/service";

const source = fs.readFileSync(REPO_MANIFEST, "utf8");
const today = "2025-06-01";

function tenantOf(text: string, id: string): TenantSpec {
    const r = validateManifest(text);
    if (!r.ok) throw new Error(`invalid: ${JSON.stringify(r.issues)}`);
    const t = r.manifest.tenants.find((x) => x.id === id);
    if (!t) throw new Error(`no tenant ${id}`);
    return t;
}

/** The lines of `after` that differ from `before` (same line count). */
function changedLines(before: string, after: string): string[] {
    const old = before.split("\n");
    return after.split("\n").filter((line, i) => line !== old[i]);
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

const ev = (type: BillingEvent["type"], tenantId = "nordic", created?: number): TimedEvent => ({ type, data: { tenantId }, created }) as TimedEvent;

describe("the event types", () => {
    it("are the subscription's and the invoice's, in this order", () => {
        expect(EVENT_TYPES).toEqual([
            "subscription.created",
            "subscription.updated",
            "subscription.cancelled",
            "subscription.reactivated",
            "subscription.paused",
            "subscription.resumed",
            "invoice.payment_failed",
            "invoice.payment_succeeded",
        ]);
    });
});

describe("suspension", () => {
    it.each(["invoice.payment_failed", "subscription.paused"] as const)("%s suspends an active tenant: only its status line changes", (type) => {
        const r = applyEvent(source, ev(type), { today });
        expect(r.changed).toBe(true);
        expect(changedLines(source, r.source)).toEqual(["    status: suspended"]);
        expect(r.tenant.status).toBe("suspended");
    });

    it("a second suspension (another failed attempt, a pause after a failed payment) changes nothing", () => {
        const suspended = applyEvent(source, ev("invoice.payment_failed"), { today }).source;
        expect(applyEvent(suspended, ev("invoice.payment_failed"), { today })).toMatchObject({ changed: false, source: suspended });
        expect(applyEvent(suspended, ev("subscription.paused"), { today })).toMatchObject({ changed: false, source: suspended });
    });

    it.each([
        ["invoice.payment_failed", "invoice.payment_succeeded"],
        ["subscription.paused", "subscription.resumed"],
        ["invoice.payment_failed", "subscription.resumed"],
        ["subscription.paused", "invoice.payment_succeeded"],
    ] as const)("%s then %s: the manifest is byte for byte as before", (suspend, end) => {
        const suspended = applyEvent(source, ev(suspend), { today }).source;
        const back = applyEvent(suspended, ev(end), { today });
        expect(back).toMatchObject({ changed: true, source });
        expect(back.tenant.status).toBe("active");
    });

    it.each(["invoice.payment_succeeded", "subscription.resumed"] as const)("%s on an active tenant changes nothing", (type) => {
        expect(applyEvent(source, ev(type), { today })).toMatchObject({ changed: false, source });
    });

    it("the namespace of a suspended tenant says so; its data labels stay", () => {
        const t = tenantOf(applyEvent(source, ev("subscription.paused"), { today }).source, "nordic");
        expect(namespaceLabels(t, { environment: "production", region: "eu-west" })).toEqual({
            tenant: "client-nordic",
            environment: "production",
            "managed-by": "pulumi",
            "app.kubernetes.io/managed-by": "pulumi",
            "cost-center": "CC-NOR-014",
            "billing-id": "sub_nordic789",
            department: "home-goods",
            "collectverything.com/region": "eu-west",
            tier: "standard",
            "collectverything.com/lifecycle": "suspended",
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        });
    });

    describe("a cancellation outranks a suspension", () => {
        const cancelled = applyEvent(source, { type: "subscription.cancelled", data: { tenantId: "nordic", cancelledAt: "2025-05-20" } }, { today }).source;

        it.each(["invoice.payment_failed", "subscription.paused", "invoice.payment_succeeded"] as const)("%s on a cancelled tenant changes nothing", (type) => {
            expect(applyEvent(cancelled, ev(type), { today })).toMatchObject({ changed: false, source: cancelled });
        });

        it("a resume of a cancelled tenant is refused (409), naming the way back", () => {
            const err = editError(() => applyEvent(cancelled, ev("subscription.resumed"), { today }));
            expect(err).toMatchObject({ status: 409, code: "tenant-cancelled", field: "type" });
            expect(err.message).toBe(
                'tenant "nordic" was cancelled on 2025-05-20; a resume does not undo a cancellation. Fix: send subscription.reactivated by 2025-06-19, the end of its grace period, to serve it again',
            );
        });

        it("a suspended tenant can be cancelled, and reactivated from there to active", () => {
            const suspended = applyEvent(source, ev("invoice.payment_failed"), { today }).source;
            const gone = applyEvent(suspended, { type: "subscription.cancelled", data: { tenantId: "nordic" } }, { today });
            expect(gone.tenant).toMatchObject({ status: "cancelled", cancelledAt: today });
            expect(applyEvent(gone.source, { type: "subscription.reactivated", data: { tenantId: "nordic" } }, { today }).source).toBe(source);
        });
    });

    it("an unknown tenant is a 404", () => {
        expect(editError(() => applyEvent(source, ev("invoice.payment_failed", "nobody"), { today }))).toMatchObject({
            status: 404,
            code: "tenant-not-found",
            field: "data.tenantId",
        });
    });

    it("a late payment failure (created before the payment that succeeded after it) is stale: acknowledged, not applied", () => {
        const suspended = applyEvent(source, ev("invoice.payment_failed"), { today }).source;
        const r = applyEvents(suspended, [ev("invoice.payment_succeeded", "nordic", 1_750_000_200), ev("invoice.payment_failed", "nordic", 1_750_000_100)], {
            today,
        });
        expect(r.source).toBe(source);
        const [paid, late] = r.results;
        expect(paid).toMatchObject({ changed: true, tenant: { id: "nordic", status: "active" } });
        expect(late).toBeInstanceOf(StaleEvent);
        expect((late as StaleEvent).message).toBe(
            'event created 2025-06-15T15:08:20Z is older than the last event applied to tenant "nordic" (created 2025-06-15T15:10:00Z); acknowledged, not applied',
        );
    });

    it("in one batch, a suspension and its end land in arrival order", () => {
        const r = applyEvents(source, [ev("subscription.paused"), ev("subscription.resumed"), ev("invoice.payment_failed")], { today });
        expect(changedLines(source, r.source)).toEqual(["    status: suspended"]);
        expect(r.results.map((x) => (x instanceof EditError || x instanceof StaleEvent ? x : x.changed))).toEqual([true, true, true]);
    });
});

describe("subscription.updated: domains and billing facts", () => {
    const change: BillingEvent = {
        type: "subscription.updated",
        data: {
            tenantId: "nordic",
            domain: "nordic-home.collectverything.com",
            customDomains: ["shop.nordic-home.se", "www.nordic-home.se"],
            billingId: "sub_nordic999",
            costCenter: "CC-NOR-020",
            department: "furniture",
        },
    };

    it("changes exactly those lines of the entry", () => {
        const r = applyEvent(source, change, { today });
        expect(changedLines(source, r.source)).toEqual([
            "    domain: nordic-home.collectverything.com",
            "    customDomains: [shop.nordic-home.se, www.nordic-home.se]",
            "    billingId: sub_nordic999",
            "    costCenter: CC-NOR-020",
            "    department: furniture",
        ]);
    });

    it("ends in the namespace's labels and annotations", () => {
        const t = tenantOf(applyEvent(source, change, { today }).source, "nordic");
        expect(namespaceLabels(t, { environment: "production", region: "eu-west" })).toMatchObject({
            "cost-center": "CC-NOR-020",
            "billing-id": "sub_nordic999",
            department: "furniture",
            "collectverything.com/lifecycle": "active",
        });
        expect(namespaceAnnotations(t)).toEqual({
            domain: "nordic-home.collectverything.com",
            "custom-domains": "shop.nordic-home.se,www.nordic-home.se",
            "subscription-tier": "standard",
            "created-date": "2025-04-22",
            "billing-id": "sub_nordic999",
            "website-id": "131",
            "display-name": "Nordic Home & Design",
        });
    });

    it("the same change again is a no-op", () => {
        const once = applyEvent(source, change, { today }).source;
        expect(applyEvent(once, change, { today })).toMatchObject({ changed: false, source: once });
    });

    it("a domain another tenant serves is refused (422) on data.domain, without the other entry's line", () => {
        const err = editError(() =>
            applyEvent(source, { type: "subscription.updated", data: { tenantId: "nordic", domain: "client-abc.collectverything.com" } }, { today }),
        );
        expect(err).toMatchObject({ status: 422, code: "manifest-invalid", field: "data.domain" });
        expect(err.message).toBe(
            [
                "1 problem in tenants.yaml; nothing was applied:",
                '  - tenants.yaml: tenant "nordic": field "domain": duplicate domain: already served for tenant "abc" (got "client-abc.collectverything.com"). Allowed: a domain that no other entry lists (primary or custom). Fix: a domain routes to exactly one tenant; remove it from one of the entries.',
            ].join("\n"),
        );
    });

    it("a label value that is not one (cost center with a space) is refused by the event's schema, naming the field and the fix", () => {
        expect(checkEventData({ type: "subscription.updated", data: { tenantId: "nordic", costCenter: "CC NOR" } })).toEqual({
            field: "data.costCenter",
            message:
                'data.costCenter: invalid value. Allowed: 1-63 characters of A-Z a-z 0-9 . _ -, starting and ending with a letter or digit (it becomes a Kubernetes label). Fix: use a value such as "CC-ABC-001"',
        });
        expect(checkEventData({ type: "subscription.updated", data: { tenantId: "nordic", billingId: "x".repeat(64) } })?.field).toBe("data.billingId");
        expect(checkEventData({ type: "subscription.updated", data: { tenantId: "nordic", domain: "Not A Host" } })?.field).toBe("data.domain");
    });

    it("an update with nothing to change names what it may carry", () => {
        expect(checkEventData({ type: "subscription.updated", data: { tenantId: "nordic" } })).toEqual({
            field: "data",
            message:
                "data: nothing to change. Allowed: tenantId and at least one of name, domain, customDomains, tier, billingId, costCenter, department. Fix: send the fields that changed",
        });
    });

    it("the fields that never change through billing are unknown to it", () => {
        for (const field of ["websiteId", "region", "status", "createdDate", "cancelledAt", "shard"]) {
            expect(checkEventData({ type: "subscription.updated", data: { tenantId: "nordic", [field]: "x" } })?.field).toBe("data");
        }
    });
});
