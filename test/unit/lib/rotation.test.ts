/**
 * lib/rotation.ts: the rules of credential rotation, with values worked out
 * by hand from the design (two slots, a switch then a retirement, 90 days
 * between switches, 24 hours of grace).
 */
import { validateManifest } from "../../../lib/manifest";
import {
    activeSlot,
    applySteps,
    credentialAccount,
    credentialKeys,
    dueSteps,
    passwordKeepers,
    removeTenantRotations,
    retireProblems,
    retireStep,
    RotationRefused,
    switchStep,
    type CredentialState,
} from "../../../lib/rotation";

const T0 = "2026-12-01T10:00:00Z";
const at = (iso: string) => new Date(iso);

describe("slots and keepers", () => {
    test("each step changes exactly one slot's keepers: the switch the newly active slot's, the retirement the old one's", () => {
        // [generation, retired] -> [active, keepers a, keepers b]
        const rows: [number, boolean, string, unknown, unknown][] = [
            [0, true, "a", undefined, undefined],
            [1, false, "b", undefined, { generation: "1" }],
            [1, true, "b", { retired: "1" }, { generation: "1" }],
            [2, false, "a", { generation: "2" }, { generation: "1" }],
            [2, true, "a", { generation: "2" }, { retired: "2" }],
            [3, false, "b", { generation: "2" }, { generation: "3" }],
        ];
        for (const [generation, retired, active, a, b] of rows) {
            const s: CredentialState = { generation, rotatedAt: T0, retired };
            expect([activeSlot(s), passwordKeepers(s, "a"), passwordKeepers(s, "b")]).toEqual([active, a, b]);
        }
        expect(passwordKeepers(undefined, "a")).toBeUndefined();
    });

    test("credential keys: the services, then rabbitmq, storage and archive; only the enabled components' with features", () => {
        expect(credentialKeys(["auth", "orders"])).toEqual(["auth", "orders", "rabbitmq", "storage", "archive"]);
        expect(credentialKeys(["auth"], { databases: true, vhosts: false, buckets: false, archiveIdentity: true })).toEqual(["auth", "archive"]);
        expect(credentialKeys(["auth"], { databases: false, vhosts: true, buckets: false })).toEqual(["rabbitmq"]);
        expect(credentialKeys(["auth"], { databases: false, vhosts: false, buckets: false })).toEqual([]);
    });

    test("the account and Secret of each credential and slot", () => {
        expect(credentialAccount("abc", "auth", "b")).toEqual({ secret: "auth-db-credentials", usernameKey: "DB_USERNAME", user: "client_abc_auth_usrb" });
        expect(credentialAccount("abc", "rabbitmq", "a")).toEqual({ secret: "rabbitmq-credentials", usernameKey: "AMQP_USERNAME", user: "client-abc-app" });
        expect(credentialAccount("abc", "storage", "b")).toEqual({
            secret: "object-storage-credentials",
            usernameKey: "S3_ACCESS_KEY_ID",
            user: "client-abc-app-b",
        });
    });
});

describe("steps", () => {
    const initial: CredentialState = { generation: 0, rotatedAt: "2025-01-15T00:00:00Z", retired: true };
    const switched: CredentialState = { generation: 1, rotatedAt: T0, retired: false };

    test("a switch: next generation, now, not retired", () => {
        expect(switchStep("abc", "auth", initial, at("2026-12-01T10:00:00.123Z")).to).toEqual(switched);
    });

    test("a switch is refused while the previous one's old slot is live, naming the credential and the fix", () => {
        expect(() => switchStep("abc", "auth", switched, at("2026-12-01T12:00:00Z"))).toThrow(
            new RotationRefused(
                'tenant "abc" credential "auth": the previous rotation (generation 1, 2026-12-01T10:00:00Z) is in its grace window; its old slot is still live. Fix: retire it first (tenantctl rotate --tenant abc --service auth --retire, possible from 2026-12-02T10:00:00Z), then rotate again',
            ),
        );
    });

    test("a retirement: refused before the 24 h grace window ends, accepted at its end", () => {
        expect(() => retireStep("abc", "auth", switched, at("2026-12-02T09:59:59Z"))).toThrow(
            'tenant "abc" credential "auth": the grace window of the switch at 2026-12-01T10:00:00Z ends at 2026-12-02T10:00:00Z (24 h). Fix: retire after that time',
        );
        expect(retireStep("abc", "auth", switched, at("2026-12-02T10:00:00Z")).to).toEqual({ ...switched, retired: true });
        expect(() => retireStep("abc", "auth", initial, at("2026-12-02T10:00:00Z"))).toThrow("nothing to retire (generation 0 has no live old slot)");
    });

    test("due: a credential never rotated is due 90 days after the tenant's creation; a retirement 24 h after its switch", () => {
        const tenants = [{ id: "abc", createdDate: "2026-09-02" }];
        // 2026-09-02 + 90 days = 2026-12-01.
        expect(dueSteps(tenants, undefined, ["auth"], at("2026-11-30T23:59:59Z"))).toEqual([]);
        const due = dueSteps(tenants, undefined, ["auth"], at("2026-12-01T00:00:00Z"));
        expect(due.map((s) => [s.kind, s.credential, s.to.generation])).toEqual([
            ["switch", "auth", 1],
            ["switch", "rabbitmq", 1],
            ["switch", "storage", 1],
            ["switch", "archive", 1],
        ]);
        const rotations = { abc: { auth: switched } };
        expect(
            dueSteps(tenants, rotations, ["auth"], at("2026-12-02T10:00:00Z"), { databases: true, vhosts: false, buckets: false }).map((s) => s.kind),
        ).toEqual(["retire"]);
        // Retired on 2026-12-01: the next switch is 90 days after the switch, 2027-03-01T10:00:00Z.
        const retired = { abc: { auth: { ...switched, retired: true } } };
        const only = { databases: true, vhosts: false, buckets: false };
        expect(dueSteps(tenants, retired, ["auth"], at("2027-03-01T09:59:59Z"), only)).toEqual([]);
        expect(dueSteps(tenants, retired, ["auth"], at("2027-03-01T10:00:00Z"), only).map((s) => [s.kind, s.to.generation])).toEqual([["switch", 2]]);
    });
});

