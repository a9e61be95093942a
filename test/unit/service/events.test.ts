/** Which platform event a deployed billing event is announced as (service/events.ts), by hand. */
import { PLATFORM_EVENTS, successEvent } from "../../../service/events";

describe("successEvent", () => {
    it.each([
        ["subscription.created", "active", "tenant.provisioned"],
        ["subscription.updated", "active", "tenant.updated"],
        ["subscription.updated", "suspended", "tenant.updated"],
        ["subscription.cancelled", "cancelled", "tenant.offboarding_started"],
        ["subscription.reactivated", "active", "tenant.updated"],
        ["invoice.payment_failed", "suspended", "tenant.suspended"],
        ["subscription.paused", "suspended", "tenant.suspended"],
        // A suspension event on a cancelled tenant changes nothing: not a suspension.
        ["invoice.payment_failed", "cancelled", "tenant.updated"],
        ["subscription.paused", "cancelled", "tenant.updated"],
        ["invoice.payment_succeeded", "active", "tenant.resumed"],
        ["subscription.resumed", "active", "tenant.resumed"],
        // A payment after a cancellation (the last invoice) leaves it cancelled.
        ["invoice.payment_succeeded", "cancelled", "tenant.updated"],
        // In one job, a failed payment followed by a successful one: the tenant ends active.
        ["invoice.payment_failed", "active", "tenant.updated"],
    ])("%s leaving the tenant %s: %s", (type, status, expected) => {
        expect(successEvent(type, status)).toBe(expected);
    });

    it.each([
        ["invoice.payment_succeeded", "active", "suspended", "tenant.resumed"],
        // The monthly payment of a tenant the last job deployed active: nothing resumed.
        ["invoice.payment_succeeded", "active", "active", "tenant.updated"],
        ["subscription.resumed", "active", "active", "tenant.updated"],
        ["invoice.payment_failed", "suspended", "active", "tenant.suspended"],
        // Another failed attempt while already suspended.
        ["invoice.payment_failed", "suspended", "suspended", "tenant.updated"],
        ["subscription.paused", "suspended", "suspended", "tenant.updated"],
    ])("%s leaving the tenant %s, deployed %s before: %s", (type, status, previous, expected) => {
        expect(successEvent(type, status, previous)).toBe(expected);
    });

    it("the platform's events, in this order", () => {
        expect(PLATFORM_EVENTS).toEqual([
            "tenant.provisioned",
            "tenant.updated",
            "tenant.suspended",
            "tenant.resumed",
            "tenant.offboarding_started",
            "tenant.provisioning_failed",
        ]);
    });
});
