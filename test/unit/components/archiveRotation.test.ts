/**
 * The archive credential's rotation in the program (issue 12): what each
 * state of `rotations.<id>.archive` registers. Generation 0 must be exactly
 * what the program registered before the rotation existed (the fixture,
 * recorded at commit 5bc8952): same resources, URNs, options and inputs, so
 * an existing tenant's `up` changes nothing. The other states are checked
 * against values worked out by hand from the design (lib/rotation.ts): the
 * active slot's key always exists, the previous slot's only in the grace
 * window; the Secret (or the AWS secret version) names the active slot's key
 * and depends on it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { CredentialState } from "../../../lib/rotation";
import { PROJECT_DIR, T, recordComponent, synth, unwrapSecret, type RecordedRegistration, type SynthResource } from "../../support/synth";

jest.setTimeout(240_000);

const AT = "2026-12-01T10:00:00Z";
const STATES = {
    "generation 1, in its grace window": { generation: 1, rotatedAt: AT, retired: false },
    "generation 1, retired": { generation: 1, rotatedAt: AT, retired: true },
    "generation 2, in its grace window": { generation: 2, rotatedAt: AT, retired: false },
} satisfies Record<string, CredentialState>;
type Label = keyof typeof STATES;

const PARENT = "urn:pulumi:eu-west::tenant-platform::collectverything:tenant:Tenant$collectverything:tenant:TenantArchiveAccess";
const KEY = `${PARENT}$aws:iam/accessKey:AccessKey::abc-archive-key`;
const KEY_B = `${PARENT}$aws:iam/accessKey:AccessKey::abc-archive-key-b`;
const USER = `${PARENT}$aws:iam/user:User::abc-archive`;
const POLICY = `${PARENT}$aws:iam/userPolicy:UserPolicy::abc-archive-prefix`;
const REMOTE = "urn:pulumi:eu-west::tenant-platform::collectverything:tenant:TenantArchiveAccess$aws:secretsmanager/secret:Secret::abc-archive-credentials";

const ofArchive = (resources: readonly SynthResource[]) =>
    resources.filter((r) => r.tenant === "abc" && (r.urn.startsWith(`${PARENT}$`) || r.urn === `${PARENT}::abc`)).sort((x, y) => (x.urn < y.urn ? -1 : 1));

let generation0: SynthResource[];
const states = new Map<Label, SynthResource[]>();

beforeAll(async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "cv-archive-rotation-"));
    try {
        generation0 = ofArchive((await synth({ stack: "eu-west" })).resources);
        const base = fs.readFileSync(path.join(PROJECT_DIR, "tenants.yaml"), "utf8");
        if (/^rotations:/m.test(base)) throw new Error("tenants.yaml has a rotations: block; this test appends its own");
        for (const [label, s] of Object.entries(STATES) as [Label, CredentialState][]) {
            const file = path.join(work, `${label.replace(/\W+/g, "-")}.yaml`);
            fs.writeFileSync(
                file,
                `${base.trimEnd()}\nrotations:\n  abc:\n    archive: {generation: ${s.generation}, rotatedAt: "${s.rotatedAt}", retired: ${s.retired}}\n`,
            );
            states.set(label, ofArchive((await synth({ stack: "eu-west", manifest: file })).resources));
        }
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
}, 240_000);

describe("generation 0 (no entry): exactly what the program registered before the rotation", () => {
    test("the same resources, URNs, options and inputs as the fixture recorded at 5bc8952", () => {
        const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "archiveGeneration0.json"), "utf8")) as { resources: SynthResource[] };
        expect(generation0).toEqual(fixture.resources);
    });

    test("one key, abc-archive-key, {user: cv-archive-abc}, no other option than its dependency on the user", () => {
        const keys = generation0.filter((r) => r.type === T.AwsAccessKey);
        expect(keys.map((k) => [k.urn, k.inputs, k.options])).toEqual([[KEY, { user: "cv-archive-abc" }, { dependencies: [USER] }]]);
    });
});

const deps = (r: SynthResource) => [...(r.options.dependencies ?? [])].sort();

describe.each(Object.keys(STATES) as Label[])("%s", (label) => {
    // [keys that exist, the key the AWS secret version depends on]
    const EXPECTED: Record<Label, [string[], string]> = {
        "generation 1, in its grace window": [[KEY, KEY_B], KEY_B],
        "generation 1, retired": [[KEY_B], KEY_B],
        "generation 2, in its grace window": [[KEY, KEY_B], KEY],
    };

    test("which keys exist, each {user: cv-archive-abc} after the user, with no replacement option", () => {
        const keys = states.get(label)!.filter((r) => r.type === T.AwsAccessKey);
        expect(keys.map((k) => k.urn)).toEqual(EXPECTED[label][0]);
        for (const k of keys) expect([k.inputs, k.options]).toEqual([{ user: "cv-archive-abc" }, { dependencies: [USER] }]);
    });

    test("the AWS secret version depends on the active slot's key and the policy; the ExternalSecret on that version", () => {
        const version = states.get(label)!.find((r) => r.type === T.AwsSecretVersion)!;
        expect(deps(version)).toEqual([EXPECTED[label][1], POLICY, REMOTE].sort());
        const es = states.get(label)!.find((r) => r.type === T.ExternalSecret)!;
        expect(deps(es)).toEqual(deps(generation0.find((r) => r.type === T.ExternalSecret)!));
    });

    test("everything else is as at generation 0", () => {
        const others = (rs: readonly SynthResource[]) => rs.filter((r) => r.type !== T.AwsAccessKey && r.type !== T.AwsSecretVersion);
        expect(others(states.get(label)!)).toEqual(others(generation0));
    });
});

describe("what the Secret holds in each state (component mocks: a key's id is <name>-id, its secret generated-<name>)", () => {
    type Components = typeof import("../../../components");
    const record = (backend: "kubernetes" | "aws-secrets-manager", credentials?: CredentialState): Promise<RecordedRegistration[]> =>
        recordComponent(
            () => {
                const { TenantArchiveAccess } = require("../../../components") as Components;
                new TenantArchiveAccess("kiwi", {
                    tenantId: "kiwi",
                    bucket: "collectverything-archive-eu-west",
                    namespace: "e-commerce-client-kiwi",
                    credentialsBackend: backend,
                    credentials,
                });
            },
            (type, name, inputs) => (type === T.AwsAccessKey ? { ...inputs, secret: `generated-${name}` } : inputs),
        );
    const SLOT_A = { AWS_ACCESS_KEY_ID: "kiwi-archive-key-id", AWS_SECRET_ACCESS_KEY: "generated-kiwi-archive-key" };
    const SLOT_B = { AWS_ACCESS_KEY_ID: "kiwi-archive-key-b-id", AWS_SECRET_ACCESS_KEY: "generated-kiwi-archive-key-b" };
    const CASES: [string, CredentialState | undefined, string[], Record<string, string>][] = [
        ["generation 0", undefined, ["kiwi-archive-key"], SLOT_A],
        ["generation 1, grace", { generation: 1, rotatedAt: AT, retired: false }, ["kiwi-archive-key", "kiwi-archive-key-b"], SLOT_B],
        ["generation 1, retired", { generation: 1, rotatedAt: AT, retired: true }, ["kiwi-archive-key-b"], SLOT_B],
        ["generation 2, grace", { generation: 2, rotatedAt: AT, retired: false }, ["kiwi-archive-key", "kiwi-archive-key-b"], SLOT_A],
        ["generation 2, retired", { generation: 2, rotatedAt: AT, retired: true }, ["kiwi-archive-key"], SLOT_A],
        ["generation 3, grace", { generation: 3, rotatedAt: AT, retired: false }, ["kiwi-archive-key", "kiwi-archive-key-b"], SLOT_B],
    ];

    test.each(CASES)("kubernetes backend, %s: the keys and archive-credentials", async (_label, state, keys, data) => {
        const recorded = await record("kubernetes", state);
        expect(recorded.filter((r) => r.type === T.AwsAccessKey).map((r) => r.name)).toEqual(keys);
        const secrets = recorded.filter((r) => r.type === T.Secret);
        expect(secrets.map((s) => s.name)).toEqual(["kiwi-archive-credentials"]);
        expect(unwrapSecret(secrets[0].serialized.stringData)).toEqual(data);
    });

    test.each(CASES)("aws-secrets-manager backend, %s: the AWS secret version's string", async (_label, state, keys, data) => {
        const recorded = await record("aws-secrets-manager", state);
        expect(recorded.filter((r) => r.type === T.AwsAccessKey).map((r) => r.name)).toEqual(keys);
        const version = recorded.find((r) => r.type === T.AwsSecretVersion)!;
        expect(JSON.parse(unwrapSecret(version.serialized.secretString) as string)).toEqual(data);
    });
});
