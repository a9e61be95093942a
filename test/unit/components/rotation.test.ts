/**
 * Credential rotation in the components (issue 12): what each state of a
 * credential registers. Recorded with component mocks (test/support/synth.ts
 * `recordComponent`), where every RandomPassword's result is
 * `generated-<name>`, so the Secrets' values (which synth redacts) show which
 * slot's password and account they hand out.
 */
import { T, at, recordComponent, unwrapSecret, type RecordedRegistration } from "../../support/synth";
import type { CredentialState } from "../../../lib/rotation";

jest.setTimeout(120_000);

type Components = typeof import("../../../components");

function record(build: (c: Components) => void): Promise<RecordedRegistration[]> {
    return recordComponent(
        () => build(require("../../../components") as Components),
        (type, name, inputs) => (type === T.RandomPassword ? { ...inputs, result: `generated-${name}` } : inputs),
    );
}

const named = (recorded: readonly RecordedRegistration[], type: string, name: string) => {
    const found = recorded.filter((r) => r.type === type && r.name === name);
    if (found.length !== 1) throw new Error(`expected one ${type} ${name}, found ${found.length}`);
    return found[0];
};
const keepersOf = (recorded: readonly RecordedRegistration[], name: string) => named(recorded, T.RandomPassword, name).serialized.keepers;
const stringData = (r: RecordedRegistration) => unwrapSecret(r.serialized.stringData) as Record<string, unknown>;

const AT = "2026-12-01T10:00:00Z";
const STATES: Record<string, CredentialState | undefined> = {
    "generation 0 (no entry)": undefined,
    "generation 1, in its grace window": { generation: 1, rotatedAt: AT, retired: false },
    "generation 1, retired": { generation: 1, rotatedAt: AT, retired: true },
    "generation 2, in its grace window": { generation: 2, rotatedAt: AT, retired: false },
    "generation 2, retired": { generation: 2, rotatedAt: AT, retired: true },
};

// Expected by hand from the design (lib/rotation.ts): [active slot, keepers of slot a, keepers of slot b].
const EXPECTED: Record<string, [string, unknown, unknown]> = {
    "generation 0 (no entry)": ["a", undefined, undefined],
    "generation 1, in its grace window": ["b", undefined, { generation: "1" }],
    "generation 1, retired": ["b", { retired: "1" }, { generation: "1" }],
    "generation 2, in its grace window": ["a", { generation: "2" }, { generation: "1" }],
    "generation 2, retired": ["a", { generation: "2" }, { retired: "2" }],
};

describe.each(Object.keys(STATES))("TenantDatabase (kubernetes backend), auth at %s", (label) => {
    let recorded: RecordedRegistration[];
    beforeAll(async () => {
        const state = STATES[label];
        recorded = await record(
            ({ TenantDatabase }) =>
                new TenantDatabase("kiwi", {
                    tenantId: "kiwi",
                    namespace: "e-commerce-client-kiwi",
                    services: ["auth"],
                    credentials: state ? { auth: state } : undefined,
                }),
        );
    });

    test("the keepers of each slot's password, and the Secret names the active slot's account with that account's password", () => {
        const [active, a, b] = EXPECTED[label];
        expect(keepersOf(recorded, "kiwi-auth-db-password")).toEqual(a);
        expect(keepersOf(recorded, "kiwi-auth-db-password-b")).toEqual(b);
        const secret = named(recorded, T.Secret, "kiwi-auth-db-credentials");
        expect(stringData(secret)).toMatchObject(
            active === "a"
                ? { DB_USERNAME: "client_kiwi_auth_user", DB_PASSWORD: "generated-kiwi-auth-db-password" }
                : { DB_USERNAME: "client_kiwi_auth_usrb", DB_PASSWORD: "generated-kiwi-auth-db-password-b" },
        );
    });

    test("both accounts exist, each granted the database, whatever the state", () => {
        expect(
            recorded
                .filter((r) => r.type === T.MysqlUser)
                .map((r) => r.serialized.user)
                .sort(),
        ).toEqual(["client_kiwi_auth_user", "client_kiwi_auth_usrb"]);
        expect(
            recorded
                .filter((r) => r.type === T.MysqlGrant)
                .map((r) => r.serialized.user)
                .sort(),
        ).toEqual(["client_kiwi_auth_user", "client_kiwi_auth_usrb"]);
    });
});

