/**
 * cli/purge.ts: the refusals that guard a tenant's data (README, "Lifecycle"):
 * only a cancelled tenant of the stack's region, only once its deletion date
 * (cancelledAt + 30 days) has come, only with a final backup recorded, and
 * then the tenant's resources are unprotected, nobody else's.
 * The expected values are stated literally (dates, messages, URNs).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { KubeError } from "../../../core/kube";
import {
    finalBackupProblems,
    purge,
    purgeGate,
    PurgeRefused,
    removeTenantFromManifest,
    removeTenantFromSource,
    auditLogPath,
    tombstoneInSource,
    tenantUrns,
    unprotect,
    type KubeGetter,
} from "../../../cli/purge";
import { ManifestFile } from "../../../core/manifestFile";
import { EventCommitter } from "../../../service/commit";
import { Store } from "../../../service/store";
import { utcDate, validateManifest, type TenantSpec } from "../../../lib/manifest";
import { manifestYaml, shippedEntries, tempDir, tenantSpec, withTenant } from "../../support/manifests";

const tenant = tenantSpec;

const TENANTS: TenantSpec[] = [
    tenant("atelier", { status: "cancelled", cancelledAt: "2026-11-10" }),
    tenant("nordic"),
    tenant("maple", { status: "suspended", region: "us-east" }),
    tenant("far", { status: "cancelled", cancelledAt: "2026-01-01", region: "apac" }),
    tenant("feb", { status: "cancelled", cancelledAt: "2028-01-31" }),
];
const at = (today: string, tenantId = "atelier") => ({ tenantId, stack: "eu-west", region: "eu-west", today, manifestPath: "tenants.yaml" });

describe("purgeGate: what the manifest must say", () => {
    test("refused during the 30-day grace period, up to the day before the deletion date", () => {
        for (const today of ["2026-11-10", "2026-11-30", "2026-12-09"]) {
            expect(() => purgeGate(TENANTS, at(today))).toThrow(
                new PurgeRefused('tenant "atelier" is in its grace period until 2026-12-10 (cancelled 2026-11-10); it can still be reactivated'),
            );
        }
    });

    test("allowed from the deletion date on (2026-11-10 + 30 days = 2026-12-10)", () => {
        for (const today of ["2026-12-10", "2026-12-11", "2027-06-01"]) {
            expect(purgeGate(TENANTS, at(today))).toEqual({ tenant: TENANTS[0], deleteAfter: "2026-12-10", cancelledAt: "2026-11-10" });
        }
    });

    test("the deletion date counts calendar days across a month end and a leap day", () => {
        expect(() => purgeGate(TENANTS, at("2028-02-29", "feb"))).toThrow("grace period until 2028-03-01");
        expect(purgeGate(TENANTS, at("2028-03-01", "feb")).deleteAfter).toBe("2028-03-01");
    });

    test("an active or suspended tenant is never purged, whatever the date", () => {
        expect(() => purgeGate(TENANTS, at("2099-01-01", "nordic"))).toThrow(
            new PurgeRefused('tenant "nordic" is active: only a cancelled tenant\'s data can be removed, after its grace period'),
        );
        expect(() => purgeGate(TENANTS, { ...at("2099-01-01", "maple"), stack: "us-east", region: "us-east" })).toThrow(
            new PurgeRefused('tenant "maple" is suspended: only a cancelled tenant\'s data can be removed, after its grace period'),
        );
    });

    test("a cancelled tenant without cancelledAt is refused (no deletion date to have passed)", () => {
        const odd = [tenant("odd", { status: "cancelled" })];
        expect(() => purgeGate(odd, at("2099-01-01", "odd"))).toThrow(PurgeRefused);
    });

    test("a tenant of another region, or not in the manifest, is refused", () => {
        expect(() => purgeGate(TENANTS, at("2099-01-01", "far"))).toThrow(new PurgeRefused('tenant "far" is in region apac, not eu-west (stack eu-west)'));
        expect(() => purgeGate(TENANTS, at("2099-01-01", "ghost"))).toThrow(new PurgeRefused('tenant "ghost" is not in tenants.yaml'));
    });
});

describe("purge() refuses before touching a cluster or a stack", () => {
    const dir = tempDir("purge");
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const manifest = path.join(dir, "tenants.yaml");
    fs.writeFileSync(manifest, manifestYaml(withTenant(shippedEntries(), "atelier", { status: "cancelled", cancelledAt: "2026-11-10" })));
    // No cluster: a purge that went past the manifest's checks would fail reading this kubeconfig, not refuse.
    const configFile = path.join(dir, "Pulumi.eu-west.yaml");
    fs.writeFileSync(
        configFile,
        [
            "config:",
            "  tenant-platform:region: eu-west",
            `  tenant-platform:manifest: ${manifest}`,
            "  tenant-platform:features: { databases: false, buckets: false, vhosts: false }",
            `  tenant-platform:kubernetes: { kubeconfig: ${path.join(dir, "no-such-kubeconfig")} }`,
            "",
        ].join("\n"),
    );
    const run = (tenantId: string, today: string) =>
        purge({ stack: "eu-west", tenant: tenantId, today, yes: true, configFile, projectDir: dir, log: () => undefined });

    test("during the grace period, even with --yes", async () => {
        await expect(run("atelier", "2026-12-09")).rejects.toThrow(
            new PurgeRefused('tenant "atelier" is in its grace period until 2026-12-10 (cancelled 2026-11-10); it can still be reactivated'),
        );
        expect(fs.readFileSync(manifest, "utf8")).toContain("id: atelier");
    });

    test("an active tenant", async () => {
        await expect(run("abc", "2099-01-01")).rejects.toThrow(
            new PurgeRefused('tenant "abc" is active: only a cancelled tenant\'s data can be removed, after its grace period'),
        );
    });
});

describe("finalBackupProblems: a final backup is recorded", () => {
    const NS = "e-commerce-client-atelier";
    const JOB = `/apis/batch/v1/namespaces/${NS}/jobs/final-backup`;
    const PVC = `/api/v1/namespaces/${NS}/persistentvolumeclaims/backup-pvc`;
    const PV = "/api/v1/persistentvolumes/pv-1";
    const getter =
        (objects: Record<string, unknown>): KubeGetter =>
        <T>(apiPath: string): Promise<T> => {
            if (!(apiPath in objects)) return Promise.reject(new KubeError(404, `${apiPath} not found`));
            const o = objects[apiPath];
            if (o instanceof Error) return Promise.reject(o);
            return Promise.resolve(o as T);
        };
    const CANCELLED = "2026-11-10";
    const done = (cancelledAt: string | undefined, completionTime: string | undefined) => ({
        metadata: { annotations: { "pulumi.com/skipAwait": "true", ...(cancelledAt ? { "collectverything.com/cancelled-at": cancelledAt } : {}) } },
        status: { succeeded: 1, ...(completionTime ? { completionTime } : {}) },
    });
    const recorded = {
        [JOB]: done(CANCELLED, "2026-11-10T00:04:12Z"),
        [PVC]: { spec: { volumeName: "pv-1" } },
        [PV]: { spec: { persistentVolumeReclaimPolicy: "Retain" } },
    };

    test("none when the Job succeeded and the PVC is bound to a Retain volume", async () => {
        expect(await finalBackupProblems(getter(recorded), NS, CANCELLED)).toEqual([]);
    });

    test("the Job has not succeeded yet", async () => {
        expect(await finalBackupProblems(getter({ ...recorded, [JOB]: { ...done(CANCELLED, undefined), status: { active: 1 } } }), NS, CANCELLED)).toEqual([
            `the final-backup Job in ${NS} has not succeeded yet; wait for it (kubectl -n ${NS} get job final-backup) or investigate its pods`,
        ]);
        expect(
            await finalBackupProblems(getter({ ...recorded, [JOB]: { ...done(CANCELLED, undefined), status: { succeeded: 0, failed: 6 } } }), NS, CANCELLED),
        ).toHaveLength(1);
    });

    test("only a final backup taken for the last cancellation: cancel 2026-11-10, reactivate, cancel 2026-11-20 leaves the first Job refused", async () => {
        const fix = `Fix: delete it (kubectl -n ${NS} delete job final-backup) and run \`pulumi up\`, which takes a new final backup`;
        expect(await finalBackupProblems(getter(recorded), NS, "2026-11-20")).toEqual([
            `the final-backup Job in ${NS} was taken for the cancellation of 2026-11-10, not the last one (2026-11-20). ${fix}`,
        ]);
        // A Job kept from before the program annotated it (the retained Job of an earlier cancellation).
        expect(await finalBackupProblems(getter({ ...recorded, [JOB]: done(undefined, "2026-11-10T00:04:12Z") }), NS, CANCELLED)).toEqual([
            `the final-backup Job in ${NS} was taken for an earlier cancellation (it has no collectverything.com/cancelled-at annotation), not the last one (2026-11-10). ${fix}`,
        ]);
        // Completed before the day of the cancellation it claims, or at no recorded time.
        expect(await finalBackupProblems(getter({ ...recorded, [JOB]: done(CANCELLED, "2026-11-09T23:59:59Z") }), NS, CANCELLED)).toEqual([
            `the final-backup Job in ${NS} completed at 2026-11-09T23:59:59Z, before the cancellation of 2026-11-10. ${fix}`,
        ]);
        expect(await finalBackupProblems(getter({ ...recorded, [JOB]: done(CANCELLED, undefined) }), NS, CANCELLED)).toEqual([
            `the final-backup Job in ${NS} completed at no recorded time, not after the cancellation of 2026-11-10. ${fix}`,
        ]);
        // The new Job of the second cancellation is accepted.
        expect(await finalBackupProblems(getter({ ...recorded, [JOB]: done("2026-11-20", "2026-11-20T09:30:00Z") }), NS, "2026-11-20")).toEqual([]);
    });

    test("no Job, no PVC", async () => {
        expect(await finalBackupProblems(getter({}), NS, CANCELLED)).toEqual([
            `no final-backup Job in ${NS}: run \`pulumi up\` with the tenant cancelled first`,
            `no backup-pvc in ${NS}`,
        ]);
    });

    test("an unbound PVC holds no backup", async () => {
        expect(await finalBackupProblems(getter({ ...recorded, [PVC]: { spec: {} } }), NS, CANCELLED)).toEqual([
            `backup-pvc in ${NS} is not bound to a volume, so it holds no backup`,
        ]);
    });

    test("a volume that a namespace deletion would delete (reclaim policy Delete) is refused, with the fix", async () => {
        expect(await finalBackupProblems(getter({ ...recorded, [PV]: { spec: { persistentVolumeReclaimPolicy: "Delete" } } }), NS, CANCELLED)).toEqual([
            "the backup volume pv-1 has reclaim policy Delete: deleting the namespace would delete the final backup. " +
                `Fix: kubectl patch pv pv-1 -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}' (or archive the dumps elsewhere first)`,
        ]);
    });

    test("an API error other than 404 is not mistaken for a missing backup", async () => {
        await expect(finalBackupProblems(getter({ ...recorded, [JOB]: new KubeError(403, "forbidden") }), NS, CANCELLED)).rejects.toThrow("forbidden");
        await expect(finalBackupProblems(getter({ ...recorded, [PV]: new KubeError(500, "boom") }), NS, CANCELLED)).rejects.toThrow("boom");
    });
});

describe("tenantUrns and unprotect: exactly the tenant's resources", () => {
    const P = "urn:pulumi:eu-west::tenant-platform::";
    const T = "collectverything:tenant:Tenant";
    const NS = "collectverything:tenant:TenantNamespace";
    const state = () => [
        { urn: `${P}pulumi:pulumi:Stack::tenant-platform-eu-west`, type: "pulumi:pulumi:Stack", protect: false },
        { urn: `${P}pulumi:providers:kubernetes::kubernetes`, type: "pulumi:providers:kubernetes", protect: false },
        { urn: `${P}collectverything:tenant:SharedRegion::eu-west`, type: "collectverything:tenant:SharedRegion" },
        {
            urn: `${P}collectverything:tenant:SharedRegion$kubernetes:core/v1:Namespace::eu-west-namespace`,
            type: "kubernetes:core/v1:Namespace",
            parent: `${P}collectverything:tenant:SharedRegion::eu-west`,
            protect: true,
        },
        { urn: `${P}${T}::atelier`, type: T },
        { urn: `${P}${T}$${NS}::atelier`, type: NS, parent: `${P}${T}::atelier` },
        {
            urn: `${P}${T}$${NS}$kubernetes:core/v1:Namespace::atelier-namespace`,
            type: "kubernetes:core/v1:Namespace",
            parent: `${P}${T}$${NS}::atelier`,
            protect: true,
        },
        {
            urn: `${P}${T}$${NS}$kubernetes:core/v1:ResourceQuota::atelier-quota`,
            type: "kubernetes:core/v1:ResourceQuota",
            parent: `${P}${T}$${NS}::atelier`,
            protect: true,
        },
        { urn: `${P}${T}::abc`, type: T },
        { urn: `${P}${T}$${NS}::abc`, type: NS, parent: `${P}${T}::abc` },
        {
            urn: `${P}${T}$${NS}$kubernetes:core/v1:Namespace::abc-namespace`,
            type: "kubernetes:core/v1:Namespace",
            parent: `${P}${T}$${NS}::abc`,
            protect: true,
        },
        // A tenant whose id ends like another's: "xatelier" is not "atelier".
        { urn: `${P}${T}::xatelier`, type: T },
        { urn: `${P}${T}$kubernetes:core/v1:Namespace::xatelier-namespace`, type: "kubernetes:core/v1:Namespace", parent: `${P}${T}::xatelier`, protect: true },
    ];

    test("tenantUrns: the Tenant component and everything under it, at any depth", () => {
        expect(tenantUrns(state(), "atelier")).toEqual([
            `${P}${T}::atelier`,
            `${P}${T}$${NS}::atelier`,
            `${P}${T}$${NS}$kubernetes:core/v1:Namespace::atelier-namespace`,
            `${P}${T}$${NS}$kubernetes:core/v1:ResourceQuota::atelier-quota`,
        ]);
        expect(tenantUrns(state(), "ghost")).toEqual([]);
    });

    test("unprotect clears protect on the tenant's resources only; the region's and the other tenants' stay protected", () => {
        const resources = state();
        unprotect(resources, tenantUrns(resources, "atelier"));
        expect(resources.filter((r) => r.protect === true).map((r) => r.urn)).toEqual([
            `${P}collectverything:tenant:SharedRegion$kubernetes:core/v1:Namespace::eu-west-namespace`,
            `${P}${T}$${NS}$kubernetes:core/v1:Namespace::abc-namespace`,
            `${P}${T}$kubernetes:core/v1:Namespace::xatelier-namespace`,
        ]);
        expect(resources.filter((r) => r.protect === false).map((r) => r.urn)).toEqual([
            `${P}pulumi:pulumi:Stack::tenant-platform-eu-west`,
            `${P}pulumi:providers:kubernetes::kubernetes`,
            `${P}${T}::atelier`,
            `${P}${T}$${NS}::atelier`,
            `${P}${T}$${NS}$kubernetes:core/v1:Namespace::atelier-namespace`,
            `${P}${T}$${NS}$kubernetes:core/v1:ResourceQuota::atelier-quota`,
        ]);
    });
});

/** The purge's write: the entry is a tombstone now (status deleted, deletedAt the real day), no longer a tenant. */
function expectTombstone(source: string, id: string): void {
    const parsed = validateManifest(source, "tenants.yaml");
    if (!parsed.ok) throw new Error(parsed.issues.map((i) => i.problem).join("; "));
    expect(parsed.manifest.tenants.map((t) => t.id)).not.toContain(id);
    expect(parsed.manifest.tombstones?.find((t) => t.id === id)).toMatchObject({ status: "deleted", deletedAt: utcDate() });
}

