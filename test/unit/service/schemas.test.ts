/** The published schemas derive from one definition each: the events' from lib/billingEvent.ts, the tenant fields from lib/manifest.ts. */
import { EVENT_TYPES } from "../../../lib/billingEvent";
import { STATUSES } from "../../../lib/manifest";
import { REGIONS } from "../../../lib/regions";
import { TIERS } from "../../../lib/tiers";
import { tenantBody, webhookBody } from "../../../service/schemas";

interface Json {
    readonly [key: string]: unknown;
}
const obj = (v: unknown): Json => (v !== null && typeof v === "object" ? (v as Json) : {});

function dataSchema(type: string): Json {
    const branches = obj(webhookBody).allOf as readonly Json[];
    const branch = branches.find((b) => obj(obj(obj(b.if).properties).type).const === type);
    return obj(obj(obj(branch?.then).properties).data);
}

describe("POST /webhooks/billing body schema", () => {
    it("checks data by the schema of each known type, and only the envelope of other types", () => {
        expect(obj(webhookBody).required).toEqual(["id", "type", "data"]);
        expect((obj(webhookBody).allOf as readonly Json[]).map((b) => obj(obj(obj(b.if).properties).type).const)).toEqual([...EVENT_TYPES]);
        expect(obj(obj(obj(webhookBody).properties).data).type).toBe("object");
    });

    it("subscription.created carries the tenant fields the provider knows, typed as the manifest types them", () => {
        const created = dataSchema("subscription.created");
        const props = obj(created.properties);
        expect(Object.keys(props)).toEqual([
            "tenantId",
            "websiteId",
            "name",
            "domain",
            "customDomains",
            "tier",
            "region",
            "billingId",
            "costCenter",
            "department",
            "createdDate",
        ]);
        expect(created.required).toEqual(["tenantId", "websiteId", "name", "domain", "tier", "region", "billingId", "costCenter", "department"]);
        expect(created.additionalProperties).toBe(false);
        expect(obj(props.tier).enum).toEqual([...TIERS]);
        expect(obj(props.region).enum).toEqual([...REGIONS]);
        expect(obj(props.customDomains)).toMatchObject({
            type: "array",
            maxItems: 50,
            uniqueItems: true,
            items: { type: "string", minLength: 4, maxLength: 253 },
        });
        // A year of this century; the moving upper bound (a year after today) is checked by checkEventData.
        expect(obj(props.createdDate)).toMatchObject({ type: "string", pattern: "^20\\d{2}-\\d{2}-\\d{2}$" });
        expect(obj(props.name)).toMatchObject({
            type: "string",
            minLength: 1,
            maxLength: 200,
            pattern: "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]*$",
        });
    });

    it("subscription.updated needs something to change; cancelled and reactivated name the tenant", () => {
        expect(dataSchema("subscription.updated")).toMatchObject({ required: ["tenantId"], minProperties: 2, additionalProperties: false });
        expect(Object.keys(obj(dataSchema("subscription.updated").properties))).toEqual([
            "tenantId",
            "name",
            "domain",
            "customDomains",
            "tier",
            "billingId",
            "costCenter",
            "department",
        ]);
        expect(Object.keys(obj(dataSchema("subscription.cancelled").properties))).toEqual(["tenantId", "cancelledAt"]);
        expect(Object.keys(obj(dataSchema("subscription.reactivated").properties))).toEqual(["tenantId"]);
        for (const type of ["subscription.paused", "subscription.resumed", "invoice.payment_failed", "invoice.payment_succeeded"]) {
            expect(dataSchema(type)).toMatchObject({ required: ["tenantId"], additionalProperties: false });
            expect(Object.keys(obj(dataSchema(type).properties))).toEqual(["tenantId"]);
        }
        // The label values are checked as the manifest checks them.
        expect(obj(obj(dataSchema("subscription.updated").properties).costCenter)).toEqual({
            type: "string",
            pattern: "^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$",
        });
    });
});

describe("GET /tenants/:id response schema", () => {
    it("takes region, tier and status from the manifest's tenant schema", () => {
        const props = obj(obj(tenantBody).properties);
        const values = (p: unknown) => (obj(p).anyOf as readonly Json[]).flatMap((s) => (s.type === "null" ? [null] : (s.enum as unknown[])));
        expect(values(props.region)).toEqual([...REGIONS, null]);
        expect(values(props.tier)).toEqual([...TIERS, null]);
        expect(values(props.manifestStatus)).toEqual([...STATUSES, null]);
    });
});
