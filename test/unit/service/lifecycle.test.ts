/**
 * The rest of the subscription lifecycle through the service (issue 10,
 * section 5): suspension and its end, changes of domains and billing facts,
 * and where a provisioned tenant's credentials are (seed onboarding step 8),
 * on the fake deployer. The region eu-west deploys to the `eu-west` stack,
 * whose settings (Pulumi.eu-west.yaml) use the aws-secrets-manager backend
 * in AWS region eu-west-1 with the default services.
 */
import * as fs from "node:fs";
import type { DeployRequest, DeployResult } from "../../../core/deployer";
import { parseDocument, type YAMLMap, type YAMLSeq } from "yaml";
import { validateManifest } from "../../../lib/manifest";
import { FakeDeployer } from "../../../service/fakeDeployer";
import { createdEvent, event, post, request, startService, type TestService } from "../../support/service";

const ARN = (tenant: string, service: string) =>
    `arn:aws:secretsmanager:eu-west-1:123456789012:secret:/e-commerce/client-${tenant}/${service}-db-password-Q1w2E3`;

/** The fake deployer, with the stack outputs the program reports: each deployed tenant's AWS secret ARNs. */
class OutputsDeployer extends FakeDeployer {
    override async deploy(req: DeployRequest): Promise<DeployResult> {
        const result = await super.deploy(req);
        const tenants = Object.fromEntries(
            req.tenants.map((id) => [
                id,
                { namespace: `e-commerce-client-${id}`, awsSecretArns: { auth: ARN(id, "auth"), products: ARN(id, "products"), orders: ARN(id, "orders") } },
            ]),
        );
        return { ...result, outputs: { region: "eu-west", tenants } };
    }
}

