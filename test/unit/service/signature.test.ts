import { computeSignature, parseSignatureHeader, signatureHeader, verifySignature } from "../../../service/signature";
import { FakeDeployer } from "../../../service/fakeDeployer";
import * as fs from "node:fs";
import { createdEvent, OLD_SECRET, post, request, SECRET, signed, startService } from "../../support/service";

describe("verifySignature", () => {
    const body = Buffer.from('{"id":"evt_1"}');
    const now = 1_760_000_000;

    it("accepts the signature of the raw body at the current time", () => {
        expect(verifySignature(signatureHeader(SECRET, body, now), body, { secrets: [SECRET], now })).toEqual({ ok: true, timestamp: now });
    });

    it.each([
        ["missing", undefined, "missing"],
        ["empty", "", "missing"],
        ["not key=value", "garbage", "malformed"],
        ["no v1", `t=${now}`, "malformed"],
        ["short hex", `t=${now},v1=abcd`, "malformed"],
        ["wrong secret", signatureHeader("other", body, now), "mismatch"],
        ["another body", signatureHeader(SECRET, '{"id":"evt_2"}', now), "mismatch"],
        ["older than 5 minutes", signatureHeader(SECRET, body, now - 301), "expired"],
        ["more than 5 minutes ahead", signatureHeader(SECRET, body, now + 301), "expired"],
    ])("refuses a %s signature", (_name, header, reason) => {
        expect(verifySignature(header, body, { secrets: [SECRET], now })).toEqual({ ok: false, reason });
    });

    it("accepts 300 seconds of skew exactly", () => {
        expect(verifySignature(signatureHeader(SECRET, body, now - 300), body, { secrets: [SECRET], now }).ok).toBe(true);
    });

    it("accepts either secret during rotation, and any v1 in the header", () => {
        const both = { secrets: [SECRET, OLD_SECRET], now };
        expect(verifySignature(signatureHeader(OLD_SECRET, body, now), body, both).ok).toBe(true);
        expect(verifySignature(signatureHeader(SECRET, body, now), body, both).ok).toBe(true);
        const multi = `t=${now},v1=${computeSignature("stale", now, body)},v1=${computeSignature(SECRET, now, body)}`;
        expect(verifySignature(multi, body, { secrets: [SECRET], now }).ok).toBe(true);
        expect(verifySignature(signatureHeader(OLD_SECRET, body, now), body, { secrets: [SECRET], now })).toEqual({ ok: false, reason: "mismatch" });
    });

    it("refuses everything when no secret is configured", () => {
        expect(verifySignature(signatureHeader("", body, now), body, { secrets: [""], now })).toEqual({ ok: false, reason: "no-secret" });
    });

    it("parses the header's parts and ignores unknown schemes", () => {
        const sig = computeSignature(SECRET, now, body);
        expect(parseSignatureHeader(`t=${now},v0=zzz,v1=${sig}`)).toEqual({ timestamp: now, signatures: [Buffer.from(sig, "hex")] });
        expect(parseSignatureHeader(`t=${now},t=${now},v1=${sig}`)).toBeUndefined();
    });
});

describe("POST /webhooks/billing signatures", () => {
    let svc: Awaited<ReturnType<typeof startService>>;
    let deployer: FakeDeployer;
    beforeEach(async () => {
        deployer = new FakeDeployer();
        svc = await startService(deployer, { secrets: [SECRET, OLD_SECRET] });
    });
    afterEach(async () => svc.close());

    async function nothingWritten(before: string) {
        expect(fs.readFileSync(svc.manifestPath, "utf8")).toBe(before);
        expect(await svc.store.eventCount()).toBe(0);
        expect(await svc.store.jobs()).toHaveLength(0);
    }

    it("valid: 202 and the event is applied", async () => {
        const res = await post(svc, createdEvent("sigok"));
        expect(res.statusCode).toBe(202);
        expect(res.json()).toMatchObject({ result: "accepted", status: "queued", tenantId: "sigok" });
        await svc.committer.idle();
        expect(fs.readFileSync(svc.manifestPath, "utf8")).toContain("id: sigok");
    });

    it("bad: 401, nothing written", async () => {
        const before = fs.readFileSync(svc.manifestPath, "utf8");
        const res = await post(svc, createdEvent("sigbad"), { secret: "not-the-secret" });
        expect(res.statusCode).toBe(401);
        expect(res.json()).toEqual({ error: "invalid-signature", message: "signature check failed: mismatch" });
        await nothingWritten(before);
    });

    it("missing: 401, nothing written, even when the body is also malformed", async () => {
        const before = fs.readFileSync(svc.manifestPath, "utf8");
        const res = await request(svc, {
            method: "POST",
            url: "/webhooks/billing",
            payload: JSON.stringify(createdEvent("signone")),
            headers: { "content-type": "application/json" },
        });
        expect(res.statusCode).toBe(401);
        expect(res.json().message).toBe("signature check failed: missing");
        const broken = await request(svc, { method: "POST", url: "/webhooks/billing", payload: "{not json", headers: { "content-type": "application/json" } });
        expect(broken.statusCode).toBe(401);
        await nothingWritten(before);
    });

    it("expired timestamp: 401, nothing written", async () => {
        const before = fs.readFileSync(svc.manifestPath, "utf8");
        const res = await post(svc, createdEvent("sigold"), { timestamp: Math.floor(Date.now() / 1000) - 301 });
        expect(res.statusCode).toBe(401);
        expect(res.json().message).toBe("signature check failed: expired");
        await nothingWritten(before);
    });

    it("replayed body: the captured request is refused once stale, and a fresh redelivery is a no-op", async () => {
        const ev = createdEvent("sigreplay");
        const ts = Math.floor(Date.now() / 1000);
        const first = await post(svc, ev, { timestamp: ts });
        expect(first.statusCode).toBe(202);
        await svc.committer.idle();
        const afterFirst = fs.readFileSync(svc.manifestPath, "utf8");
        // The same bytes and header six minutes later (an attacker's replay).
        const s = signed(ev, { timestamp: ts });
        const realNow = Date.now;
        Date.now = () => realNow() + 360_000;
        try {
            const replay = await request(svc, { method: "POST", url: "/webhooks/billing", payload: s.payload, headers: s.headers });
            expect(replay.statusCode).toBe(401);
        } finally {
            Date.now = realNow;
        }
        // A legitimate redelivery (fresh signature, same event id).
        const again = await post(svc, ev);
        expect(again.statusCode).toBe(200);
        expect(again.json()).toMatchObject({ result: "duplicate", status: "accepted", jobId: (await svc.store.getEvent(ev.id))!.jobId });
        expect(fs.readFileSync(svc.manifestPath, "utf8")).toBe(afterFirst);
        expect(await svc.store.jobs()).toHaveLength(1);
    });

    it("rotated secret: the previous secret is still accepted while configured", async () => {
        const res = await post(svc, createdEvent("sigrot"), { secret: OLD_SECRET });
        expect(res.statusCode).toBe(202);
        const current = await post(svc, createdEvent("sigrot2"), { secret: SECRET });
        expect(current.statusCode).toBe(202);
    });
});
