/**
 * The defects a hostile client found in the webhook service (issue 10,
 * section 4), one describe per defect, each stating what the service must
 * answer and what it must (not) write.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { FakeDeployer } from "../../../service/fakeDeployer";
import { signatureHeader } from "../../../service/signature";
import { createdEvent, event, post, request, SECRET, startService, STATUS_TOKEN, type TestService } from "../../support/service";

jest.setTimeout(30_000);

const now = () => Math.floor(Date.now() / 1000);
const manifestOf = (svc: TestService) => fs.readFileSync(svc.manifestPath, "utf8");
/** The manifest once every event accepted so far is applied (the answer, 202 queued, comes before). */
const appliedManifest = async (svc: TestService) => {
    await svc.committer.idle();
    return manifestOf(svc);
};
/** The YAML entry of one tenant in the manifest text. */
const entryOf = (text: string, id: string) => new RegExp(`- id: ${id}\\n(?:    .*\\n)*`).exec(text)?.[0] ?? "";

// 4.1 (batched answers) is stated on the group commit itself, where the batch is known: test/unit/service/commit.test.ts.

describe("4.2 a late older event does not overwrite newer state", () => {
    let svc: TestService;
    beforeEach(async () => {
        svc = await startService(new FakeDeployer());
    });
    afterEach(async () => svc.close());

    it("a retried tier=premium created before an applied tier=business is acknowledged as stale and not applied", async () => {
        const t = now();
        const newer = { ...event("subscription.updated", { tenantId: "nordic", tier: "business" }), created: t };
        const older = { ...event("subscription.updated", { tenantId: "nordic", tier: "premium" }), created: t - 60 };
        expect((await post(svc, newer)).statusCode).toBe(202);
        const late = await post(svc, older);
        expect(late.statusCode).toBe(200);
        expect(late.json()).toMatchObject({ eventId: older.id, result: "stale", tenantId: "nordic", jobId: null });
        expect(late.json().message).toContain('is older than the last event applied to tenant "nordic"');
        expect(entryOf(await appliedManifest(svc), "nordic")).toContain("tier: business\n");
        // Recorded: its redelivery is a plain duplicate.
        expect((await post(svc, older)).json()).toMatchObject({ result: "duplicate" });
    });

    it("a late reactivation does not undo a newer cancellation (in one batch: commit.test.ts)", async () => {
        const t = now();
        expect((await post(svc, { ...event("subscription.cancelled", { tenantId: "kiwi" }), created: t })).statusCode).toBe(202);
        const late = await post(svc, { ...event("subscription.reactivated", { tenantId: "kiwi" }), created: t - 5 });
        expect([late.statusCode, late.json().result]).toEqual([200, "stale"]);
        expect(entryOf(await appliedManifest(svc), "kiwi")).toContain("status: cancelled\n");
    });

    it("events of the same second, and events without `created`, are applied in arrival order", async () => {
        const t = now();
        expect((await post(svc, { ...event("subscription.updated", { tenantId: "maple", tier: "premium" }), created: t })).statusCode).toBe(202);
        expect((await post(svc, { ...event("subscription.updated", { tenantId: "maple", tier: "business" }), created: t })).statusCode).toBe(202);
        const { created: _c, ...undated } = event("subscription.updated", { tenantId: "maple", tier: "standard" });
        expect((await post(svc, undated)).statusCode).toBe(202);
        expect(entryOf(await appliedManifest(svc), "maple")).toContain("tier: standard\n");
    });
});

