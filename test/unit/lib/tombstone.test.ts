/**
 * Tombstones (issue 12, erasure): a purged tenant's entry stays in the
 * manifest as `status: deleted` with `deletedAt`. It declares nothing and
 * reserves its id, websiteId and domains for 7 years after deletedAt.
 */
import { formatIssue, reservedUntil, tenantsDue, validateManifest } from "../../../lib/manifest";
import { dueReport } from "../../../cli/validateReport";
import { applyEvent, EditError } from "../../../lib/manifestEdit";
import { tenantSpec } from "../../support/manifests";

function entry(id: string, websiteId: number, domain: string, extra: string[] = []): string {
    return [
        `  - id: ${id}`,
        `    websiteId: ${websiteId}`,
        `    name: Shop ${id}`,
        `    domain: ${domain}`,
        "    customDomains: []",
        "    tier: standard",
        "    region: eu-west",
        `    billingId: sub_${id}`,
        "    costCenter: CC-1",
        "    department: retail",
        "    createdDate: 2025-01-15",
        ...extra,
    ].join("\n");
}
const TOMB = ["    status: deleted", "    cancelledAt: 2025-06-01", "    deletedAt: 2025-07-05"];
const LIVE = ["    status: active"];
const file = (...entries: string[]) => `tenants:\n${entries.join("\n")}\n`;

describe("a tombstone", () => {
    test("is valid, and is not a tenant: manifest.tenants leaves it out, manifest.tombstones holds it", () => {
        const result = validateManifest(
            file(entry("old", 7, "client-old.collectverything.com", TOMB), entry("abc", 1, "client-abc.collectverything.com", LIVE)),
            "t.yaml",
            {
                today: "2026-12-01",
            },
        );
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        expect(result.manifest.tenants.map((t) => t.id)).toEqual(["abc"]);
        expect(result.manifest.tombstones?.map((t) => [t.id, t.status, t.deletedAt])).toEqual([["old", "deleted", "2025-07-05"]]);
    });

    test("reserves its id, websiteId and domain until deletedAt + 7 years, wherever it sits in the file", () => {
        expect(reservedUntil("2025-07-05")).toBe("2032-07-05");
        const source = file(entry("old", 7, "client-old.collectverything.com", LIVE), entry("old", 7, "client-old.collectverything.com", TOMB));
        const result = validateManifest(source, "t.yaml", { today: "2032-07-04" });
        expect(result.ok).toBe(false);
        const issues = result.ok ? [] : result.issues;
        expect(issues.map((i) => [i.line, i.field, i.problem])).toEqual([
            [2, "id", 'id reserved by the deleted tenant "old" (purged 2025-07-05) until 2032-07-05: its final backup is archived under it for 7 years'],
            [
                3,
                "websiteId",
                'websiteId reserved by the deleted tenant "old" (purged 2025-07-05) until 2032-07-05: its final backup is archived under it for 7 years',
            ],
            [
                5,
                "domain",
                'domain reserved by the deleted tenant "old" (purged 2025-07-05) until 2032-07-05: its final backup is archived under it for 7 years',
            ],
        ]);
        expect(formatIssue(issues[0])).toBe(
            't.yaml:2: tenant "old": field "id": id reserved by the deleted tenant "old" (purged 2025-07-05) until 2032-07-05: its final backup is archived under it for 7 years (got "old"). Allowed: an id that no live or deleted tenant holds. Fix: choose another id; a purged tenant\'s id is never reused within the retention period.',
        );
        expect(issues[1].fix).toBe("use the new websites-table row's id; a purged tenant's websiteId is not reused within the retention period");
    });

    test("after the reservation the websiteId and domain are free; the id still needs the tombstone removed (two entries cannot share an id)", () => {
        const source = file(entry("old", 7, "client-old.collectverything.com", TOMB), entry("old", 7, "client-old.collectverything.com", LIVE));
        const result = validateManifest(source, "t.yaml", { today: "2032-07-05" });
        expect(result.ok).toBe(false);
        const issues = result.ok ? [] : result.issues;
        expect(issues.map((i) => [i.field, i.problem, i.fix])).toEqual([
            [
                "id",
                'id of the tombstone of tenant "old" (deleted 2025-07-05), whose reservation ended on 2032-07-05',
                'remove the tombstone of "old" (status: deleted) from the manifest first, or choose another id',
            ],
        ]);
        const renamed = file(entry("old", 7, "client-old.collectverything.com", TOMB), entry("new", 7, "client-old.collectverything.com", LIVE));
        expect(validateManifest(renamed, "t.yaml", { today: "2032-07-05" }).ok).toBe(true);
    });

    test("deleted needs deletedAt and cancelledAt; deletedAt needs status deleted and comes after cancelledAt", () => {
        const problems = (extra: string[]) => {
            const r = validateManifest(file(entry("x", 1, "client-x.collectverything.com", extra)), "t.yaml", { today: "2026-12-01" });
            return r.ok ? [] : r.issues.map((i) => [i.field, i.problem]);
        };
        expect(problems(["    status: deleted", "    cancelledAt: 2025-06-01"])).toEqual([["deletedAt", "status is deleted but deletedAt is missing"]]);
        expect(problems(["    status: deleted", "    deletedAt: 2025-07-01"])).toEqual([["cancelledAt", "status is deleted but cancelledAt is missing"]]);
        expect(problems(["    status: active", "    deletedAt: 2025-07-01"])).toEqual([["deletedAt", "deletedAt is set but status is active"]]);
        expect(problems(["    status: deleted", "    cancelledAt: 2025-06-01", "    deletedAt: 2025-05-01"])).toEqual([
            ["deletedAt", "deletedAt is before cancelledAt 2025-06-01"],
        ]);
    });
});

