/**
 * Git as the one source of truth (issue 10, section 1): the group commit and
 * `tenantctl purge` commit and push through core/manifestRepo.ts, with the
 * real `git` command and a local bare repository as the remote. A person
 * works in a clone of their own and pushes to the same remote.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { removeTenantFromManifest } from "../../../cli/purge";
import { ManifestFile } from "../../../core/manifestFile";
import { ManifestRepo } from "../../../core/manifestRepo";
import type { BillingEvent } from "../../../lib/billingEvent";
import { EventCommitter, type CommitOutcome } from "../../../service/commit";
import { Store } from "../../../service/store";
import { git, seededRemote } from "../../support/gitRemote";
import { REPO_MANIFEST, tempDir } from "../../support/service";

/** A bare remote holding tenants.yaml on main, the service's clone and a person's clone. */
function setup(manifestText = fs.readFileSync(REPO_MANIFEST, "utf8")) {
    const dir = tempDir("cv-git-");
    const remote = seededRemote(dir, manifestText);
    const clone = (name: string) => {
        const p = path.join(dir, name);
        git(dir, "clone", "--quiet", "-b", "main", remote, p);
        return p;
    };
    return { dir, remote, service: clone("service"), person: clone("person") };
}

/** The person edits tenants.yaml in their clone, commits and pushes. */
function personPushes(person: string, edit: (text: string) => string, message: string): void {
    git(person, "pull", "--quiet", "--ff-only", "origin", "main");
    const file = path.join(person, "tenants.yaml");
    const before = fs.readFileSync(file, "utf8");
    const after = edit(before);
    expect(after).not.toBe(before);
    fs.writeFileSync(file, after);
    git(person, "-c", "user.name=A Person", "-c", "user.email=person@example.com", "commit", "--quiet", "-am", message);
    git(person, "push", "--quiet", "origin", "HEAD:main");
}

/** tenants.yaml on the remote's main. */
function remoteManifest(remote: string): string {
    return git(remote, "show", "main:tenants.yaml");
}

function remoteLog(remote: string): string[] {
    return git(remote, "log", "--format=%an|%s", "main").trim().split("\n");
}

async function committerIn(clone: string) {
    const file = path.join(clone, "tenants.yaml");
    const repo = await ManifestRepo.open(file);
    const store = new Store(":memory:");
    const batches: { gitMs: number; attempts: number; refusedLate: number; size: number }[] = [];
    const manifest = new ManifestFile(file, { repo });
    const committer = new EventCommitter(manifest, store, { file: "tenants.yaml", stackOf: (r) => r, onBatch: (b) => batches.push(b) });
    await committer.start();
    return { file, repo, store, committer, batches, manifest };
}

const tier = (tenantId: string, t: string): BillingEvent => ({ type: "subscription.updated", data: { tenantId, tier: t as "business" } });

const tierOf = (text: string, id: string) => new RegExp(`- id: ${id}\\n(?: {4}.*\\n)*? {4}tier: (\\w+)\\n`).exec(text)?.[1];

