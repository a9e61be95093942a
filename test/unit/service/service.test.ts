import { ConcurrentUpdateError } from "@pulumi/pulumi/automation";
import * as fs from "node:fs";
import { FakeDeployer } from "../../../service/fakeDeployer";
import { createdEvent, event, post, request, startService, type TestService } from "../../support/service";

/** What the Automation API throws while another update holds the stack's lock. */
const lockError = (): Error =>
    Object.assign(Object.create(ConcurrentUpdateError.prototype) as Error, { message: "error: [409] Conflict: Another update is currently in progress." });

/** Every accepted event applied and pushed, every job run. */
async function settle(svc: TestService) {
    await svc.settled();
}

/** The job of an event answered 202, once applied (the answer itself says queued, jobId null). */
async function jobOf(svc: TestService, res: { json(): { eventId: string } }): Promise<string | null | undefined> {
    return (await svc.store.getEvent(res.json().eventId))?.jobId;
}

describe("malformed bodies", () => {
    let svc: TestService;
    beforeAll(async () => {
        svc = await startService(new FakeDeployer());
    });
    afterAll(async () => svc.close());

    const valid = createdEvent("malformed");
    const cases: [string, unknown, string][] = [
        ["not JSON", "{oops", "body"],
        ["an array", [], "body"],
        ["no id", { type: valid.type, data: valid.data }, "id"],
        ["no type", { id: "evt_x", data: valid.data }, "type"],
        ["no data", { id: "evt_x", type: valid.type }, "data"],
        ["data not an object", { id: "evt_x", type: valid.type, data: "x" }, "data"],
        ["a missing tier", { ...valid, data: { ...valid.data, tier: undefined } }, "data.tier"],
        ["an unknown tier", { ...valid, data: { ...valid.data, tier: "gold" } }, "data.tier"],
        ["a bad tenant id", { ...valid, data: { ...valid.data, tenantId: "Bad_Id" } }, "data.tenantId"],
        ["a websiteId string", { ...valid, data: { ...valid.data, websiteId: "12" } }, "data.websiteId"],
        ["an unknown field", { ...valid, data: { ...valid.data, colour: "red" } }, "data.colour"],
        ["an update with nothing to change", event("subscription.updated", { tenantId: "abc" }), "data"],
        ["a cancel without tenant", event("subscription.cancelled", {}), "data.tenantId"],
    ];

    it.each(cases.map(([name, body, field]) => [name, field, body] as const))("%s: 400 naming %s, nothing written", async (_name, field, body) => {
        const before = fs.readFileSync(svc.manifestPath, "utf8");
        const res = await post(svc, body);
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({ error: "invalid-body", field });
        expect(res.json().message).toContain(field);
        expect(fs.readFileSync(svc.manifestPath, "utf8")).toBe(before);
        expect(await svc.store.eventCount()).toBe(0);
        expect(await svc.store.jobs()).toHaveLength(0);
    });

    it("a semantically invalid change: 422 with the validator's message, nothing written", async () => {
        const before = fs.readFileSync(svc.manifestPath, "utf8");
        const res = await post(svc, createdEvent("dupdomain", { domain: "client-abc.collectverything.com" }));
        expect(res.statusCode).toBe(422);
        expect(res.json()).toMatchObject({ error: "manifest-invalid", field: "data.domain" });
        expect(res.json().message).toContain('duplicate domain: already served for tenant "abc"');
        expect(fs.readFileSync(svc.manifestPath, "utf8")).toBe(before);
        expect(await svc.store.eventCount()).toBe(0);
    });

    it("unknown event types are acknowledged and nothing more", async () => {
        const before = fs.readFileSync(svc.manifestPath, "utf8");
        const res = await post(svc, event("invoice.paid", { amount: 12 }));
        expect(res.statusCode).toBe(200);
        expect(res.json()).toMatchObject({ result: "ignored" });
        expect(fs.readFileSync(svc.manifestPath, "utf8")).toBe(before);
        expect(await svc.store.eventCount()).toBe(0);
    });

    it("never sends a raw error: 404 for unknown tenants and jobs", async () => {
        expect((await post(svc, event("subscription.cancelled", { tenantId: "ghost" }))).json()).toEqual({
            error: "tenant-not-found",
            message: 'tenant "ghost" is not in the manifest',
            field: "data.tenantId",
        });
        expect((await request(svc, { url: "/jobs/job_nope" })).statusCode).toBe(404);
        expect((await request(svc, { url: "/tenants/ghost" })).statusCode).toBe(404);
    });
});

