/**
 * The group commit (service/commit.ts) on its own: each delivery is decided
 * at the door on the manifest's index (a refusal, a duplicate or a stale
 * event never reaches a batch), the accepted ones submitted in one turn of
 * the event loop form one batch, so what a batch does can be stated exactly:
 * one read, one validation, one write, one transaction, and per event the
 * same answer as if the events had been applied one by one.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { deployedAlready, EventCommitter, type CommitOutcome } from "../../../service/commit";
import type { BillingEvent } from "../../../lib/billingEvent";
import { ManifestFile } from "../../../core/manifestFile";
import { Store, type TenantRecord } from "../../../service/store";
import { tenantSpec } from "../../support/manifests";
import { tempManifest } from "../../support/service";

interface Batch {
    size: number;
    validations: number;
    written: boolean;
    gitMs: number;
    attempts: number;
    refusedLate: number;
}

/** A batch without git, every event accepted at the door applied. */
const batch = (size: number, validations: number, written = true): Batch => ({ size, validations, written, gitMs: 0, attempts: 1, refusedLate: 0 });

function setup() {
    const file = tempManifest();
    const store = new Store(":memory:");
    const batches: Batch[] = [];
    const committer = new EventCommitter(new ManifestFile(file), store, { file: path.basename(file), stackOf: (r) => r, onBatch: (b) => batches.push(b) });
    return { file, store, batches, committer };
}

let websiteId = 70_000;
const created = (tenantId: string, extra: Record<string, unknown> = {}): BillingEvent => ({
    type: "subscription.created",
    data: {
        tenantId,
        websiteId: ++websiteId,
        name: `Shop ${tenantId}`,
        domain: `client-${tenantId}.collectverything.com`,
        tier: "standard",
        region: "eu-west",
        billingId: `sub_${tenantId}`,
        costCenter: "CC-1",
        department: "retail",
        ...extra,
    },
});

function kinds(outcomes: readonly CommitOutcome[]): string[] {
    return outcomes.map((o) => (o.kind === "rejected" ? `rejected ${o.error.status}` : o.kind));
}