describe("tombstoneInSource (erasure keeps a tombstone, issue 12)", () => {
    const source = [
        "# tenants",
        "tenants:",
        "  # the cancelled one",
        "  - id: atelier",
        "    tier: standard",
        "    status: cancelled",
        "    cancelledAt: 2026-10-01",
        "  - id: zed",
        "    status: active",
        "rotations:",
        "  atelier:",
        '    auth: {generation: 1, rotatedAt: "2026-09-01T00:00:00Z", retired: true}',
        "",
    ].join("\n");

    test("status deleted and deletedAt in place, the other fields, comments and entries kept, its rotation states removed", () => {
        expect(tombstoneInSource(source, "atelier", "2026-11-05")).toBe(
            [
                "# tenants",
                "tenants:",
                "  # the cancelled one",
                "  - id: atelier",
                "    tier: standard",
                "    status: deleted",
                "    cancelledAt: 2026-10-01",
                "    deletedAt: 2026-11-05",
                "  - id: zed",
                "    status: active",
                "",
            ].join("\n"),
        );
        expect(() => tombstoneInSource(source, "ghost", "2026-11-05")).toThrow('tenant "ghost" is not in the manifest');
    });

    test("a tombstoned tenant is refused by the gate: already purged", () => {
        const tomb = { ...TENANTS.find((t) => t.id === "atelier")!, status: "deleted" as const, deletedAt: "2026-11-05" };
        expect(() => purgeGate([], at("2099-01-01"), [tomb])).toThrow(
            new PurgeRefused('tenant "atelier" was already purged on 2026-11-05: its entry is a tombstone (status: deleted)'),
        );
    });

    test("the audit log sits next to the manifest", () => {
        expect(auditLogPath("/repo/tenants.yaml")).toBe("/repo/tenants.audit.jsonl");
        expect(auditLogPath("/x/eu.yml")).toBe("/x/eu.audit.jsonl");
    });
});