describe("idempotency", () => {
    it("100 concurrent deliveries of one event make one manifest change and one job", async () => {
        const deployer = new FakeDeployer({ delayMs: 20 });
        const svc = await startService(deployer);
        try {
            const before = fs.readFileSync(svc.manifestPath, "utf8");
            const ev = createdEvent("hundred");
            const results = await Promise.all(Array.from({ length: 100 }, () => post(svc, ev)));
            const codes = results.map((r) => r.statusCode);
            expect(codes.filter((c) => c === 202)).toHaveLength(1);
            expect(codes.filter((c) => c === 200)).toHaveLength(99);
            // Answered before the batch: queued, no job yet.
            const first = results.find((r) => r.statusCode === 202)!;
            expect(first.json()).toEqual({ eventId: ev.id, result: "accepted", status: "queued", tenantId: "hundred", jobId: null });
            expect(new Set(results.filter((r) => r.statusCode === 200).map((r) => r.json().result))).toEqual(new Set(["duplicate"]));
            await settle(svc);
            expect(await jobOf(svc, first)).toBe((await svc.store.jobs())[0].id);
            const after = fs.readFileSync(svc.manifestPath, "utf8");
            expect(after.split("\n").length - before.split("\n").length).toBe(13);
            expect(after.match(/id: hundred$/gm)).toHaveLength(1);
            expect(await svc.store.jobs()).toHaveLength(1);
            expect(deployer.completed).toHaveLength(1);
            const tenant = await request(svc, { url: "/tenants/hundred" });
            expect(tenant.json()).toMatchObject({ id: "hundred", state: "active", lastJob: { state: "succeeded", tenants: ["hundred"], attempts: 1 } });
            const metrics = (await request(svc, { url: "/metrics" })).body;
            expect(metrics).toContain('billing_webhooks_total{type="subscription.created",result="accepted"} 1');
            expect(metrics).toContain('billing_webhooks_total{type="subscription.created",result="duplicate"} 99');
        } finally {
            await svc.close();
        }
    });
});

