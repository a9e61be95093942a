/**
 * The archive credential's rotation rules (lib/rotation.ts, key `archive`):
 * two access keys of the tenant's one AWS IAM user. Expected values are
 * worked out by hand from the design: the active slot's key always exists,
 * the previous slot's only during the grace window, slot b's not before the
 * first switch; at most two keys (AWS's limit) in every state.
 */
import {
    archiveKeyExists,
    archiveKeyIdInState,
    archiveKeyResourceName,
    credentialAccount,
    dueSteps,
    retireProblems,
    retireStep,
    switchStep,
    type CredentialState,
} from "../../../lib/rotation";

const T0 = "2026-12-01T10:00:00Z";
const at = (iso: string) => new Date(iso);

describe("which slots have an access key", () => {
    const cases: [string, CredentialState | undefined, boolean, boolean][] = [
        ["generation 0 (no entry): slot a's one key, as every tenant has it", undefined, true, false],
        ["generation 0 as initialState", { generation: 0, rotatedAt: "2025-01-15T00:00:00Z", retired: true }, true, false],
        ["generation 1, grace window: both", { generation: 1, rotatedAt: T0, retired: false }, true, true],
        ["generation 1, retired: slot b only", { generation: 1, rotatedAt: T0, retired: true }, false, true],
        ["generation 2, grace window: both", { generation: 2, rotatedAt: T0, retired: false }, true, true],
        ["generation 2, retired: slot a only", { generation: 2, rotatedAt: T0, retired: true }, true, false],
        ["generation 3, retired: slot b only", { generation: 3, rotatedAt: T0, retired: true }, false, true],
    ];
    test.each(cases)("%s", (_label, state, a, b) => {
        expect([archiveKeyExists(state, "a"), archiveKeyExists(state, "b")]).toEqual([a, b]);
    });

    test("the keys' Pulumi names: slot a keeps the one key's name", () => {
        expect([archiveKeyResourceName("abc", "a"), archiveKeyResourceName("abc", "b")]).toEqual(["abc-archive-key", "abc-archive-key-b"]);
    });
});

describe("the Secret and the retirement checks", () => {
    const step = retireStep("abc", "archive", { generation: 1, rotatedAt: T0, retired: false }, at("2026-12-03T00:00:00Z"));
    const ns = "e-commerce-client-abc";

    test("the credential's Secret and key: archive-credentials, AWS_ACCESS_KEY_ID, of the user cv-archive-abc", () => {
        expect(credentialAccount("abc", "archive", "b")).toEqual({ secret: "archive-credentials", usernameKey: "AWS_ACCESS_KEY_ID", user: "cv-archive-abc" });
    });

    test("the Secret must name the active slot's access key id, from the stack's state", () => {
        const ok = { secretUser: "AKIAB", secretChangedAt: "2026-12-01T10:00:05Z", pods: [{ name: "backup-1", startTime: "2026-12-01T11:00:00Z" }] };
        expect(retireProblems("abc", ns, step, { ...ok, activeKeyId: "AKIAB" })).toEqual([]);
        expect(retireProblems("abc", ns, step, { ...ok, secretUser: "AKIAA", activeKeyId: "AKIAB" })).toEqual([
            "the Secret e-commerce-client-abc/archive-credentials still names AKIAA, not the active slot b's access key AKIAB. Fix: wait for the Secret to be updated (aws-secrets-manager: external-secrets refreshes it), then retry",
        ]);
        expect(retireProblems("abc", ns, step, ok)).toEqual([
            "the stack's state has no access key abc-archive-key-b (slot b of cv-archive-abc). Fix: run up (the switch creates it), then retry",
        ]);
        expect(
            retireProblems("abc", ns, step, { ...ok, activeKeyId: "AKIAB", pods: [{ name: "db-backup-29000000-x", startTime: "2026-12-01T02:00:00Z" }] }),
        ).toEqual([
            "1 pod(s) in e-commerce-client-abc started before the Secret changed (2026-12-01T10:00:05Z) and may hold the old password: db-backup-29000000-x. Fix: kubectl -n e-commerce-client-abc rollout restart deployment (tenantctl rotate does it after a switch), then retry",
        ]);
    });

    test("the active slot's key id is the AccessKey's id under the tenant's TenantArchiveAccess", () => {
        const urn = (name: string, parent = "TenantArchiveAccess") =>
            `urn:pulumi:eu-west::tenant-platform::collectverything:tenant:Tenant$collectverything:tenant:${parent}$aws:iam/accessKey:AccessKey::${name}`;
        const resources = [
            { urn: urn("abc-archive-key"), type: "aws:iam/accessKey:AccessKey", id: "AKIAA" },
            { urn: urn("abc-archive-key-b"), type: "aws:iam/accessKey:AccessKey", id: "AKIAB" },
            { urn: urn("abcd-archive-key-b"), type: "aws:iam/accessKey:AccessKey", id: "AKIAOTHER" },
            { urn: urn("ab-archive-key"), type: "aws:iam/accessKey:AccessKey", id: "AKIAAB" },
        ];
        expect(archiveKeyIdInState(resources, "abc", "a")).toBe("AKIAA");
        expect(archiveKeyIdInState(resources, "abc", "b")).toBe("AKIAB");
        expect(archiveKeyIdInState(resources, "ab", "b")).toBeUndefined();
        expect(archiveKeyIdInState([], "abc", "a")).toBeUndefined();
    });
});