describe("EventCommitter", () => {
    it("commits the deliveries of one turn as one batch: one validation, one write, one transaction, arrival order; refusals and duplicates decided at the door", async () => {
        const { file, store, batches, committer } = setup();
        const before = fs.readFileSync(file, "utf8");
        const seq = created("seq");
        const outcomes = await Promise.all([
            committer.submit({ id: "e1", event: seq }),
            committer.submit({ id: "e2", event: { type: "subscription.updated", data: { tenantId: "seq", tier: "business" } } }),
            committer.submit({ id: "e1", event: seq }),
            committer.submit({ id: "e3", event: { type: "subscription.cancelled", data: { tenantId: "nobody" } } }),
            committer.submit({ id: "e4", event: { type: "subscription.updated", data: { tenantId: "nordic", tier: "premium" } } }),
        ]);
        expect(kinds(outcomes)).toEqual(["applied", "applied", "duplicate", "rejected 404", "applied"]);
        // The second created of the same id is a redelivery of an event still waiting for its batch: no record yet.
        expect(outcomes[2]).toEqual({ kind: "duplicate" });
        // The update saw the tenant created just before it in the same batch.
        expect(outcomes[1]).toMatchObject({ kind: "applied", changed: true, tenant: { id: "seq", tier: "business" } });
        // The duplicate and the 404 never reach the batch; the file was validated when the index was loaded.
        expect(batches).toEqual([batch(3, 1)]);
        const after = fs.readFileSync(file, "utf8");
        expect(after.split("\n").filter((line, i) => line !== before.split("\n")[i])[0]).toBe("    tier: premium");
        expect(after).toMatch(/- id: seq\n(?:\s+.*\n)*?\s+tier: business\n/);
        expect(await store.eventCount()).toBe(3);
        // All eu-west: one job, the events coalesced into it.
        expect((await store.jobs()).map((j) => [j.tenants, j.events])).toEqual([
            [
                ["seq", "nordic"],
                ["e1", "e2", "e4"],
            ],
        ]);
    });

    it("validates a manifest it has already validated or written only once: each batch costs one validation", async () => {
        const { batches, committer } = setup();
        await Promise.all([committer.submit({ id: "a1", event: created("one") }), committer.submit({ id: "a2", event: created("two") })]);
        await Promise.all([committer.submit({ id: "a3", event: created("three") }), committer.submit({ id: "a4", event: created("four") })]);
        // Loading the index validated the file; each batch validates only its result.
        expect(batches.map((b) => b.validations)).toEqual([1, 1]);
        expect(batches.map((b) => b.size)).toEqual([2, 2]);
    });

    it("refuses at the door the events the validator would refuse in the batch: only the bad events are refused, the batch needs no fallback", async () => {
        const { file, store, batches, committer } = setup();
        await committer.submit({ id: "warm", event: created("warm") });
        const outcomes = await Promise.all([
            committer.submit({ id: "g1", event: created("good-one") }),
            committer.submit({ id: "b1", event: created("dup-domain", { domain: "client-abc.collectverything.com" }) }),
            committer.submit({ id: "g2", event: created("good-two") }),
            // Valid alone, but serves the domain good-two takes just before it.
            committer.submit({ id: "b2", event: created("dup-later", { domain: "client-good-two.collectverything.com" }) }),
            committer.submit({ id: "g3", event: { type: "subscription.updated", data: { tenantId: "good-one", tier: "premium" } } }),
        ]);
        expect(kinds(outcomes)).toEqual(["applied", "rejected 422", "applied", "rejected 422", "applied"]);
        expect(outcomes[1]).toMatchObject({ error: { code: "manifest-invalid", field: "data.domain" } });
        expect((outcomes[3] as { error: Error }).error.message).toContain('already served for tenant "good-two"');
        // The two refusals were answered at the door: the batch holds the three good events, validated once.
        expect(batches[1]).toEqual(batch(3, 1));
        const manifest = fs.readFileSync(file, "utf8");
        expect(manifest).toContain("id: good-one\n");
        expect(manifest).toContain("id: good-two\n");
        expect(manifest).not.toContain("dup-domain");
        expect(manifest).not.toContain("dup-later");
        expect((await Promise.all(["g1", "g2", "g3"].map((id) => store.getEvent(id)))).map((e) => e?.outcome)).toEqual(["accepted", "accepted", "accepted"]);
        expect(await store.getEvent("b1")).toBeUndefined();
        expect(await store.getEvent("b2")).toBeUndefined();
    });

    it("answers each event of a batch as one at a time: a valid create after a refused create of the same id lands (issue 10, 4.1)", async () => {
        const { file, store, committer } = setup();
        // The first serves abc's domain (refused by the validator); the second is another subscription under the same id.
        const outcomes = await Promise.all([
            committer.submit({ id: "t1", event: created("twin", { domain: "client-abc.collectverything.com" }) }),
            committer.submit({ id: "t2", event: created("twin") }),
        ]);
        expect(kinds(outcomes)).toEqual(["rejected 422", "applied"]);
        const second = outcomes[1] as Extract<CommitOutcome, { kind: "applied" }>;
        expect(fs.readFileSync(file, "utf8")).toContain(`- id: twin\n    websiteId: ${second.tenant.websiteId}\n`);
        expect((await store.getEvent("t2"))?.outcome).toBe("accepted");
    });

    it("an event older than the last one applied to its tenant is stale, in the same batch too, and recorded (issue 10, 4.2)", async () => {
        const { file, store, committer } = setup();
        const t = 1_800_000_000;
        const outcomes = await Promise.all([
            committer.submit({ id: "c1", event: { type: "subscription.cancelled", data: { tenantId: "kiwi" }, created: t } }),
            committer.submit({ id: "r1", event: { type: "subscription.reactivated", data: { tenantId: "kiwi" }, created: t - 5 } }),
            committer.submit({ id: "u1", event: { type: "subscription.updated", data: { tenantId: "kiwi", tier: "business" }, created: t + 1 } }),
        ]);
        expect(kinds(outcomes)).toEqual(["applied", "stale", "applied"]);
        expect(outcomes[1]).toMatchObject({ stale: { tenantId: "kiwi", created: t - 5, lastApplied: t } });
        expect(fs.readFileSync(file, "utf8")).toMatch(/- id: kiwi\n(?: {4}.*\n)*? {4}status: cancelled\n/);
        expect(await store.getEvent("r1")).toMatchObject({ outcome: "stale", jobId: null });
        expect((await store.getTenant("kiwi"))?.lastEventCreated).toBe(t + 1);
        // Across batches: the store remembers the last one.
        const late = await committer.submit({ id: "u0", event: { type: "subscription.updated", data: { tenantId: "kiwi", tier: "premium" }, created: t } });
        expect(late).toMatchObject({ kind: "stale", stale: { lastApplied: t + 1 } });
    });

    it("an id reused with another body is a conflict, in the store and in the same batch (issue 10, 4.4)", async () => {
        const { store, committer } = setup();
        const outcomes = await Promise.all([
            committer.submit({ id: "same", event: { type: "subscription.updated", data: { tenantId: "nordic", tier: "premium" } } }),
            committer.submit({ id: "same", event: { type: "subscription.updated", data: { tenantId: "nordic", tier: "business" } } }),
            committer.submit({ id: "same", event: { type: "subscription.updated", data: { tier: "premium", tenantId: "nordic" } } }),
        ]);
        expect(kinds(outcomes)).toEqual(["applied", "conflict", "duplicate"]);
        expect(await committer.submit({ id: "same", event: { type: "subscription.updated", data: { tenantId: "nordic", tier: "standard" } } })).toMatchObject({
            kind: "conflict",
            receivedAt: (await store.getEvent("same"))!.receivedAt,
        });
    });

    it("writes nothing and records nothing when every event of a batch is refused", async () => {
        const { file, store, batches, committer } = setup();
        const before = fs.readFileSync(file, "utf8");
        const mtime = fs.statSync(file).mtimeMs;
        const outcomes = await Promise.all([
            committer.submit({ id: "x1", event: created("dup-domain", { domain: "client-abc.collectverything.com" }) }),
            committer.submit({ id: "x2", event: { type: "subscription.reactivated", data: { tenantId: "ghost" } } }),
        ]);
        expect(kinds(outcomes)).toEqual(["rejected 422", "rejected 404"]);
        expect(batches).toEqual([]);
        expect(fs.readFileSync(file, "utf8")).toBe(before);
        expect(fs.statSync(file).mtimeMs).toBe(mtime);
        expect(await store.eventCount()).toBe(0);
        expect(await store.jobs()).toEqual([]);
    });

    it("refuses every event while the manifest on disk is invalid, writes nothing, and records the refusal with a provisioning_failed event", async () => {
        const { file, store, committer } = setup();
        fs.writeFileSync(file, "tenants:\n  - id: Broken\n");
        // No index of an invalid file: the event is queued (202 at the door) and refused by its batch.
        const accepted = await committer.accept({ id: "y1", event: created("fine") });
        expect(accepted.kind).toBe("queued");
        const outcome = await (accepted as Extract<typeof accepted, { kind: "queued" }>).applied;
        expect(outcome).toMatchObject({ kind: "rejected", error: { status: 422, code: "manifest-invalid" } });
        expect((outcome as { error: Error }).error.message).toContain("invalid before the change");
        expect(fs.readFileSync(file, "utf8")).toBe("tenants:\n  - id: Broken\n");
        expect(await store.getEvent("y1")).toMatchObject({ outcome: "refused", jobId: null, error: { status: 422, code: "manifest-invalid" } });
        expect(await store.jobs()).toEqual([]);
        const [failed] = await store.unpublished();
        expect(failed.routingKey).toBe("tenant.provisioning_failed");
        expect(JSON.parse(failed.body)).toMatchObject({
            event: "tenant.provisioning_failed",
            tenant_id: "client-fine",
            payload: { billing_event_id: "y1", billing_event: "subscription.created", code: "manifest-invalid" },
        });
        expect(await store.openIntents()).toEqual([]);
    });

    it("an event accepted at the door that a change made meanwhile refuses is recorded refused, with its reason, and nothing of it is written", async () => {
        const { file, store, committer } = setup();
        const manifest = new ManifestFile(file);
        // Another writer holds the lock: the batch waits, and that writer gives the event's domain to a tenant of its own.
        let release: (() => void) | undefined;
        const held = manifest.withLock(() => new Promise<void>((r) => (release = r)));
        while (release === undefined) await new Promise((r) => setTimeout(r, 5));
        const accepted = await committer.accept({ id: "late1", event: created("latecomer") });
        expect(accepted).toMatchObject({ kind: "queued", changed: true, tenant: { id: "latecomer" } });
        const before = fs.readFileSync(file, "utf8");
        const other = before.replace("customDomains: [shop.client-abc.com]", "customDomains: [shop.client-abc.com, client-latecomer.collectverything.com]");
        expect(other).not.toBe(before);
        fs.writeFileSync(file, other);
        release?.();
        await held;
        const outcome = await (accepted as Extract<typeof accepted, { kind: "queued" }>).applied;
        expect(outcome).toMatchObject({ kind: "rejected", error: { status: 422, code: "manifest-invalid", field: "data.domain" } });
        expect(fs.readFileSync(file, "utf8")).not.toContain("id: latecomer");
        expect(await store.getEvent("late1")).toMatchObject({ outcome: "refused", error: { status: 422, field: "data.domain" } });
        expect((await store.getEvent("late1"))!.error!.message).toContain('duplicate domain: already served for tenant "abc"');
        expect((await store.unpublished()).map((o) => o.routingKey)).toEqual(["tenant.provisioning_failed"]);
    });
});