describe("group commit", () => {
    const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);

    it("acknowledges while another writer holds the manifest lock, then applies the deliveries in batches: one validation per batch, every event recorded once", async () => {
        const svc = await startService(new FakeDeployer({ delayMs: 50 }));
        try {
            const events = Array.from({ length: 60 }, (_, i) => createdEvent(`batch-${i}`));
            // Another writer holds the manifest lock while the deliveries arrive: they are answered all the same (the
            // acknowledgement never waits for the manifest), wait together and form few batches.
            let release: (() => void) | undefined;
            const held = svc.manifest.withLock(() => new Promise<void>((r) => (release = r)));
            while (release === undefined) await new Promise((r) => setTimeout(r, 5));
            const results = await Promise.all(events.map((e) => post(svc, e)));
            expect(results.map((r) => r.statusCode)).toEqual(events.map(() => 202));
            expect(results.map((r) => r.json().status)).toEqual(events.map(() => "queued"));
            expect(await svc.store.eventCount()).toBe(0);
            expect(await svc.store.openIntents()).toHaveLength(60);
            release();
            await held;
            await svc.committer.idle();
            const metrics = (await request(svc, { url: "/metrics" })).body;
            const batches = metric(metrics, "billing_commit_batch_size_count");
            expect(metric(metrics, "billing_commit_batch_size_sum")).toBe(60);
            expect(batches).toBeLessThan(60);
            // The manifest the service starts from is validated once; then one validation per batch.
            expect(metric(metrics, "billing_manifest_validations_total")).toBeLessThanOrEqual(batches + 1);
            const manifest = fs.readFileSync(svc.manifestPath, "utf8");
            for (let i = 0; i < 60; i++) expect(manifest.match(new RegExp(`id: batch-${i}$`, "gm"))).toHaveLength(1);
            expect(await svc.store.eventCount()).toBe(60);
            await settle(svc);
            const deployed = (await svc.store.jobs()).flatMap((j) => j.tenants);
            expect(deployed.sort()).toEqual(events.map((e) => e.data.tenantId).sort());
        } finally {
            await svc.close();
        }
    });

    it("a bad event in a batch gets its own 422; the good ones of the same batch still land", async () => {
        const svc = await startService(new FakeDeployer());
        try {
            const good = Array.from({ length: 8 }, (_, i) => createdEvent(`good-${i}`));
            // Valid bodies, but each makes the manifest invalid: a domain another tenant serves, a name too long for the derived names.
            const bad = [createdEvent("bad-domain", { domain: "client-abc.collectverything.com" }), createdEvent(`b${"x".repeat(44)}`)];
            const all = [good[0], bad[0], ...good.slice(1, 5), bad[1], ...good.slice(5)];
            const results = await Promise.all(all.map((e) => post(svc, e)));
            const byTenant = new Map(all.map((e, i) => [e.data.tenantId, results[i]]));
            await svc.committer.idle();
            for (const e of good) expect(byTenant.get(e.data.tenantId)!.statusCode).toBe(202);
            const domain = byTenant.get("bad-domain")!;
            expect(domain.statusCode).toBe(422);
            expect(domain.json()).toMatchObject({ error: "manifest-invalid", field: "data.domain" });
            expect(domain.json().message).toContain('duplicate domain: already served for tenant "abc"');
            expect(byTenant.get(bad[1].data.tenantId)!.json()).toMatchObject({ error: "manifest-invalid", field: "data.tenantId" });
            const manifest = fs.readFileSync(svc.manifestPath, "utf8");
            for (const e of good) expect(manifest).toContain(`id: ${e.data.tenantId}\n`);
            expect(manifest).not.toContain("bad-domain");
            expect(manifest).not.toContain(bad[1].data.tenantId);
            expect(await svc.store.eventCount()).toBe(8);
            expect(await svc.store.getEvent(bad[0].id)).toBeUndefined();
        } finally {
            await svc.close();
        }
    });
});

describe("ordering per region", () => {
    it("runs one region's jobs one after the other, coalesces waiting changes, and keeps regions apart", async () => {
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let running!: () => void;
        const firstRunning = new Promise<void>((r) => (running = r));
        // The first deployment is held until the later events are in: they must wait, coalesced, behind it.
        const deployer = new FakeDeployer({
            delayMs: 20,
            gate: (_req, call) => {
                if (call !== 1) return undefined;
                running();
                return held;
            },
        });
        const svc = await startService(deployer, { stacks: { "eu-west": "local" } });
        try {
            const first = await post(svc, createdEvent("order-one"));
            await firstRunning;
            const second = await post(svc, event("subscription.updated", { tenantId: "nordic", tier: "premium" }));
            const third = await post(svc, event("subscription.cancelled", { tenantId: "abc" }));
            const us = await post(svc, createdEvent("order-us", { region: "us-east" }));
            expect([first, second, third, us].map((r) => r.statusCode)).toEqual([202, 202, 202, 202]);
            await svc.committer.idle();
            expect(await jobOf(svc, second)).toBe(await jobOf(svc, third));
            expect(await jobOf(svc, second)).not.toBe(await jobOf(svc, first));
            release();
            await settle(svc);
            const jobs = await svc.store.jobs();
            expect(jobs.map((j) => [j.stack, j.tenants, j.state])).toEqual([
                ["local", ["order-one"], "succeeded"],
                ["local", ["nordic", "abc"], "succeeded"],
                ["us-east", ["order-us"], "succeeded"],
            ]);
            expect(deployer.maxActivePerStack).toBe(1);
            expect(Date.parse(jobs[1].startedAt!)).toBeGreaterThanOrEqual(Date.parse(jobs[0].finishedAt!));
            expect((await request(svc, { url: "/tenants/abc" })).json()).toMatchObject({ state: "offboarding", manifestStatus: "cancelled" });
        } finally {
            await svc.close();
        }
    });

    it("waits out a stack lock held by another update; no ConcurrentUpdateError reaches anyone", async () => {
        const deployer = new FakeDeployer({ failures: (_req, call) => (call <= 3 ? lockError() : undefined) });
        const svc = await startService(deployer);
        try {
            const res = await post(svc, createdEvent("locked"));
            expect(res.statusCode).toBe(202);
            await settle(svc);
            const job = (await request(svc, { url: `/jobs/${await jobOf(svc, res)}` })).json();
            expect(job).toMatchObject({ state: "succeeded", error: null });
            expect(deployer.calls).toHaveLength(4);
            expect((await request(svc, { url: "/metrics" })).body).toContain('deploy_lock_retries_total{stack="eu-west"} 3');
        } finally {
            await svc.close();
        }
    });
});