describe("4.3 dates are bounded in the webhook schema", () => {
    let svc: TestService;
    beforeAll(async () => {
        svc = await startService(new FakeDeployer());
    });
    afterAll(async () => svc.close());
    const ahead = `${new Date().getUTCFullYear() + 2}-01-01`;

    it.each([
        // Outside this century: the JSON Schema's pattern (400).
        ["cancelledAt 9999-12-31", event("subscription.cancelled", { tenantId: "abc", cancelledAt: "9999-12-31" }), 400, "invalid-body", "data.cancelledAt"],
        ["createdDate before 2000", createdEvent("past", { createdDate: "1999-12-31" }), 400, "invalid-body", "data.createdDate"],
        // More than a year ahead: the bound that moves with the day (422).
        ["cancelledAt two years ahead", event("subscription.cancelled", { tenantId: "abc", cancelledAt: ahead }), 422, "invalid-value", "data.cancelledAt"],
        ["createdDate in the far future", createdEvent("future", { createdDate: "2099-01-01" }), 422, "invalid-value", "data.createdDate"],
        // An event `created` ahead of the clock would make every later event of the tenant look older.
        [
            "created a day ahead",
            { ...event("subscription.updated", { tenantId: "abc", tier: "business" }), created: now() + 86_400 },
            422,
            "invalid-value",
            "created",
        ],
    ])("%s: refused naming the field and the bounds, nothing written", async (_what, body, status, error, field) => {
        const before = manifestOf(svc);
        const res = await post(svc, body);
        expect(res.statusCode).toBe(status);
        expect(res.json()).toMatchObject({ error, field });
        expect(res.json().message).toMatch(new RegExp(`^${field.replace(".", "\\.")}: `));
        expect(res.json().message).toContain("Allowed: ");
        expect(res.json().message).toContain("Fix: ");
        expect(manifestOf(svc)).toBe(before);
        expect(await svc.store.getEvent(body.id)).toBeUndefined();
    });

    it("the messages state the bounds and the fix", async () => {
        const far = await post(svc, event("subscription.cancelled", { tenantId: "abc", cancelledAt: ahead }));
        expect(far.json().message).toMatch(
            new RegExp(
                `^data\\.cancelledAt: ${ahead} is more than a year after today \\(\\d{4}-\\d{2}-\\d{2}\\)\\. Allowed: a calendar date written YYYY-MM-DD, from 2000-01-01 to \\d{4}-\\d{2}-\\d{2} \\(a year after today\\)\\. Fix: send the day the subscription was cancelled, or leave cancelledAt out \\(today\\)$`,
            ),
        );
        const pattern = await post(svc, event("subscription.cancelled", { tenantId: "abc", cancelledAt: "9999-12-31" }));
        expect(pattern.json().message).toMatch(
            /^data\.cancelledAt: must match pattern .*\. Allowed: a calendar date written YYYY-MM-DD, from 2000-01-01 to \d{4}-\d{2}-\d{2} \(a year after today\)\. Fix: /,
        );
    });
});

describe("4.4 an event id reused with another body", () => {
    let svc: TestService;
    beforeAll(async () => {
        svc = await startService(new FakeDeployer());
    });
    afterAll(async () => svc.close());

    it("is a 409 event-id-reused, and the second body is not applied", async () => {
        const first = event("subscription.updated", { tenantId: "sakura", tier: "business" });
        expect((await post(svc, first)).statusCode).toBe(202);
        const other = { ...first, data: { tenantId: "sakura", tier: "standard" } };
        const res = await post(svc, other);
        expect(res.statusCode).toBe(409);
        expect(res.json()).toMatchObject({ error: "event-id-reused", field: "id" });
        expect(res.json().message).toContain(`event id "${first.id}" was already received with another body`);
        expect(entryOf(await appliedManifest(svc), "sakura")).toContain("tier: business\n");
        // The same body again is still a duplicate, whatever its key order.
        const reordered = { data: first.data, created: first.created, type: first.type, id: first.id };
        expect((await post(svc, reordered)).json()).toMatchObject({ result: "duplicate" });
    });

    it("also when both bodies arrive at once: one is applied, the other is a conflict", async () => {
        const a = event("subscription.updated", { tenantId: "lumiere", tier: "business" });
        const b = { ...a, data: { tenantId: "lumiere", tier: "standard" } };
        const [ra, rb] = await Promise.all([post(svc, a), post(svc, b)]);
        expect([ra.statusCode, rb.statusCode].sort()).toEqual([202, 409]);
        const winner = ra.statusCode === 202 ? "business" : "standard";
        expect(entryOf(await appliedManifest(svc), "lumiere")).toContain(`tier: ${winner}\n`);
    });
});