describe("tenants due for purge", () => {
    test("cancelled tenants whose deletion date (cancelledAt + 30 days) is today or earlier, and the validate listing", () => {
        const tenants = [
            tenantSpec("due", { status: "cancelled", cancelledAt: "2026-10-01" }),
            tenantSpec("today", { status: "cancelled", cancelledAt: "2026-11-01" }),
            tenantSpec("grace", { status: "cancelled", cancelledAt: "2026-11-02" }),
            tenantSpec("live"),
        ];
        const due = tenantsDue(tenants, "2026-12-01");
        expect(due.map((d) => [d.tenant.id, d.deleteAfter])).toEqual([
            ["due", "2026-10-31"],
            ["today", "2026-12-01"],
        ]);
        expect(dueReport(due, "2026-12-01")).toBe(
            [
                "2 tenant(s) past their deletion date on 2026-12-01 (due for purge):",
                "  - due (region eu-west): cancelled 2026-10-01, deletion date 2026-10-31. Run: tenantctl purge --stack eu-west --tenant due --yes",
                "  - today (region eu-west): cancelled 2026-11-01, deletion date 2026-12-01. Run: tenantctl purge --stack eu-west --tenant today --yes",
                "  Or every one of a region at once: tenantctl purge --stack <region> --due --yes",
                "",
            ].join("\n"),
        );
        expect(dueReport([], "2026-12-01")).toBe("");
    });
});

describe("billing events about a purged tenant (lib/manifestEdit.ts)", () => {
    const source = file(entry("old", 7, "client-old.collectverything.com", TOMB), entry("abc", 1, "client-abc.collectverything.com", LIVE));

    test("a created with the tombstone's id, and any change to it, is refused 409 tenant-deleted, naming the field and the fix", () => {
        const created = {
            type: "subscription.created" as const,
            data: {
                tenantId: "old",
                websiteId: 7,
                name: "Shop old",
                domain: "client-old.collectverything.com",
                tier: "standard" as const,
                region: "eu-west" as const,
                billingId: "sub_old",
                costCenter: "CC-1",
                department: "retail",
            },
        };
        const message =
            'tenant "old" was purged on 2025-07-05; its entry is a tombstone and its id, websiteId and domains are reserved. Create a new subscription with a new id instead';
        for (const event of [
            created,
            { type: "subscription.reactivated" as const, data: { tenantId: "old" } },
            { type: "subscription.updated" as const, data: { tenantId: "old", tier: "premium" as const } },
        ]) {
            let caught: unknown;
            try {
                applyEvent(source, event, { today: "2026-12-01" });
            } catch (err) {
                caught = err;
            }
            expect(caught).toBeInstanceOf(EditError);
            expect(caught).toMatchObject({ status: 409, code: "tenant-deleted", field: "data.tenantId", message });
        }
    });
});