describe("failures", () => {
    it("after N failed attempts the job and tenant are failed, visible in the status API and metrics", async () => {
        const deployer = new FakeDeployer({ failures: () => new Error("kubernetes: the server is unreachable") });
        const svc = await startService(deployer);
        try {
            const res = await post(svc, createdEvent("doomed"));
            await settle(svc);
            expect(deployer.calls).toHaveLength(3);
            const tenant = (await request(svc, { url: "/tenants/doomed" })).json();
            expect(tenant).toMatchObject({
                state: "failed",
                lastJob: { id: await jobOf(svc, res), state: "failed", error: "Error: kubernetes: the server is unreachable" },
            });
            const metrics = (await request(svc, { url: "/metrics" })).body;
            expect(metrics).toContain('deploy_job_failures_total{stack="eu-west",state="failed"} 1');
            const outbox = await svc.store.unpublished();
            expect(outbox.map((o) => o.routingKey)).toEqual(["tenant.provisioning_failed"]);
            expect(JSON.parse(outbox[0].body)).toMatchObject({
                event: "tenant.provisioning_failed",
                tenant_id: "client-doomed",
                payload: { job_id: await jobOf(svc, res) },
            });
        } finally {
            await svc.close();
        }
    });

    it("a stuck run is cancelled through its AbortSignal", async () => {
        const deployer = new FakeDeployer({ delayMs: 60_000 });
        const svc = await startService(deployer, { runner: { timeoutMs: 200, retryDelayMs: 5 } });
        try {
            const res = await post(svc, createdEvent("stuck"));
            const t0 = Date.now();
            await settle(svc);
            expect(Date.now() - t0).toBeLessThan(5_000);
            expect((await request(svc, { url: `/jobs/${await jobOf(svc, res)}` })).json()).toMatchObject({
                state: "cancelled",
                error: expect.stringContaining("longer than 200 ms"),
            });
            expect(deployer.calls).toHaveLength(1);
        } finally {
            await svc.close();
        }
    });
});