describe("deployedAlready: which applied events need no deployment", () => {
    const record = (change: Partial<TenantRecord> = {}): TenantRecord => ({
        id: "abc",
        region: "eu-west",
        state: "active",
        manifestStatus: "active",
        tier: "premium",
        websiteId: 123,
        lastJobId: "job_1",
        updatedAt: "2026-12-01T00:00:00.000Z",
        lastEventCreated: null,
        ...change,
    });
    const active = tenantSpec("abc");
    const suspended = tenantSpec("abc", { status: "suspended" });

    it("the monthly payment of an active tenant whose last job succeeded active: none", () => {
        expect(deployedAlready("invoice.payment_succeeded", false, active, record())).toBe(true);
        expect(deployedAlready("subscription.resumed", false, active, record())).toBe(true);
        expect(deployedAlready("invoice.payment_failed", false, suspended, record({ state: "suspended", manifestStatus: "suspended" }))).toBe(true);
        expect(
            deployedAlready(
                "subscription.paused",
                false,
                tenantSpec("abc", { status: "cancelled" }),
                record({ state: "offboarding", manifestStatus: "cancelled" }),
            ),
        ).toBe(true);
    });

    it("an event that changed the manifest, or is no suspension event, deploys", () => {
        expect(deployedAlready("invoice.payment_succeeded", true, active, record({ state: "suspended", manifestStatus: "suspended" }))).toBe(false);
        expect(deployedAlready("subscription.updated", false, active, record())).toBe(false);
        expect(deployedAlready("subscription.created", false, active, record())).toBe(false);
        expect(
            deployedAlready(
                "subscription.cancelled",
                false,
                tenantSpec("abc", { status: "cancelled" }),
                record({ state: "offboarding", manifestStatus: "cancelled" }),
            ),
        ).toBe(false);
    });

    it("a tenant the service never deployed, or whose last job is queued or failed, deploys", () => {
        expect(deployedAlready("invoice.payment_succeeded", false, active, undefined)).toBe(false);
        expect(deployedAlready("invoice.payment_succeeded", false, active, null)).toBe(false);
        expect(deployedAlready("invoice.payment_succeeded", false, active, record({ state: "pending" }))).toBe(false);
        expect(deployedAlready("invoice.payment_succeeded", false, active, record({ state: "failed" }))).toBe(false);
        expect(deployedAlready("invoice.payment_succeeded", false, active, record({ state: "provisioning" }))).toBe(false);
    });

    it("a redelivery after a crash between the manifest write and the record (the record has the status before) deploys", () => {
        // The event suspended abc in the manifest; the store still says what the last job deployed: active.
        expect(deployedAlready("invoice.payment_failed", false, suspended, record())).toBe(false);
        // A reviewed change made the manifest say suspended while the service last deployed it active: same answer.
        expect(deployedAlready("subscription.paused", false, suspended, record({ manifestStatus: "suspended" }))).toBe(false);
    });
});