const DB_KEYS = ["DB_HOST", "DB_PORT", "DB_DATABASE", "DB_USERNAME", "DB_PASSWORD"];
const S3_KEYS = ["S3_ENDPOINT", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_BUCKET_PRODUCTS", "S3_BUCKET_SAV", "S3_BUCKET_NEWSLETTERS"];
const AMQP_KEYS = ["AMQP_HOST", "AMQP_PORT", "AMQP_VHOST", "AMQP_USERNAME", "AMQP_PASSWORD", "AMQP_EXCHANGE", "AMQP_URL"];

/** What the eu-west stack gives tenant `id`, by hand; `arns`: whether the update reported the ARNs. */
function euWestCredentials(id: string, arns: boolean) {
    return {
        namespace: `e-commerce-client-${id}`,
        kubernetesSecrets: [
            { name: "auth-db-credentials", holds: "database", service: "auth", keys: DB_KEYS, source: "aws-secrets-manager" },
            { name: "products-db-credentials", holds: "database", service: "products", keys: DB_KEYS, source: "aws-secrets-manager" },
            { name: "orders-db-credentials", holds: "database", service: "orders", keys: DB_KEYS, source: "aws-secrets-manager" },
            { name: "object-storage-credentials", holds: "object-storage", keys: S3_KEYS, source: "kubernetes" },
            { name: "rabbitmq-credentials", holds: "rabbitmq", keys: AMQP_KEYS, source: "kubernetes" },
        ],
        awsSecrets: ["auth", "products", "orders"].map((service) => ({
            name: `/e-commerce/client-${id}/${service}-db-password`,
            arn: arns ? ARN(id, service) : null,
            region: "eu-west-1",
            service,
            kubernetesSecret: `${service}-db-credentials`,
            key: "DB_PASSWORD",
        })),
    };
}

interface Published {
    event: string;
    tenant_id: string;
    payload: Record<string, unknown>;
}

/** The platform events queued since the last call, in order. */
async function drain(svc: TestService): Promise<Published[]> {
    const out: Published[] = [];
    for (const o of await svc.store.unpublished(1000)) {
        await svc.store.markPublished(o.seq);
        out.push(JSON.parse(o.body) as Published);
    }
    return out;
}

function statusOf(svc: TestService, id: string): string | undefined {
    const r = validateManifest(fs.readFileSync(svc.manifestPath, "utf8"));
    return r.ok ? r.manifest.tenants.find((t) => t.id === id)?.status : undefined;
}

describe("the subscription lifecycle through the service", () => {
    let svc: TestService;
    const deployer = new OutputsDeployer();
    beforeAll(async () => {
        svc = await startService(deployer);
    });
    afterAll(async () => svc.close());

    /** Waits until each event id is recorded and its job (if any) has ended: however fast the service acknowledges, then applies. */
    async function applied(...ids: string[]): Promise<void> {
        const deadline = Date.now() + 15_000;
        const done = async (id: string) => {
            const e = await svc.store.getEvent(id);
            if (!e) return false;
            const job = e.jobId === null ? undefined : await svc.store.getJob(e.jobId);
            return job === undefined || ["succeeded", "failed", "cancelled"].includes(job.state);
        };
        while (!(await Promise.all(ids.map(done))).every(Boolean)) {
            if (Date.now() > deadline) throw new Error(`events ${ids.join(", ")} not applied within 15 s`);
            await new Promise((r) => setTimeout(r, 20));
        }
        await svc.queue.idle();
    }

    /** Posts events one after the other (each applied before the next is sent), expecting `status` for each. */
    async function send(status: number, ...bodies: { id: string }[]) {
        const answers = [];
        for (const body of bodies) {
            const res = await post(svc, body);
            expect(res.statusCode).toBe(status);
            if (status < 300) await applied(body.id);
            answers.push(res);
        }
        return answers;
    }

    it("tenant.provisioned says where the client's credentials are, and so does GET /tenants/:id; never a value", async () => {
        await send(202, createdEvent("fjord", { createdDate: "2026-01-10" }));
        const [provisioned, ...rest] = await drain(svc);
        expect(rest).toEqual([]);
        expect(provisioned.event).toBe("tenant.provisioned");
        expect(provisioned.payload.credentials).toEqual(euWestCredentials("fjord", true));
        const got = await request(svc, { url: "/tenants/fjord" });
        expect(got.statusCode).toBe(200);
        expect(got.json()).toMatchObject({ id: "fjord", state: "active", manifestStatus: "active", credentials: euWestCredentials("fjord", true) });
        expect(got.body).not.toMatch(/generated|password"\s*:/i);
    });

    it("a tenant the service never deployed (the CLI did): its credentials as its region stack's settings say, no ARN", async () => {
        const got = await request(svc, { url: "/tenants/nordic" });
        expect(got.statusCode).toBe(200);
        expect(got.json()).toEqual({
            id: "nordic",
            region: "eu-west",
            state: "active",
            manifestStatus: "active",
            tier: "standard",
            updatedAt: null,
            lastJob: null,
            credentials: euWestCredentials("nordic", false),
        });
    });

    it("a failed payment suspends the tenant; the payment that succeeds serves it again", async () => {
        const [failed] = await send(202, event("invoice.payment_failed", { tenantId: "fjord" }));
        expect(failed.json()).toMatchObject({ result: "accepted", tenantId: "fjord" });
        expect(statusOf(svc, "fjord")).toBe("suspended");
        expect((await request(svc, { url: "/tenants/fjord" })).json()).toMatchObject({ state: "suspended", manifestStatus: "suspended" });
        expect((await drain(svc)).map((e) => [e.event, e.payload.billing_event, e.payload.status])).toEqual([
            ["tenant.suspended", "invoice.payment_failed", "suspended"],
        ]);

        await send(202, event("invoice.payment_succeeded", { tenantId: "fjord" }));
        expect(statusOf(svc, "fjord")).toBe("active");
        expect((await request(svc, { url: "/tenants/fjord" })).json()).toMatchObject({ state: "active", manifestStatus: "active" });
        expect((await drain(svc)).map((e) => [e.event, e.payload.billing_event, e.payload.status])).toEqual([
            ["tenant.resumed", "invoice.payment_succeeded", "active"],
        ]);
    });

    it("a pause suspends, a resume ends it", async () => {
        await send(202, event("subscription.paused", { tenantId: "fjord" }));
        expect(statusOf(svc, "fjord")).toBe("suspended");
        await send(202, event("subscription.resumed", { tenantId: "fjord" }));
        expect(statusOf(svc, "fjord")).toBe("active");
        expect((await drain(svc)).map((e) => e.event)).toEqual(["tenant.suspended", "tenant.resumed"]);
    });

    it("the monthly payment of an active tenant changes nothing, deploys nothing and is no resume", async () => {
        const before = fs.readFileSync(svc.manifestPath, "utf8");
        const deploys = deployer.calls.length;
        const paid = event("invoice.payment_succeeded", { tenantId: "fjord" });
        const [answer] = await send(202, paid);
        expect(answer.json()).toMatchObject({ result: "unchanged", tenantId: "fjord" });
        expect(fs.readFileSync(svc.manifestPath, "utf8")).toBe(before);
        // Its one effect, the status, is what fjord's last job deployed: recorded unchanged, with no job, and announced at once.
        expect(await svc.store.getEvent(paid.id)).toMatchObject({ outcome: "unchanged", jobId: null });
        expect((await request(svc, { url: `/events/${paid.id}` })).json()).toMatchObject({ state: "unchanged", jobId: null });
        expect(deployer.calls.length).toBe(deploys);
        expect((await drain(svc)).map((e) => [e.event, e.payload.status, e.payload.job_id, e.payload.billing_event_id])).toEqual([
            ["tenant.updated", "active", null, paid.id],
        ]);
        expect((await request(svc, { url: "/tenants/fjord" })).json()).toMatchObject({ state: "active", manifestStatus: "active" });
    });

    it("a suspension event the manifest already reflects still deploys when the service's last deployment had another status", async () => {
        // A reviewed change suspended fjord in the manifest; the service's last job deployed it active.
        const doc = parseDocument(fs.readFileSync(svc.manifestPath, "utf8"));
        (doc.get("tenants") as YAMLSeq<YAMLMap>).items.find((m) => m.get("id") === "fjord")!.set("status", "suspended");
        fs.writeFileSync(svc.manifestPath, doc.toString());
        const deploys = deployer.calls.length;
        const failed = event("invoice.payment_failed", { tenantId: "fjord" });
        // (Answered `accepted`: the door's index has not read the file yet; the batch applies the event to it.)
        await send(202, failed);
        const recorded = await svc.store.getEvent(failed.id);
        expect(recorded).toMatchObject({ outcome: "accepted" });
        expect(recorded?.jobId).toMatch(/^job_/);
        expect(deployer.calls.slice(deploys).map((c) => c.tenants)).toEqual([["fjord"]]);
        expect((await drain(svc)).map((e) => [e.event, e.payload.status, e.payload.job_id])).toEqual([["tenant.suspended", "suspended", recorded?.jobId]]);
        // Deployed suspended now: the same event type again needs no deployment.
        const again = event("invoice.payment_failed", { tenantId: "fjord" });
        await send(202, again);
        expect(await svc.store.getEvent(again.id)).toMatchObject({ outcome: "unchanged", jobId: null });
        expect(deployer.calls.length).toBe(deploys + 1);
        await send(202, event("invoice.payment_succeeded", { tenantId: "fjord" }));
        expect(statusOf(svc, "fjord")).toBe("active");
        expect(deployer.calls.length).toBe(deploys + 2);
        expect((await drain(svc)).map((e) => e.event)).toEqual(["tenant.updated", "tenant.resumed"]);
    });

    it("subscription.updated changes the domain, custom domains, billing id, cost center and department in the manifest", async () => {
        await send(
            202,
            event("subscription.updated", {
                tenantId: "fjord",
                domain: "fjord-shop.collectverything.com",
                customDomains: ["www.fjord-shop.no"],
                billingId: "sub_fjord_2",
                costCenter: "CC-FJO-002",
                department: "outdoor",
            }),
        );
        const r = validateManifest(fs.readFileSync(svc.manifestPath, "utf8"));
        expect(r.ok && r.manifest.tenants.find((t) => t.id === "fjord")).toMatchObject({
            domain: "fjord-shop.collectverything.com",
            customDomains: ["www.fjord-shop.no"],
            billingId: "sub_fjord_2",
            costCenter: "CC-FJO-002",
            department: "outdoor",
            status: "active",
        });
        expect((await drain(svc)).map((e) => e.event)).toEqual(["tenant.updated"]);
    });

    it("an invalid label value is refused before anything is stored, naming the field and the fix", async () => {
        const before = fs.readFileSync(svc.manifestPath, "utf8");
        const res = await post(svc, event("subscription.updated", { tenantId: "fjord", department: "Outdoor & Garden" }));
        expect(res.statusCode).toBe(400);
        expect(res.json()).toEqual({
            error: "invalid-body",
            field: "data.department",
            message:
                'data.department: must match pattern "^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$". Allowed: 1-63 characters of A-Z a-z 0-9 . _ -, starting and ending with a letter or digit (it becomes a Kubernetes label). Fix: use a value such as "retail"',
        });
        expect(fs.readFileSync(svc.manifestPath, "utf8")).toBe(before);
    });

    it("a resume of a cancelled tenant is refused with 409, naming the way back; nothing written", async () => {
        await send(202, event("subscription.cancelled", { tenantId: "fjord", cancelledAt: "2026-11-20" }));
        await drain(svc);
        const before = fs.readFileSync(svc.manifestPath, "utf8");
        const res = await post(svc, event("subscription.resumed", { tenantId: "fjord" }));
        expect(res.statusCode).toBe(409);
        expect(res.json()).toEqual({
            error: "tenant-cancelled",
            field: "type",
            message:
                'tenant "fjord" was cancelled on 2026-11-20; a resume does not undo a cancellation. Fix: send subscription.reactivated by 2026-12-20, the end of its grace period, to serve it again',
        });
        expect(fs.readFileSync(svc.manifestPath, "utf8")).toBe(before);
        // A payment that fails or succeeds after the cancellation (the last invoice) leaves it cancelled.
        await send(202, event("invoice.payment_failed", { tenantId: "fjord" }), event("invoice.payment_succeeded", { tenantId: "fjord" }));
        expect(statusOf(svc, "fjord")).toBe("cancelled");
        expect(fs.readFileSync(svc.manifestPath, "utf8")).toBe(before);
        // Cancelled, within its grace period: its data and credentials are still there.
        expect((await request(svc, { url: "/tenants/fjord" })).json()).toMatchObject({ state: "offboarding", credentials: euWestCredentials("fjord", true) });
    });

    it("once purged (its tombstone in the manifest, written by tenantctl purge), GET /tenants/:id reports no credentials", async () => {
        const text = fs.readFileSync(svc.manifestPath, "utf8");
        // What tenantctl purge leaves: the entry as a tombstone, status deleted with the day it ran.
        const doc = parseDocument(text);
        const entry = (doc.get("tenants") as YAMLSeq<YAMLMap>).items.find((m) => m.get("id") === "fjord")!;
        entry.set("status", "deleted");
        entry.set("deletedAt", "2026-12-01");
        const tombstoned = doc.toString();
        expect(validateManifest(tombstoned).ok).toBe(true);
        fs.writeFileSync(svc.manifestPath, tombstoned);
        expect((await request(svc, { url: "/tenants/fjord" })).json()).toMatchObject({ manifestStatus: "cancelled", credentials: null });
    });
});