describe("removeTenantFromSource", () => {
    const source = [
        "# tenants",
        "tenants:",
        "  # first",
        "  - id: abc",
        "    tier: premium",
        "  # the cancelled one",
        "  - id: atelier",
        "    tier: standard",
        "  - id: zed",
        "    tier: business",
        "",
    ].join("\n");

    test("removes exactly that entry, keeping the others, their order and comments", () => {
        expect(removeTenantFromSource(source, "atelier")).toBe(
            ["# tenants", "tenants:", "  # first", "  - id: abc", "    tier: premium", "  - id: zed", "    tier: business", ""].join("\n"),
        );
    });

    test("refuses an unknown tenant and a file without a tenants list", () => {
        expect(() => removeTenantFromSource(source, "ghost")).toThrow('tenant "ghost" is not in the manifest');
        expect(() => removeTenantFromSource("other: 1\n", "abc")).toThrow("the manifest has no tenants list");
    });
});

describe("removeTenantFromManifest: purge writes through the service's lock and re-reads under it (issue 10, section 1)", () => {
    const dir = tempDir("purge-write");
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const ctx = { tenantId: "atelier", stack: "eu-west", region: "eu-west", today: "2027-01-01", manifestPath: "tenants.yaml" };

    function setup(name: string) {
        const manifest = path.join(dir, `${name}.yaml`);
        fs.writeFileSync(manifest, manifestYaml(withTenant(shippedEntries(), "atelier", { status: "cancelled", cancelledAt: "2026-11-10" })));
        const committer = new EventCommitter(new ManifestFile(manifest), new Store(":memory:"), { file: path.basename(manifest), stackOf: (r) => r });
        return { manifest, committer };
    }

    test("an event committed by the service between purge's read and its write is kept", async () => {
        const { manifest, committer } = setup("kept");
        // What purge read when it started (minutes before its write)...
        const readAtStart = fs.readFileSync(manifest, "utf8");
        // ...then a webhook upgrades nordic through the service's group commit.
        expect(
            await committer.submit({ id: "evt_between", event: { type: "subscription.updated", data: { tenantId: "nordic", tier: "business" } } }),
        ).toMatchObject({ kind: "applied" });
        // The old write (removeTenantFromSource of the text read at the start) would have lost the upgrade:
        expect(removeTenantFromSource(readAtStart, "atelier")).not.toMatch(/id: nordic\n(?: {4}.*\n)*? {4}tier: business\n/);
        await removeTenantFromManifest(manifest, ctx);
        const after = fs.readFileSync(manifest, "utf8");
        expectTombstone(after, "atelier");
        expect(after).toMatch(/id: nordic\n(?: {4}.*\n)*? {4}tier: business\n/);
    });

    test("a tenant reactivated in between is not removed: refused, the manifest as the service left it", async () => {
        const { manifest, committer } = setup("reactivated");
        // The grace period is counted on the real date: reactivate with a cancellation of today.
        const today = new Date().toISOString().slice(0, 10);
        fs.writeFileSync(manifest, manifestYaml(withTenant(shippedEntries(), "atelier", { status: "cancelled", cancelledAt: today })));
        expect(await committer.submit({ id: "evt_back", event: { type: "subscription.reactivated", data: { tenantId: "atelier" } } })).toMatchObject({
            kind: "applied",
        });
        const before = fs.readFileSync(manifest, "utf8");
        await expect(removeTenantFromManifest(manifest, { ...ctx, today: "2099-01-01" })).rejects.toThrow(
            new PurgeRefused('tenant "atelier" is active: only a cancelled tenant\'s data can be removed, after its grace period'),
        );
        expect(fs.readFileSync(manifest, "utf8")).toBe(before);
    });

    test("waits for the service's lock: a write under it finishes first", async () => {
        const { manifest } = setup("waits");
        const service = new ManifestFile(manifest);
        let release!: () => void;
        const held = service.withLock(() => new Promise<void>((r) => (release = r)).then(() => service.write(`${service.read()}# written by the service\n`)));
        const purging = removeTenantFromManifest(manifest, ctx);
        await new Promise((r) => setTimeout(r, 100));
        expect(fs.readFileSync(manifest, "utf8")).toContain("id: atelier");
        release();
        await Promise.all([held, purging]);
        const after = fs.readFileSync(manifest, "utf8");
        expect(after).toContain("# written by the service");
        expectTombstone(after, "atelier");
    });
});
