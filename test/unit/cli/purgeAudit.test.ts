/**
 * The purge's audit record travels with its tombstone (issue 12): with git
 * (core/manifestRepo.ts, the commit path the billing service shares), the
 * `purge.tombstoned` line of tenants.audit.jsonl is in the same commit as the
 * tombstone, pushed; `purge.deleted` follows in a commit of its own; on a
 * push race both are computed again on the new tip, after the lines already
 * there. Real `git`, a local bare repository as the remote.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { auditLogPath, recordAudit, removeTenantFromManifest, type PurgeAuditRecord } from "../../../cli/purge";
import { ManifestRepo } from "../../../core/manifestRepo";
import { git } from "../../support/gitRemote";
import { REPO_MANIFEST, tempDir } from "../../support/service";

// Real git: a dozen processes per test, which took over jest's 5 s default on a loaded 2-core machine.
jest.setTimeout(30_000);

const CANCELLED = fs
    .readFileSync(REPO_MANIFEST, "utf8")
    .replace(/(- id: xyz\n(?: {4}.*\n)*? {4}status: )active\n/, "$1cancelled\n    cancelledAt: 2026-01-02\n");
const CTX = { tenantId: "xyz", stack: "us-east", region: "us-east", today: "2027-01-01", manifestPath: "tenants.yaml" };

const record = (action: PurgeAuditRecord["action"], at: string): PurgeAuditRecord => ({
    at,
    by: "ops@example.com",
    action,
    tenant: "xyz",
    stack: "us-east",
    region: "us-east",
    cancelledAt: "2026-01-02",
    deletedAt: "2027-01-01",
    ...(action === "purge.tombstoned"
        ? { resources: ["urn:pulumi:us-east::tenant-platform::collectverything:tenant:Tenant::xyz"] }
        : { changes: { delete: 16 } }),
});

/** A bare remote with tenants.yaml (xyz cancelled) and an audit log holding one earlier line; the purger's clone and a person's. */
function setup() {
    const dir = tempDir("cv-purge-audit-");
    const remote = path.join(dir, "remote.git");
    git(dir, "init", "--quiet", "--bare", "-b", "main", remote);
    const seed = path.join(dir, "seed");
    git(dir, "clone", "--quiet", remote, seed);
    fs.writeFileSync(path.join(seed, "tenants.yaml"), CANCELLED);
    fs.writeFileSync(path.join(seed, "tenants.audit.jsonl"), '{"action":"purge.deleted","tenant":"old"}\n');
    git(seed, "add", "tenants.yaml", "tenants.audit.jsonl");
    git(seed, "-c", "user.name=Seed", "-c", "user.email=seed@example.com", "commit", "--quiet", "-m", "seed");
    git(seed, "push", "--quiet", "origin", "HEAD:main");
    const clone = (name: string) => {
        const p = path.join(dir, name);
        git(dir, "clone", "--quiet", "-b", "main", remote, p);
        return p;
    };
    return { remote, purger: clone("purger"), person: clone("person") };
}

/** Subject and files of each commit on the remote's main, newest first. */
function commits(remote: string): { subject: string; files: string[] }[] {
    return git(remote, "log", "--format=%x00%s", "--name-only", "main")
        .split("\0")
        .filter((c) => c.trim() !== "")
        .map((c) => {
            const [subject, ...files] = c.trim().split("\n");
            return { subject, files: files.filter((f) => f !== "").sort() };
        });
}

const remoteFile = (remote: string, file: string) => git(remote, "show", `main:${file}`);
const lines = (text: string) =>
    text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);

test("the audit log sits beside the manifest", () => {
    expect(auditLogPath("/r/tenants.yaml")).toBe("/r/tenants.audit.jsonl");
});