describe("the rotations: block of the manifest", () => {
    const base = [
        "# tenants",
        "tenants:",
        "  - id: abc",
        "    websiteId: 1",
        "    name: ABC",
        "    domain: client-abc.collectverything.com",
        "    customDomains: []",
        "    tier: standard",
        "    region: eu-west",
        "    billingId: sub_abc",
        "    costCenter: CC-1",
        "    department: retail",
        "    createdDate: 2025-01-15",
        "    status: active",
        "",
    ].join("\n");

    test("applySteps writes one flow map per credential, keeping the file as it was; removeTenantRotations takes it out again", () => {
        const step = switchStep("abc", "auth", { generation: 0, rotatedAt: "2025-01-15T00:00:00Z", retired: true }, at(T0));
        const next = applySteps(base, [step]);
        expect(next).toBe(`${base}rotations:\n  abc:\n    auth: {generation: 1, rotatedAt: "2026-12-01T10:00:00Z", retired: false}\n`);
        const parsed = validateManifest(next, "tenants.yaml");
        expect(parsed.ok && parsed.manifest.rotations).toEqual({ abc: { auth: { generation: 1, rotatedAt: T0, retired: false } } });
        expect(removeTenantRotations(next, "abc")).toBe(base);
    });

    test("the validator names the field and the fix for a bad entry, an unknown credential and an unknown tenant", () => {
        const bad = `${base}rotations:\n  abc:\n    auth: {generation: 0, rotatedAt: "2026-12-01", retired: false}\n    ftp: {generation: 1, rotatedAt: "${T0}", retired: true}\n  ghost:\n    auth: {generation: 1, rotatedAt: "${T0}", retired: true}\n`;
        const result = validateManifest(bad, "tenants.yaml");
        expect(result.ok).toBe(false);
        const issues = result.ok ? [] : result.issues;
        expect(issues.map((i) => [i.line, i.field, i.problem, i.fix])).toEqual([
            [17, "rotations.abc.auth", "invalid credential state", "let `tenantctl rotate` write this block; do not edit it by hand"],
            [18, "rotations.abc.ftp", "unknown credential", "remove rotations.abc.ftp"],
            [19, "rotations", "rotation state of a tenant that is not in the manifest", "remove rotations.ghost"],
        ]);
        expect(issues[1].allowed).toBe("auth, products, orders, rabbitmq, storage, archive");
    });
});

describe("retireProblems: what the cluster must say first", () => {
    const step = retireStep("abc", "rabbitmq", { generation: 1, rotatedAt: T0, retired: false }, at("2026-12-03T00:00:00Z"));
    const ns = "e-commerce-client-abc";

    test("the Secret must name the active account (external-secrets synced), and no pod may predate its change", () => {
        expect(
            retireProblems("abc", ns, step, {
                secretUser: "client-abc-app-b",
                secretChangedAt: "2026-12-01T10:00:05Z",
                pods: [{ name: "p1", startTime: "2026-12-01T10:01:00Z" }],
            }),
        ).toEqual([]);
        expect(retireProblems("abc", ns, step, { secretUser: "client-abc-app", secretChangedAt: "2026-11-01T00:00:00Z", pods: [] })).toEqual([
            "the Secret e-commerce-client-abc/rabbitmq-credentials still names client-abc-app, not the active account client-abc-app-b. Fix: wait for the Secret to be updated (aws-secrets-manager: external-secrets refreshes it), then retry",
        ]);
        expect(
            retireProblems("abc", ns, step, {
                secretUser: "client-abc-app-b",
                secretChangedAt: "2026-12-01T10:00:05Z",
                pods: [{ name: "old", startTime: "2026-12-01T09:00:00Z" }, { name: "new", startTime: "2026-12-01T11:00:00Z" }, { name: "pending" }],
            }),
        ).toEqual([
            "1 pod(s) in e-commerce-client-abc started before the Secret changed (2026-12-01T10:00:05Z) and may hold the old password: old. Fix: kubectl -n e-commerce-client-abc rollout restart deployment (tenantctl rotate does it after a switch), then retry",
        ]);
        expect(retireProblems("abc", ns, step, { pods: [] })).toEqual([
            "the Secret e-commerce-client-abc/rabbitmq-credentials is missing or has no AMQP_USERNAME",
        ]);
    });
});
