/**
 * Removing a cancelled tenant's data is an explicit step that refuses to run
 * until the grace period is over and a final backup is recorded. Real engine,
 * real API server: atelier (cancelled 2026-11-10, deletion date 2026-12-10)
 * next to nordic (active).
 *
 * The local control plane has no kubelet and no volume provisioner, so the
 * test plays their part: it binds the backup PVC to a Retain PersistentVolume
 * and marks the final-backup Job complete through its status subresource,
 * which is what the kubelet and the Job controller record on a real cluster.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { purge, PurgeRefused } from "../../cli/purge";
import { EngineFixture, HOOK_TIMEOUT_MS, REPO_ROOT, STACK, assertClusterFree, manifestOf } from "../support/engine";
import { paths } from "../support/k8s";

jest.setTimeout(HOOK_TIMEOUT_MS);

const ATELIER = "e-commerce-client-atelier";
const NORDIC = "e-commerce-client-nordic";
const SHARED = "e-commerce-shared";
const PV = "cv-purge-test-atelier-backup";
const AFTER_GRACE = "2026-12-11";

const fixture = new EngineFixture("purge");
const lines: string[] = [];
const run = (extra: { today?: string; yes?: boolean }) =>
    purge({ stack: STACK, tenant: "atelier", projectDir: REPO_ROOT, configFile: fixture.configFile, log: (l) => lines.push(l), ...extra });

async function refusal(extra: { today?: string; yes?: boolean }): Promise<string> {
    try {
        await run(extra);
    } catch (err) {
        if (err instanceof PurgeRefused) return err.message;
        throw err;
    }
    throw new Error("purge was expected to refuse");
}

beforeAll(async () => {
    await assertClusterFree(fixture.kube, [ATELIER, NORDIC]);
    await fixture.init(manifestOf(["atelier", "nordic"]));
    await fixture.stack.up({ ...fixture.opts });
});

afterAll(async () => {
    await fixture.kube.request("DELETE", `/api/v1/persistentvolumes/${PV}`);
    await fixture.teardown([ATELIER, NORDIC, SHARED]);
});

test("an active tenant's data is never purged", async () => {
    const message = await (async () => {
        try {
            await purge({ stack: STACK, tenant: "nordic", projectDir: REPO_ROOT, configFile: fixture.configFile, today: AFTER_GRACE, log: () => undefined });
        } catch (err) {
            return (err as Error).message;
        }
        return "";
    })();
    expect(message).toBe('tenant "nordic" is active: only a cancelled tenant\'s data can be removed, after its grace period');
});

test("refused during the grace period", async () => {
    expect(await refusal({ today: "2026-12-09", yes: true })).toBe(
        'tenant "atelier" is in its grace period until 2026-12-10 (cancelled 2026-11-10); it can still be reactivated',
    );
});

test("refused after the grace period while no final backup is recorded", async () => {
    const message = await refusal({ today: AFTER_GRACE, yes: true });
    expect(message).toContain('no final backup is recorded for tenant "atelier"');
    expect(message).toContain(`the final-backup Job in ${ATELIER} has not succeeded yet`);
    expect(message).toContain("backup-pvc in e-commerce-client-atelier is not bound to a volume");
    // Nothing changed: the namespace and the manifest entry are still there.
    expect((await fixture.kube.request("GET", paths.namespace(ATELIER))).status).toBe(200);
    expect(fs.readFileSync(fixture.manifest, "utf8")).toContain("id: atelier");
});

test("with a recorded final backup, the dry run lists the tenant's resources and changes nothing", async () => {
    // The provisioner's part: a volume that outlives the namespace, bound to the backup claim.
    const pv = await fixture.kube.request("POST", "/api/v1/persistentvolumes", {
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name: PV },
        spec: {
            capacity: { storage: "10Gi" },
            accessModes: ["ReadWriteOnce"],
            persistentVolumeReclaimPolicy: "Retain",
            hostPath: { path: "/var/lib/cv-purge-test" },
            claimRef: { namespace: ATELIER, name: "backup-pvc" },
        },
    });
    expect(pv.status).toBe(201);
    const deadline = Date.now() + 120_000;
    while ((await fixture.kube.get(`${paths.pvcs(ATELIER)}/backup-pvc`)).status?.phase !== "Bound") {
        if (Date.now() > deadline) throw new Error("backup-pvc was not bound to the test volume within 120 s");
        await new Promise((r) => setTimeout(r, 1000));
    }
    // The kubelet's and Job controller's part: the final backup ran to completion.
    const job = await fixture.kube.get(`${paths.jobs(ATELIER)}/final-backup`);
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const patched = await fixture.kube.request(
        "PATCH",
        `${paths.jobs(ATELIER)}/final-backup/status`,
        {
            status: {
                active: 0,
                ready: 0,
                startTime: job.status.startTime,
                completionTime: now,
                succeeded: 1,
                conditions: [
                    { type: "SuccessCriteriaMet", status: "True", lastProbeTime: now, lastTransitionTime: now },
                    { type: "Complete", status: "True", lastProbeTime: now, lastTransitionTime: now },
                ],
            },
        },
        { contentType: "application/merge-patch+json" },
    );
    expect(patched.status).toBe(200);

    lines.length = 0;
    const plan = await run({ today: AFTER_GRACE });
    expect(plan.applied).toBe(false);
    expect(plan.urns.length).toBe(16);
    expect(plan.urns.every((u) => u.includes("collectverything:tenant:Tenant") && (u.endsWith("::atelier") || u.includes("::atelier-")))).toBe(true);
    expect(lines.at(-1)).toContain("dry run: nothing changed");
    expect((await fixture.kube.request("GET", paths.namespace(ATELIER))).status).toBe(200);
});

test("--yes unprotects exactly the tenant's resources, tombstones it in the manifest, records the audit and deletes its namespace; the backup volume and the other tenant stay", async () => {
    const result = await run({ today: AFTER_GRACE, yes: true });
    expect(result.applied).toBe(true);
    // The entry is a tombstone (issue 12): status deleted, deletedAt the day the purge ran (never before the cancellation).
    const manifest = parseYaml(fs.readFileSync(fixture.manifest, "utf8")) as {
        tenants: { id: string; status: string; cancelledAt?: string; deletedAt?: string }[];
    };
    const today = new Date().toISOString().slice(0, 10);
    const atelier = manifest.tenants.find((t) => t.id === "atelier")!;
    expect(manifest.tenants.map((t) => [t.id, t.status])).toEqual([
        ["atelier", "deleted"],
        ["nordic", "active"],
    ]);
    expect(atelier.deletedAt).toBe(atelier.cancelledAt! > today ? atelier.cancelledAt : today);
    // The audit log next to the manifest: one line before the up, one after, naming the tenant and the URNs deleted.
    const audit = fs
        .readFileSync(path.join(path.dirname(fixture.manifest), `${path.basename(fixture.manifest).replace(/\.ya?ml$/, "")}.audit.jsonl`), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { action: string; tenant: string; stack: string; resources?: string[]; changes?: Record<string, number> });
    expect(audit.map((a) => [a.action, a.tenant, a.stack])).toEqual([
        ["purge.tombstoned", "atelier", STACK],
        ["purge.deleted", "atelier", STACK],
    ]);
    expect(audit[0].resources).toHaveLength(16);
    expect(audit[1].changes?.delete).toBe(16);
    await fixture.kube.waitGone(paths.namespace(ATELIER));
    expect((await fixture.kube.get(paths.namespace(NORDIC))).status.phase).toBe("Active");
    const pv = await fixture.kube.get(`/api/v1/persistentvolumes/${PV}`);
    expect(pv.spec.persistentVolumeReclaimPolicy).toBe("Retain");
    expect(pv.status.phase).toBe("Released");
    // nordic's protection is untouched in the state.
    const state = await fixture.stack.exportStack();
    const nordicNs = (state.deployment.resources as { urn: string; protect?: boolean }[]).find((r) => r.urn.endsWith("::nordic-namespace"));
    expect(nordicNs?.protect).toBe(true);
});