test("the tombstone and its purge.tombstoned record are one commit, pushed; purge.deleted is the next commit, the audit log only; the clone stays clean", async () => {
    const { remote, purger } = setup();
    const manifest = path.join(purger, "tenants.yaml");
    const repo = await ManifestRepo.open(manifest);
    await repo.sync();
    const { commit } = await removeTenantFromManifest(manifest, CTX, undefined, repo, record("purge.tombstoned", "2027-01-01T10:00:00.000Z"));
    expect(commit).toBe(git(remote, "rev-parse", "main").trim());
    expect(commits(remote)[0]).toEqual({
        subject: "tenantctl purge: tombstone xyz (data erased; stack us-east, grace period over on 2027-01-01)",
        files: ["tenants.audit.jsonl", "tenants.yaml"],
    });
    expect(/- id: xyz\n(?: {4}.*\n)*? {4}status: deleted\n/.test(remoteFile(remote, "tenants.yaml"))).toBe(true);
    expect(lines(remoteFile(remote, "tenants.audit.jsonl"))).toEqual([
        { action: "purge.deleted", tenant: "old" },
        record("purge.tombstoned", "2027-01-01T10:00:00.000Z"),
    ]);

    const deleted = await recordAudit(manifest, record("purge.deleted", "2027-01-01T10:05:00.000Z"), repo);
    expect(deleted.commit).toBe(git(remote, "rev-parse", "main").trim());
    expect(commits(remote).map((c) => c.subject)).toEqual([
        "tenantctl purge: audit purge.deleted xyz (stack us-east)",
        "tenantctl purge: tombstone xyz (data erased; stack us-east, grace period over on 2027-01-01)",
        "seed",
    ]);
    expect(commits(remote)[0].files).toEqual(["tenants.audit.jsonl"]);
    expect(lines(remoteFile(remote, "tenants.audit.jsonl")).map((l) => [l.tenant, l.action])).toEqual([
        ["old", "purge.deleted"],
        ["xyz", "purge.tombstoned"],
        ["xyz", "purge.deleted"],
    ]);
    // Nothing local and unpushed: the next writer opens the clone as it is.
    expect(git(purger, "status", "--porcelain")).toBe("");
    await expect(ManifestRepo.open(manifest)).resolves.toBeInstanceOf(ManifestRepo);
});

test("a push race: someone pushed a manifest change and an audit line first; the purge recomputes both on the new tip and keeps theirs", async () => {
    const { remote, purger, person } = setup();
    const manifest = path.join(purger, "tenants.yaml");
    const repo = await ManifestRepo.open(manifest);
    await repo.sync();
    // After the purger's last fetch: the person renames a tenant and appends a line of their own.
    const theirs = fs.readFileSync(path.join(person, "tenants.yaml"), "utf8").replace("name: Nordic", "name: Nordic Renamed");
    expect(theirs).toContain("Nordic Renamed");
    fs.writeFileSync(path.join(person, "tenants.yaml"), theirs);
    fs.appendFileSync(path.join(person, "tenants.audit.jsonl"), '{"action":"purge.deleted","tenant":"other"}\n');
    git(person, "-c", "user.name=P", "-c", "user.email=p@example.com", "commit", "--quiet", "-am", "person");
    git(person, "push", "--quiet", "origin", "HEAD:main");

    await removeTenantFromManifest(manifest, CTX, undefined, repo, record("purge.tombstoned", "2027-01-01T11:00:00.000Z"));
    expect(commits(remote).map((c) => c.subject)).toEqual([
        "tenantctl purge: tombstone xyz (data erased; stack us-east, grace period over on 2027-01-01)",
        "person",
        "seed",
    ]);
    expect(remoteFile(remote, "tenants.yaml")).toContain("name: Nordic Renamed");
    expect(lines(remoteFile(remote, "tenants.audit.jsonl")).map((l) => [l.tenant, l.action])).toEqual([
        ["old", "purge.deleted"],
        ["other", "purge.deleted"],
        ["xyz", "purge.tombstoned"],
    ]);
});

test("without git: the tombstone and the audit line are written to the files", async () => {
    const dir = tempDir("cv-purge-audit-plain-");
    const manifest = path.join(dir, "tenants.yaml");
    fs.writeFileSync(manifest, CANCELLED);
    await removeTenantFromManifest(manifest, CTX, undefined, undefined, record("purge.tombstoned", "2027-01-01T12:00:00.000Z"));
    await recordAudit(manifest, record("purge.deleted", "2027-01-01T12:05:00.000Z"));
    expect(/- id: xyz\n(?: {4}.*\n)*? {4}status: deleted\n/.test(fs.readFileSync(manifest, "utf8"))).toBe(true);
    expect(lines(fs.readFileSync(path.join(dir, "tenants.audit.jsonl"), "utf8"))).toEqual([
        record("purge.tombstoned", "2027-01-01T12:00:00.000Z"),
        record("purge.deleted", "2027-01-01T12:05:00.000Z"),
    ]);
});