describe("TenantDatabase (aws-secrets-manager backend) after a switch", () => {
    let recorded: RecordedRegistration[];
    beforeAll(async () => {
        recorded = await record(
            ({ TenantDatabase }) =>
                new TenantDatabase("kiwi", {
                    tenantId: "kiwi",
                    namespace: "e-commerce-client-kiwi",
                    services: ["auth"],
                    credentialsBackend: "aws-secrets-manager",
                    credentials: { auth: { generation: 1, rotatedAt: AT, retired: false } },
                }),
        );
    });

    test("one AWS secret per slot, each holding its own slot's password", () => {
        expect(named(recorded, "aws:secretsmanager/secret:Secret", "kiwi-auth-db-password").serialized.name).toBe("/e-commerce/client-kiwi/auth-db-password");
        expect(named(recorded, "aws:secretsmanager/secret:Secret", "kiwi-auth-db-password-b").serialized.name).toBe(
            "/e-commerce/client-kiwi/auth-db-password-b",
        );
        expect(unwrapSecret(named(recorded, "aws:secretsmanager/secretVersion:SecretVersion", "kiwi-auth-db-password").serialized.secretString)).toBe(
            "generated-kiwi-auth-db-password",
        );
        expect(unwrapSecret(named(recorded, "aws:secretsmanager/secretVersion:SecretVersion", "kiwi-auth-db-password-b").serialized.secretString)).toBe(
            "generated-kiwi-auth-db-password-b",
        );
    });

    test("the ExternalSecret names slot b's account and slot b's AWS secret in one object", () => {
        const es = named(recorded, T.ExternalSecret, "kiwi-auth-db-credentials").serialized;
        expect(at(es, "spec", "target", "template", "data", "DB_USERNAME")).toBe("client_kiwi_auth_usrb");
        expect(at(es, "spec", "data")).toEqual([{ secretKey: "password", remoteRef: { key: "/e-commerce/client-kiwi/auth-db-password-b" } }]);
    });
});

describe("TenantVhost and TenantBucket after a switch (generation 1, in the grace window)", () => {
    const state: CredentialState = { generation: 1, rotatedAt: AT, retired: false };
    let vhost: RecordedRegistration[];
    let bucket: RecordedRegistration[];
    beforeAll(async () => {
        vhost = await record(({ TenantVhost }) => new TenantVhost("kiwi", { tenantId: "kiwi", namespace: "e-commerce-client-kiwi", credentials: state }));
        bucket = await record(({ TenantBucket }) => new TenantBucket("kiwi", { tenantId: "kiwi", namespace: "e-commerce-client-kiwi", credentials: state }));
    });

    test("RabbitMQ: two users with permissions on the vhost; the Secret (and its URL) names client-kiwi-app-b with slot b's password", () => {
        expect(
            vhost
                .filter((r) => r.type === T.Permissions)
                .map((r) => r.serialized.user)
                .sort(),
        ).toEqual(["client-kiwi-app", "client-kiwi-app-b"]);
        expect(keepersOf(vhost, "kiwi-amqp-password")).toBeUndefined();
        expect(keepersOf(vhost, "kiwi-amqp-password-b")).toEqual({ generation: "1" });
        expect(stringData(named(vhost, T.Secret, "kiwi-amqp-credentials"))).toMatchObject({
            AMQP_USERNAME: "client-kiwi-app-b",
            AMQP_PASSWORD: "generated-kiwi-amqp-password-b",
            AMQP_URL: "amqp://client-kiwi-app-b:generated-kiwi-amqp-password-b@rabbitmq.e-commerce-shared.svc.cluster.local:5672/%2Fclient-kiwi",
        });
    });

    test("object store: two users with the policy attached; the Secret names client-kiwi-app-b with slot b's key", () => {
        expect(
            bucket
                .filter((r) => r.type === T.IamUserPolicyAttachment && r.serialized.policyName === "client-kiwi-app-objects")
                .map((r) => r.serialized.userName)
                .sort(),
        ).toEqual(["client-kiwi-app", "client-kiwi-app-b"]);
        expect(keepersOf(bucket, "kiwi-app-secret-b")).toEqual({ generation: "1" });
        expect(stringData(named(bucket, T.Secret, "kiwi-storage-credentials"))).toMatchObject({
            S3_ACCESS_KEY_ID: "client-kiwi-app-b",
            S3_SECRET_ACCESS_KEY: "generated-kiwi-app-secret-b",
        });
    });
});
