/**
 * A purged tenant's tombstone (status deleted) at the door: the fast
 * acknowledgement decides each event on an index of the manifest, and that
 * index holds the tombstones too, so an event about a purged tenant, or a
 * create reusing its id, websiteId or domain within the reservation, is
 * refused at once, as applying it to the whole manifest refuses it — not
 * answered 202 and refused later.
 */
import * as fs from "node:fs";
import { parseDocument, type YAMLMap, type YAMLSeq } from "yaml";
import { validateManifest } from "../../../lib/manifest";
import { FakeDeployer } from "../../../service/fakeDeployer";
import { createdEvent, event, post, startService, tempDir, tempManifest, type TestService } from "../../support/service";

let svc: TestService;
let before: string;

beforeAll(async () => {
    // What tenantctl purge leaves of atelier (websiteId 188, cancelled 2026-11-10): its entry as a tombstone.
    const manifestPath = tempManifest(tempDir());
    const doc = parseDocument(fs.readFileSync(manifestPath, "utf8"));
    const entry = (doc.get("tenants") as YAMLSeq<YAMLMap>).items.find((m) => m.get("id") === "atelier")!;
    entry.set("status", "deleted");
    entry.set("deletedAt", "2026-11-30");
    before = doc.toString();
    expect(validateManifest(before).ok).toBe(true);
    fs.writeFileSync(manifestPath, before);
    svc = await startService(new FakeDeployer(), { manifestPath });
});

afterAll(async () => {
    await svc.close();
});

describe("a tombstone at the door", () => {
    it("a create with the purged tenant's id: 409 tenant-deleted at once", async () => {
        const res = await post(svc, createdEvent("atelier", { websiteId: 910001, domain: "client-atelier2.collectverything.com" }));
        expect([res.statusCode, res.json().error, res.json().field]).toEqual([409, "tenant-deleted", "data.tenantId"]);
        expect(res.json().message).toBe(
            'tenant "atelier" was purged on 2026-11-30; its entry is a tombstone and its id, websiteId and domains are reserved. Create a new subscription with a new id instead',
        );
    });

    it("an update of the purged tenant: 409 tenant-deleted at once", async () => {
        const res = await post(svc, event("subscription.updated", { tenantId: "atelier", tier: "business" }));
        expect([res.statusCode, res.json().error]).toEqual([409, "tenant-deleted"]);
    });

    it("a new tenant with the purged tenant's websiteId, or its domain, within the reservation: 422 at once", async () => {
        const site = await post(svc, createdEvent("ateliernew", { websiteId: 188, domain: "client-ateliernew.collectverything.com" }));
        expect(site.statusCode).toBe(422);
        expect(site.body).toContain("websiteId");
        const domain = await post(svc, createdEvent("atelierdom", { websiteId: 910002, domain: "client-atelier.collectverything.com" }));
        expect(domain.statusCode).toBe(422);
        expect(domain.body).toContain("client-atelier.collectverything.com");
    });

    it("nothing of the refused events reaches the manifest; a create with values of its own is accepted (control)", async () => {
        await svc.settled();
        expect(fs.readFileSync(svc.manifestPath, "utf8")).toBe(before);
        const ok = await post(svc, createdEvent("freshshop", { websiteId: 910003 }));
        expect([ok.statusCode, ok.json().status]).toEqual([202, "queued"]);
    });
});