describe("4.5 a locked store", () => {
    it("does not freeze the event loop: /healthz answers while a delivery waits for the store, which then lands", async () => {
        const svc = await startService(new FakeDeployer(), { storeBusyTimeoutMs: 5000 });
        const other = new DatabaseSync(path.join(svc.dir, "service.db"));
        try {
            other.exec("BEGIN IMMEDIATE");
            const delivery = post(svc, createdEvent("waits"));
            await new Promise((r) => setTimeout(r, 200));
            const t0 = performance.now();
            const health = await request(svc, { url: "/healthz" });
            expect(health.statusCode).toBe(200);
            expect(performance.now() - t0).toBeLessThan(1000);
            other.exec("COMMIT");
            expect((await delivery).statusCode).toBe(202);
        } finally {
            other.close();
            await svc.close();
        }
    });

    it("locked past its deadline before the manifest write: 503 store-busy, nothing written, the tenant unknown", async () => {
        const svc = await startService(new FakeDeployer(), { storeBusyTimeoutMs: 300 });
        const other = new DatabaseSync(path.join(svc.dir, "service.db"));
        try {
            const before = manifestOf(svc);
            other.exec("BEGIN IMMEDIATE");
            const res = await post(svc, createdEvent("locked-out"));
            expect(res.statusCode).toBe(503);
            expect(res.headers.get("retry-after")).toBe("1");
            expect(res.json()).toEqual({
                error: "store-busy",
                message: "the service's store is locked by another process; nothing was applied; retry shortly",
            });
            expect(manifestOf(svc)).toBe(before);
            other.exec("ROLLBACK");
            expect((await request(svc, { url: "/tenants/locked-out" })).statusCode).toBe(404);
        } finally {
            other.close();
            await svc.close();
        }
    });

    it("failing after the manifest write: the tenant reads pending, never active, and the batch is applied again once the store is free", async () => {
        const svc = await startService(new FakeDeployer({ delayMs: 10 }), { storeBusyTimeoutMs: 200 });
        const accept = svc.store.acceptEvents.bind(svc.store);
        let locked = true;
        svc.store.acceptEvents = (...args) => {
            if (locked) throw Object.assign(new Error("database is locked"), { errcode: 5 });
            return accept(...args);
        };
        try {
            const ev = createdEvent("halfway");
            // Stored durably and answered at once; the batch then writes the manifest and fails to record the event.
            const res = await post(svc, ev);
            expect(res.statusCode).toBe(202);
            expect(res.json()).toMatchObject({ status: "queued", jobId: null });
            await svc.committer.idle();
            expect(manifestOf(svc)).toContain("- id: halfway\n");
            expect((await request(svc, { url: "/tenants/halfway" })).json()).toMatchObject({ id: "halfway", state: "pending" });
            expect((await request(svc, { url: `/events/${ev.id}` })).json()).toMatchObject({ eventId: ev.id, state: "queued", jobId: null });
            locked = false;
            // No redelivery needed: the open intent is applied again on a timer.
            const end = Date.now() + 10_000;
            while (!(await svc.store.getEvent(ev.id)) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
            expect(await svc.store.getEvent(ev.id)).toMatchObject({ outcome: "accepted" });
            await svc.queue.idle();
            expect((await request(svc, { url: "/tenants/halfway" })).json()).toMatchObject({ state: "active", lastJob: { state: "succeeded" } });
            expect(await svc.store.openIntents()).toEqual([]);
            expect((await post(svc, ev)).json()).toMatchObject({ result: "duplicate" });
        } finally {
            await svc.close();
        }
    });
});

/** A raw HTTP request that sends its headers and part of its body, then nothing: resolves with what the server sent and when it closed. */
function halfSend(port: number, headers: Record<string, string>, bodyPart: string): Promise<{ closedAfterMs: number; received: string }> {
    return new Promise((resolve) => {
        const t0 = performance.now();
        const socket = net.connect(port, "127.0.0.1");
        let received = "";
        socket.on("data", (d) => (received += d.toString()));
        socket.on("error", () => undefined);
        socket.on("close", () => resolve({ closedAfterMs: performance.now() - t0, received }));
        socket.on("connect", () => {
            const head = Object.entries(headers)
                .map(([k, v]) => `${k}: ${v}\r\n`)
                .join("");
            socket.write(`POST /webhooks/billing HTTP/1.1\r\nHost: 127.0.0.1\r\n${head}\r\n${bodyPart}`);
        });
    });
}

describe("4.7 slow bodies do not pin memory", () => {
    it("a half-sent body with a well-formed signature is answered 408 and its socket closed within the request timeout", async () => {
        const svc = await startService(new FakeDeployer(), { limits: { requestTimeoutMs: 1000, headersTimeoutMs: 1000 } });
        try {
            const port = Number(new URL(svc.baseUrl).port);
            const headers = { "content-type": "application/json", "content-length": "60000", "billing-signature": `t=${now()},v1=${"0".repeat(64)}` };
            const results = await Promise.all(Array.from({ length: 20 }, () => halfSend(port, headers, `{"id":"evt_slow","data":"${"x".repeat(2000)}`)));
            for (const r of results) {
                expect(r.closedAfterMs).toBeLessThan(3000);
                expect(r.received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
                expect(r.received).toContain('{"error":"request-timeout"');
            }
        } finally {
            await svc.close();
        }
    });

    it("a request without a valid signature header is refused (401) before its body is read, and its socket closed", async () => {
        const svc = await startService(new FakeDeployer(), { limits: { requestTimeoutMs: 10_000 } });
        try {
            const port = Number(new URL(svc.baseUrl).port);
            const r = await halfSend(port, { "content-type": "application/json", "content-length": "200000" }, '{"id":"evt_x"');
            expect(r.closedAfterMs).toBeLessThan(1000);
            expect(r.received).toMatch(/^HTTP\/1\.1 401 /);
            expect(r.received).toContain('"error":"invalid-signature"');
        } finally {
            await svc.close();
        }
    });

    it("connections past maxConnections are closed at once; a body over the limit is a 413 of the service's own", async () => {
        const svc = await startService(new FakeDeployer(), { limits: { maxConnections: 4, requestTimeoutMs: 2000 } });
        try {
            const port = Number(new URL(svc.baseUrl).port);
            const headers = { "content-type": "application/json", "content-length": "1000", "billing-signature": `t=${now()},v1=${"0".repeat(64)}` };
            const slow = Array.from({ length: 4 }, () => halfSend(port, headers, "{"));
            await new Promise((r) => setTimeout(r, 200));
            const extra = await halfSend(port, headers, "{");
            expect(extra.closedAfterMs).toBeLessThan(500);
            expect(extra.received).toBe("");
            await Promise.all(slow);
            const big = JSON.stringify({ ...createdEvent("big"), padding: "x".repeat(70 * 1024) });
            const res = await post(svc, big);
            expect(res.statusCode).toBe(413);
            expect(res.json()).toEqual({
                error: "body-too-large",
                message: "body: larger than the service accepts; a billing event is a few hundred bytes",
                field: "body",
            });
        } finally {
            await svc.close();
        }
    });
});

describe("4.8 a body of another media type", () => {
    let svc: TestService;
    beforeAll(async () => {
        svc = await startService(new FakeDeployer());
    });
    afterAll(async () => svc.close());

    it.each(["text/plain", "application/x-www-form-urlencoded", "application/xml"])(
        "%s: 415 before the signature is looked at, even one over the empty string",
        async (type) => {
            const body = JSON.stringify(createdEvent("mediatype"));
            for (const signedOver of ["", body]) {
                const res = await request(svc, {
                    method: "POST",
                    url: "/webhooks/billing",
                    payload: body,
                    headers: { "content-type": type, "billing-signature": signatureHeader(SECRET, signedOver) },
                });
                expect(res.statusCode).toBe(415);
                expect(res.json()).toEqual({ error: "unsupported-media-type", message: "content-type: must be application/json", field: "content-type" });
            }
            expect(await svc.store.eventCount()).toBe(0);
        },
    );

    it("application/json with a charset is JSON", async () => {
        const body = JSON.stringify(createdEvent("charset"));
        const res = await request(svc, {
            method: "POST",
            url: "/webhooks/billing",
            payload: body,
            headers: { "content-type": "application/json; charset=utf-8", "billing-signature": signatureHeader(SECRET, body) },
        });
        expect(res.statusCode).toBe(202);
    });
});

describe("4.9 readiness", () => {
    it("/readyz is 503 naming the manifest while it is missing or invalid, and /healthz no longer says ok", async () => {
        const svc = await startService(new FakeDeployer());
        try {
            const good = manifestOf(svc);
            expect((await request(svc, { url: "/readyz" })).json()).toEqual({
                status: "ready",
                checks: {
                    manifest: { ok: true, detail: expect.stringMatching(/^valid/) },
                    store: { ok: true, detail: "open" },
                    broker: { ok: true, detail: "not configured (in-process queue)" },
                    git: { ok: true, detail: "not configured (the manifest file alone)" },
                },
            });
            fs.rmSync(svc.manifestPath);
            const missing = await request(svc, { url: "/readyz" });
            expect(missing.statusCode).toBe(503);
            expect(missing.json()).toMatchObject({ status: "not-ready", checks: { manifest: { ok: false, detail: expect.stringContaining("ENOENT") } } });
            expect((await request(svc, { url: "/healthz" })).json()).toEqual({ status: "degraded", ready: false, queue: "in-process", running: 0 });
            fs.writeFileSync(svc.manifestPath, "tenants:\n  - id: Bad_Id\n");
            const invalid = await request(svc, { url: "/readyz" });
            expect([invalid.statusCode, invalid.json().checks.manifest.ok]).toEqual([503, false]);
            expect(invalid.json().checks.manifest.detail).toMatch(/^invalid: /);
            fs.writeFileSync(svc.manifestPath, good);
            expect((await request(svc, { url: "/readyz" })).statusCode).toBe(200);
            expect((await request(svc, { url: "/healthz" })).json()).toMatchObject({ status: "ok", ready: true });
        } finally {
            await svc.close();
        }
    });
});

describe("4.10 the status endpoints need a status token", () => {
    let svc: TestService;
    beforeAll(async () => {
        svc = await startService(new FakeDeployer());
    });
    afterAll(async () => svc.close());

    it.each(["/tenants/abc", "/jobs/job_x", "/metrics"])("%s: 401 without the token, with a wrong one or with the webhook secret", async (url) => {
        for (const authorization of [undefined, "Bearer wrong", `Bearer ${SECRET}`, STATUS_TOKEN]) {
            const res = await request(svc, { url, auth: false, headers: authorization ? { authorization } : {} });
            expect({ authorization, status: res.statusCode }).toEqual({ authorization, status: 401 });
            expect(res.json().error).toBe("unauthorized");
            expect(res.headers.get("www-authenticate")).toBe('Bearer realm="status"');
        }
        expect((await request(svc, { url })).statusCode).not.toBe(401);
    });

    it("/healthz, /readyz and /openapi.json stay open", async () => {
        for (const url of ["/healthz", "/readyz", "/openapi.json"]) expect((await request(svc, { url, auth: false })).statusCode).toBe(200);
    });

    it("a service with no status token answers 401 naming what to configure", async () => {
        const closed = await startService(new FakeDeployer(), { statusTokens: [] });
        try {
            const res = await request(closed, { url: "/tenants/abc" });
            expect([res.statusCode, res.json().error]).toEqual([401, "status-token-not-configured"]);
            expect(res.json().message).toContain("STATUS_TOKENS");
        } finally {
            await closed.close();
        }
    });
});

describe("4.11 no framework error shapes, trailing slash, another tenant's line, control characters", () => {
    let svc: TestService;
    beforeAll(async () => {
        svc = await startService(new FakeDeployer());
    });
    afterAll(async () => svc.close());

    it("a malformed percent-encoding is a 400 bad-url of the service's own", async () => {
        const res = await request(svc, { url: "/tenants/%E0%A4%A" });
        expect(res.statusCode).toBe(400);
        expect(res.json()).toEqual({ error: "bad-url", message: "the URL is not valid (a malformed percent-encoding); fix the path" });
    });

    it("no answer carries a Fastify code or body", async () => {
        const answers = [
            await request(svc, { url: "/tenants/%E0%A4%A" }),
            await post(svc, JSON.stringify({ ...createdEvent("big"), padding: "x".repeat(70 * 1024) })),
            await request(svc, { method: "POST", url: "/webhooks/billing", payload: "x", headers: { "content-type": "text/plain" } }),
        ];
        for (const a of answers) {
            expect(a.body).not.toMatch(/FST_|statusCode|"Bad Request"/);
            expect(Object.keys(a.json()).every((k) => ["error", "message", "field"].includes(k))).toBe(true);
        }
    });

    it("POST /webhooks/billing/ (trailing slash) is the webhook itself", async () => {
        const body = createdEvent("slash");
        const s = { "content-type": "application/json", "billing-signature": signatureHeader(SECRET, JSON.stringify(body)) };
        const res = await request(svc, { method: "POST", url: "/webhooks/billing/", payload: JSON.stringify(body), headers: s });
        expect(res.statusCode).toBe(202);
        const unsigned = await request(svc, { method: "POST", url: "/webhooks/billing/", payload: "{}", headers: { "content-type": "application/json" } });
        expect([unsigned.statusCode, unsigned.json().error]).toEqual([401, "invalid-signature"]);
    });

    it("a custom domain another tenant serves is reported on the event's tenant, without the other entry's line or field", async () => {
        // abc comes first in the file: the validator finds the duplicate on xyz's line.
        const res = await post(svc, event("subscription.updated", { tenantId: "abc", customDomains: ["store.xyz-outdoor.com"] }));
        expect(res.statusCode).toBe(422);
        expect(res.json()).toMatchObject({ error: "manifest-invalid", field: "data.customDomains" });
        expect(res.json().message).toBe(
            "1 problem in tenants.yaml; nothing was applied:\n" +
                '  - tenants.yaml: tenant "abc": field "customDomains[0]": duplicate domain: already served for tenant "xyz" (got "store.xyz-outdoor.com"). ' +
                "Allowed: a domain that no other entry lists (primary or custom). Fix: a domain routes to exactly one tenant; remove it from one of the entries.",
        );
    });

    it.each([
        ["NUL", "Shop\u0000"],
        ["ESC", "Shop \u001b[31mred"],
        ["a newline", "Shop\nTwo"],
        ["a trailing newline", "Shop\n"],
    ])("a name with %s is a 400 naming data.name", async (_what, name) => {
        const res = await post(svc, createdEvent("ctrl", { name }));
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({ error: "invalid-body", field: "data.name" });
        expect(manifestOf(svc)).not.toContain("id: ctrl");
    });
});
