import { tenantSpec } from "../../support/manifests";
import { residencyConflicts } from "../../../lib/residency";
import type { TenantSpec } from "../../../lib/manifest";

const tenant = (id: string, region: TenantSpec["region"]): TenantSpec => tenantSpec(id, { region, billingId: "sub_1" });

describe("residencyConflicts", () => {
    test("a tenant still held by a peer region stack is refused, naming both regions and the way out", () => {
        const problems = residencyConflicts(
            "eu-west",
            [tenant("sakura", "eu-west"), tenant("abc", "eu-west")],
            [
                { stack: "collectverything/tenant-platform/apac", tenants: { sakura: {}, kiwi: {} } },
                { stack: "collectverything/tenant-platform/us-east", tenants: { xyz: {} } },
            ],
        );
        expect(problems).toEqual([
            'tenant "sakura" is listed in region eu-west, but stack collectverything/tenant-platform/apac still holds its data. ' +
                'Data never leaves its region: set its region back, or onboard the client under a new id in eu-west and cancel "sakura" in its old region.',
        ]);
    });

    test("peers without a tenants output (new or empty stacks) refuse nothing", () => {
        expect(residencyConflicts("apac", [tenant("kiwi", "apac")], [{ stack: "org/p/eu-west", tenants: undefined }])).toEqual([]);
    });

    test("inherited object properties are not tenants", () => {
        expect(residencyConflicts("apac", [tenant("constructor", "apac")], [{ stack: "org/p/eu-west", tenants: {} }])).toEqual([]);
    });
});
