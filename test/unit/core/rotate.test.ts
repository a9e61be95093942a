/**
 * core/rotate.ts without a cluster or an engine: which steps a run asks for,
 * and their record in the manifest through its lock (a rotation that ran in
 * between wins).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ManifestRepo } from "../../../core/manifestRepo";
import { plannedSteps, recordSteps, stackHeldTenants } from "../../../core/rotate";
import { validateManifest } from "../../../lib/manifest";
import { RotationRefused } from "../../../lib/rotation";
import { manifestYaml, tempDir, tenantSpec, type RawTenant } from "../../support/manifests";

const SERVICES = ["auth", "products", "orders"];
const NOW = new Date("2026-12-01T10:00:00Z");
const abc = tenantSpec("abc", { createdDate: "2025-01-15" });

describe("plannedSteps", () => {
    test("on demand: one switch per credential of the tenant, or the one --service names", () => {
        expect(plannedSteps([abc], undefined, SERVICES, { tenant: "abc" }, NOW).map((s) => [s.kind, s.credential, s.to.generation])).toEqual([
            ["switch", "auth", 1],
            ["switch", "products", 1],
            ["switch", "orders", 1],
            ["switch", "rabbitmq", 1],
            ["switch", "storage", 1],
            ["switch", "archive", 1],
        ]);
        expect(plannedSteps([abc], undefined, SERVICES, { tenant: "abc", service: "rabbitmq" }, NOW).map((s) => s.credential)).toEqual(["rabbitmq"]);
    });

    test("only the credentials of the stack's enabled components", () => {
        const features = { databases: false, vhosts: true, buckets: false };
        expect(plannedSteps([abc], undefined, SERVICES, { tenant: "abc" }, NOW, features).map((s) => s.credential)).toEqual(["rabbitmq"]);
    });

    test("the archive key is a credential where features.archiveIdentity is on (eu-west, us-east), not elsewhere", () => {
        const on = { databases: true, vhosts: true, buckets: true, archiveIdentity: true };
        expect(plannedSteps([abc], undefined, SERVICES, { tenant: "abc", service: "archive" }, NOW, on).map((s) => [s.kind, s.credential, s.to])).toEqual([
            ["switch", "archive", { generation: 1, rotatedAt: "2026-12-01T10:00:00Z", retired: false }],
        ]);
        expect(() => plannedSteps([abc], undefined, SERVICES, { tenant: "abc", service: "archive" }, NOW, { ...on, archiveIdentity: false })).toThrow(
            '--service archive: not a credential of tenant "abc". Allowed: auth, products, orders, rabbitmq, storage',
        );
        // --due: abc was created 2025-01-15, so its never-rotated archive key is due.
        const archiveOnly = { databases: false, vhosts: false, buckets: false, archiveIdentity: true };
        expect(plannedSteps([abc], undefined, SERVICES, { due: true }, NOW, archiveOnly).map((s) => [s.kind, s.credential, s.from.generation])).toEqual([
            ["switch", "archive", 0],
        ]);
    });

    test("refusals name the field and the fix", () => {
        expect(() => plannedSteps([abc], undefined, SERVICES, { tenant: "xyz" }, NOW)).toThrow(
            new RotationRefused('tenant "xyz" is not a live tenant of this stack\'s region. Fix: check the id and --stack'),
        );
        expect(() => plannedSteps([abc], undefined, SERVICES, { tenant: "abc", service: "ftp" }, NOW)).toThrow(
            '--service ftp: not a credential of tenant "abc". Allowed: auth, products, orders, rabbitmq, storage, archive',
        );
        expect(() => plannedSteps([abc], undefined, SERVICES, { tenant: "abc", retire: true, service: "auth" }, NOW)).toThrow(
            'tenant "abc" credential "auth": nothing to retire (generation 0 has no live old slot)',
        );
    });
});

describe("recordSteps", () => {
    const dir = tempDir("rotate");
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const raw: RawTenant = { ...abc, customDomains: [] };

    test("writes the new states under the lock; the same plan again is refused: its starting state is gone", async () => {
        const file = path.join(dir, "tenants.yaml");
        fs.writeFileSync(file, manifestYaml([raw]));
        const steps = plannedSteps([abc], undefined, SERVICES, { tenant: "abc", service: "auth" }, NOW);
        await recordSteps(file, steps, SERVICES);
        const after = validateManifest(fs.readFileSync(file, "utf8"), file);
        expect(after.ok && after.manifest.rotations).toEqual({ abc: { auth: { generation: 1, rotatedAt: "2026-12-01T10:00:00Z", retired: false } } });
        await expect(recordSteps(file, steps, SERVICES)).rejects.toThrow(
            "abc auth: its rotation state changed since this run read it (another rotation ran). Fix: run tenantctl rotate again",
        );
    });
});

describe("stackHeldTenants: a run applies the states of the tenants its stack holds", () => {
    const tenants = ["a1", "b2", "c3", "d4"].map((id, i) => tenantSpec(id, { shard: i % 2 }));
    test("one shard: every tenant of the region; shards: the shard's own (here by their pins); the region stack refuses", () => {
        expect(stackHeldTenants(tenants, 1, { kind: "region", stack: "eu-west" }).map((t) => t.id)).toEqual(["a1", "b2", "c3", "d4"]);
        expect(stackHeldTenants(tenants, 2, { kind: "shard", stack: "eu-west-s01", regionStack: "eu-west", index: 1 }).map((t) => t.id)).toEqual(["b2", "d4"]);
        expect(() => stackHeldTenants(tenants, 2, { kind: "region", stack: "eu-west" })).toThrow(
            "stack eu-west has 2 shards and holds no tenant itself. Fix: rotate on its shard stacks (tenantctl shards --stack eu-west lists them)",
        );
    });
});

describe("recordSteps through git (core/manifestRepo.ts), as purge and the billing service commit", () => {
    const dir = tempDir("rotate-git");
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const git = (cwd: string, ...args: string[]) =>
        execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } });

    test("the new states are committed on the remote tip and pushed, with the steps in the message", async () => {
        const remote = path.join(dir, "remote.git");
        const clone = path.join(dir, "clone");
        git(dir, "init", "--quiet", "--bare", "-b", "main", remote);
        git(dir, "clone", "--quiet", remote, clone);
        fs.writeFileSync(path.join(clone, "tenants.yaml"), manifestYaml([{ ...abc, customDomains: [] }]));
        git(clone, "add", "tenants.yaml");
        git(clone, "-c", "user.name=Seed", "-c", "user.email=seed@example.com", "commit", "--quiet", "-m", "seed");
        git(clone, "push", "--quiet", "origin", "HEAD:main");
        const manifest = path.join(clone, "tenants.yaml");
        const repo = await ManifestRepo.open(manifest);
        const steps = plannedSteps([abc], undefined, SERVICES, { tenant: "abc", service: "rabbitmq" }, NOW);
        const { commit } = await recordSteps(manifest, steps, SERVICES, repo);
        expect(commit).toMatch(/^[0-9a-f]{40}$/);
        expect(git(remote, "log", "-1", "--format=%s", "main").trim()).toBe("tenantctl rotate: switch abc rabbitmq (generation 1)");
        const pushed = validateManifest(git(remote, "show", "main:tenants.yaml"), "tenants.yaml");
        expect(pushed.ok && pushed.manifest.rotations).toEqual({ abc: { rabbitmq: { generation: 1, rotatedAt: "2026-12-01T10:00:00Z", retired: false } } });
    });
});