describe("due dates with features.archiveIdentity", () => {
    const tenants = [{ id: "abc", createdDate: "2026-09-02" }];
    const archiveOnly = { databases: false, vhosts: false, buckets: false, archiveIdentity: true };

    test("never rotated: the first switch is due 90 days after createdDate (2026-09-02 + 90 d = 2026-12-01T00:00:00Z)", () => {
        expect(dueSteps(tenants, undefined, ["auth"], at("2026-11-30T23:59:59Z"), archiveOnly)).toEqual([]);
        const due = dueSteps(tenants, undefined, ["auth"], at("2026-12-01T00:00:00Z"), archiveOnly);
        expect(due.map((s) => [s.kind, s.tenant, s.credential, s.from.generation, s.to])).toEqual([
            ["switch", "abc", "archive", 0, { generation: 1, rotatedAt: "2026-12-01T00:00:00Z", retired: false }],
        ]);
    });

    test("the retirement 24 h after the switch, the next switch 90 days after it", () => {
        const switched = { abc: { archive: { generation: 1, rotatedAt: T0, retired: false } } };
        expect(dueSteps(tenants, switched, ["auth"], at("2026-12-02T09:59:59Z"), archiveOnly)).toEqual([]);
        expect(dueSteps(tenants, switched, ["auth"], at("2026-12-02T10:00:00Z"), archiveOnly).map((s) => [s.kind, s.to])).toEqual([
            ["retire", { generation: 1, rotatedAt: T0, retired: true }],
        ]);
        const retired = { abc: { archive: { generation: 1, rotatedAt: T0, retired: true } } };
        // 2026-12-01T10:00:00Z + 90 days = 2027-03-01T10:00:00Z.
        expect(dueSteps(tenants, retired, ["auth"], at("2027-03-01T09:59:59Z"), archiveOnly)).toEqual([]);
        expect(dueSteps(tenants, retired, ["auth"], at("2027-03-01T10:00:00Z"), archiveOnly).map((s) => [s.kind, s.to.generation])).toEqual([["switch", 2]]);
    });

    test("without features.archiveIdentity (apac: the operator's key), the archive is never due", () => {
        expect(dueSteps(tenants, undefined, ["auth"], at("2027-12-01T00:00:00Z"), { databases: false, vhosts: false, buckets: false })).toEqual([]);
    });

    test("a second switch before the retirement is refused: it would delete the key pods started before the first may hold", () => {
        expect(() => switchStep("abc", "archive", { generation: 1, rotatedAt: T0, retired: false }, at("2026-12-01T12:00:00Z"))).toThrow(
            'tenant "abc" credential "archive": the previous rotation (generation 1, 2026-12-01T10:00:00Z) is in its grace window; its old slot is still live.',
        );
    });
});