describe("the group commit pushes every batch to git", () => {
    it("commits one batch, named by its events and their ids, and pushes it; the event is applied only once pushed", async () => {
        const { remote, service } = setup();
        const { committer, store, batches } = await committerIn(service);
        const accepted = await committer.accept({ id: "evt_g1", event: tier("nordic", "business") });
        expect(accepted.kind).toBe("queued");
        // Queued, not applied: nothing is recorded before the push.
        expect(await store.getEvent("evt_g1")).toBeUndefined();
        const outcomes = await Promise.all([(accepted as Extract<typeof accepted, { kind: "queued" }>).applied]);
        expect(outcomes.map((o) => o.kind)).toEqual(["applied"]);
        expect(await store.getEvent("evt_g1")).toMatchObject({ outcome: "accepted" });
        expect(tierOf(remoteManifest(remote), "nordic")).toBe("business");
        expect(remoteLog(remote)).toEqual(["Collect & Verything billing service|billing: subscription.updated nordic (evt_g1)", "Seed|seed"]);
        expect(git(remote, "log", "-1", "--format=%b", "main").trim()).toBe("Event: evt_g1 subscription.updated nordic");
        expect(batches).toHaveLength(1);
        expect(batches[0].attempts).toBe(1);
        expect(batches[0].gitMs).toBeGreaterThan(0);
        await committer.close();
    });

    it("a batch of several events is one commit listing each", async () => {
        const { remote, service } = setup();
        const { committer } = await committerIn(service);
        const outcomes = await Promise.all([
            committer.submit({ id: "evt_m1", event: tier("nordic", "business") }),
            committer.submit({ id: "evt_m2", event: tier("xyz", "premium") }),
        ]);
        expect(outcomes.map((o) => o.kind)).toEqual(["applied", "applied"]);
        expect(remoteLog(remote)[0]).toBe("Collect & Verything billing service|billing: 2 events (subscription.updated)");
        expect(git(remote, "log", "-1", "--format=%b", "main").trim()).toBe(
            "Event: evt_m1 subscription.updated nordic\nEvent: evt_m2 subscription.updated xyz",
        );
        await committer.close();
    });

    it("a person's push to the same remote meanwhile: the push is refused, the batch is applied again on their tip, and both changes survive", async () => {
        const { remote, service, person } = setup();
        const { committer, batches } = await committerIn(service);
        // After the service's clone last fetched, a person changes xyz's tier and pushes.
        personPushes(person, (t) => t.replace(/(- id: xyz\n(?: {4}.*\n)*? {4}tier: )\w+/, "$1premium"), "xyz to premium by hand");
        const outcome = await committer.submit({ id: "evt_race", event: tier("nordic", "premium") });
        expect(outcome.kind).toBe("applied");
        const text = remoteManifest(remote);
        expect(tierOf(text, "xyz")).toBe("premium");
        expect(tierOf(text, "nordic")).toBe("premium");
        expect(remoteLog(remote)).toEqual([
            "Collect & Verything billing service|billing: subscription.updated nordic (evt_race)",
            "A Person|xyz to premium by hand",
            "Seed|seed",
        ]);
        expect(batches[0]).toMatchObject({ attempts: 2, refusedLate: 0 });
        await committer.close();
    });

    it("a person's change that conflicts with the batch: an explicit error for that event, the others land, nothing of it is pushed", async () => {
        const { remote, service, person } = setup();
        const { committer, store, batches } = await committerIn(service);
        // The person gives a domain to abc; the service, not knowing, accepted a new tenant serving that same domain.
        const domain = "client-newshop.collectverything.com";
        personPushes(
            person,
            (t) => t.replace("customDomains: [shop.client-abc.com]", `customDomains: [shop.client-abc.com, ${domain}]`),
            "abc serves newshop's domain",
        );
        const created: BillingEvent = {
            type: "subscription.created",
            data: {
                tenantId: "newshop",
                websiteId: 880001,
                name: "New Shop",
                domain,
                tier: "standard",
                region: "eu-west",
                billingId: "sub_newshop",
                costCenter: "CC-1",
                department: "retail",
            },
        };
        const outcomes: CommitOutcome[] = await Promise.all([
            committer.submit({ id: "evt_conflict", event: created }),
            committer.submit({ id: "evt_fine", event: tier("nordic", "business") }),
        ]);
        expect(outcomes.map((o) => o.kind)).toEqual(["rejected", "applied"]);
        expect(outcomes[0]).toMatchObject({ error: { status: 422, code: "manifest-invalid", field: "data.domain" } });
        expect((outcomes[0] as { error: Error }).error.message).toContain('duplicate domain: already served for tenant "abc"');
        const text = remoteManifest(remote);
        expect(text).not.toContain("id: newshop");
        expect(text).toContain(`customDomains: [shop.client-abc.com, ${domain}]`);
        expect(tierOf(text, "nordic")).toBe("business");
        expect(remoteLog(remote)).toEqual([
            "Collect & Verything billing service|billing: 2 events (subscription.created, subscription.updated)",
            "A Person|abc serves newshop's domain",
            "Seed|seed",
        ]);
        // Recorded as refused, with the reason, and announced to the sender's operators.
        expect(await store.getEvent("evt_conflict")).toMatchObject({ outcome: "refused", jobId: null, error: { status: 422, code: "manifest-invalid" } });
        expect((await store.unpublished()).map((o) => [o.routingKey, JSON.parse(o.body).payload.billing_event_id])).toEqual([
            ["tenant.provisioning_failed", "evt_conflict"],
        ]);
        expect(batches[0]).toMatchObject({ attempts: 2, refusedLate: 1 });
        await committer.close();
    });

    it("purge racing a webhook batch: purge re-reads the tip and pushes (another clone: the push race decides), nothing is lost", async () => {
        const cancelled = fs
            .readFileSync(REPO_MANIFEST, "utf8")
            .replace(/(- id: xyz\n(?: {4}.*\n)*? {4}status: )active\n/, "$1cancelled\n    cancelledAt: 2026-01-02\n");
        expect(cancelled).toContain("cancelledAt: 2026-01-02");
        const { remote, service, person } = setup(cancelled);
        const { committer, repo } = await committerIn(service);
        // Purge runs in the person's clone (another process in real life: the same remote, its own lock on its own clone).
        const purgeRepo = await ManifestRepo.open(path.join(person, "tenants.yaml"));
        const ctx = { tenantId: "xyz", stack: "us-east", region: "us-east", today: "2027-01-01", manifestPath: "tenants.yaml" };
        const [outcomes] = await Promise.all([
            Promise.all([
                committer.submit({ id: "evt_p1", event: tier("nordic", "business") }),
                committer.submit({ id: "evt_p2", event: tier("abc", "standard") }),
            ]),
            removeTenantFromManifest(path.join(person, "tenants.yaml"), ctx, undefined, purgeRepo),
        ]);
        expect(outcomes.map((o) => o.kind)).toEqual(["applied", "applied"]);
        const text = remoteManifest(remote);
        // Purge turns the entry into a tombstone (status deleted), the webhooks' upgrades next to it.
        expect(new RegExp("- id: xyz\\n(?: {4}.*\\n)*? {4}status: deleted\\n").test(text)).toBe(true);
        expect(tierOf(text, "nordic")).toBe("business");
        expect(tierOf(text, "abc")).toBe("standard");
        expect(
            remoteLog(remote)
                .map((l) => l.split("|")[1])
                .sort(),
        ).toEqual([
            "billing: 2 events (subscription.updated)",
            "seed",
            "tenantctl purge: tombstone xyz (data erased; stack us-east, grace period over on 2027-01-01)",
        ]);
        expect(repo.branch).toBe("main");
        await committer.close();
    });

    it("a push that fails (the remote unreachable): nothing is recorded, nothing unpushed is kept, and the queued event lands once the remote is back", async () => {
        const { remote, service } = setup();
        const file = path.join(service, "tenants.yaml");
        const repo = await ManifestRepo.open(file);
        const store = new Store(":memory:");
        const errors: unknown[] = [];
        const committer = new EventCommitter(new ManifestFile(file, { repo }), store, {
            file: "tenants.yaml",
            stackOf: (r) => r,
            recoverDelayMs: 100,
            onError: (e) => errors.push(e),
        });
        await committer.start();
        const moved = `${remote}.away`;
        fs.renameSync(remote, moved);
        const accepted = await committer.accept({ id: "evt_offline", event: tier("nordic", "business") });
        expect(accepted.kind).toBe("queued");
        await expect((accepted as Extract<typeof accepted, { kind: "queued" }>).applied).rejects.toThrow(
            "git push --porcelain origin HEAD:refs/heads/main failed",
        );
        // Not applied: no record, still queued, and the clone back on the last pushed commit (no local commit left to push later).
        expect(await store.getEvent("evt_offline")).toBeUndefined();
        expect(await store.queuedEvent("evt_offline")).toMatchObject({ tenantId: "nordic" });
        expect(git(service, "rev-parse", "HEAD").trim()).toBe(git(service, "rev-parse", "origin/main").trim());
        expect(tierOf(fs.readFileSync(file, "utf8"), "nordic")).toBe("standard");
        fs.renameSync(moved, remote);
        // Retried on the timer: pushed, then recorded.
        const end = Date.now() + 10_000;
        while (!(await store.getEvent("evt_offline")) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
        expect(await store.getEvent("evt_offline")).toMatchObject({ outcome: "accepted" });
        expect(tierOf(remoteManifest(remote), "nordic")).toBe("business");
        expect(errors.length).toBeGreaterThanOrEqual(1);
        await committer.close();
    });

    it("refuses a clone with other local changes: every change is built on the remote tip", async () => {
        const { service } = setup();
        fs.writeFileSync(path.join(service, "README"), "local work\n");
        git(service, "add", "README");
        await expect(ManifestRepo.open(path.join(service, "tenants.yaml"))).rejects.toThrow(`the clone ${fs.realpathSync(service)} has local changes (README)`);
    });
});