describe("events out", () => {
    it("queues the seed-format envelope for each applied event", async () => {
        const svc = await startService(new FakeDeployer());
        try {
            const res = await post(svc, createdEvent("announce", { websiteId: 4242 }));
            await settle(svc);
            const [o] = await svc.store.unpublished();
            const env = JSON.parse(o.body);
            expect(Object.keys(env).sort()).toEqual(["event", "payload", "tenant_id", "timestamp", "website_id"]);
            expect(env).toMatchObject({
                event: "tenant.provisioned",
                tenant_id: "client-announce",
                website_id: 4242,
                payload: {
                    namespace: "e-commerce-client-announce",
                    region: "eu-west",
                    tier: "standard",
                    job_id: await jobOf(svc, res),
                    billing_event: "subscription.created",
                },
            });
            expect(env.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
        } finally {
            await svc.close();
        }
    });
});

describe("operations endpoints", () => {
    it("serves healthz, the OpenAPI document and the status of a tenant deployed by the CLI", async () => {
        const svc = await startService(new FakeDeployer());
        try {
            expect((await request(svc, { url: "/healthz" })).json()).toEqual({ status: "ok", ready: true, queue: "in-process", running: 0 });
            const doc = (await request(svc, { url: "/openapi.json" })).json();
            expect(doc.openapi).toBe("3.1.0");
            expect(Object.keys(doc.paths).sort()).toEqual([
                "/events/{id}",
                "/healthz",
                "/jobs/{id}",
                "/metrics",
                "/readyz",
                "/tenants/{id}",
                "/webhooks/billing",
            ]);
            // The status endpoints declare the status token; the probes do not.
            expect(doc.components.securitySchemes.statusToken).toMatchObject({ type: "http", scheme: "bearer" });
            for (const p of ["/jobs/{id}", "/metrics", "/tenants/{id}"]) expect(doc.paths[p].get.security).toEqual([{ statusToken: [] }]);
            for (const p of ["/healthz", "/readyz"]) expect(doc.paths[p].get.security).toBeUndefined();
            expect(doc.paths["/webhooks/billing"].post.requestBody.content["application/json"].schema.required).toEqual(["id", "type", "data"]);
            expect((await request(svc, { url: "/tenants/abc" })).json()).toMatchObject({ id: "abc", state: "active", lastJob: null });
            // The published examples are a valid lifecycle: the API fuzzer starts from them.
            expect(doc.paths["/webhooks/billing"].post.requestBody.content["application/json"].examples.example1.value).toMatchObject({
                type: "subscription.created",
            });
        } finally {
            await svc.close();
        }
    });

    it("reports a CLI-deployed tenant's credentials from the settings of the stack that deploys its region, not of a stack named after it", async () => {
        // eu-west deploys to `local` here: Kubernetes Secrets only, and no database, bucket or vhost of its own (features off),
        // where Pulumi.eu-west.yaml would name five Secrets and three AWS secrets.
        const svc = await startService(new FakeDeployer(), { stacks: { "eu-west": "local" } });
        try {
            const got = await request(svc, { url: "/tenants/nordic" });
            expect(got.statusCode).toBe(200);
            expect(got.json()).toMatchObject({
                id: "nordic",
                region: "eu-west",
                lastJob: null,
                credentials: { namespace: "e-commerce-client-nordic", kubernetesSecrets: [], awsSecrets: [] },
            });
        } finally {
            await svc.close();
        }
    });

    it("answers a method a path does not have with 405 and Allow, an unknown path with 404, an over-long id with 400", async () => {
        const svc = await startService(new FakeDeployer());
        try {
            const put = await request(svc, { method: "PUT", url: "/webhooks/billing", payload: "{}", headers: { "content-type": "application/json" } });
            expect(put.statusCode).toBe(405);
            expect(put.headers.get("allow")).toBe("POST");
            expect(put.json()).toMatchObject({ error: "method-not-allowed" });
            const del = await request(svc, { method: "DELETE", url: "/tenants/abc" });
            expect([del.statusCode, del.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
            // QUERY without a body fails in Fastify before any route is looked up.
            const query = await request(svc, { method: "QUERY", url: "/jobs/x" });
            expect([query.statusCode, query.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
            expect((await request(svc, { url: "/nowhere" })).json()).toEqual({ error: "not-found", message: "no route GET /nowhere" });
            const long = await request(svc, { url: `/tenants/${"%C3%A9".repeat(256)}` });
            expect(long.statusCode).toBe(400);
            expect(long.json()).toMatchObject({ error: "invalid-request", field: "id" });
        } finally {
            await svc.close();
        }
    });
});
