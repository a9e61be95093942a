/**
 * Contract test of the object-store credential's rotation (issue 12), as
 * test/contract/rotation.test.ts does for MariaDB and RabbitMQ.
 *
 * The credential is the tenant's MinIO app user in two slots
 * (client-<id>-app, client-<id>-app-b), each with its RandomPassword as
 * secret key, and the Secret object-storage-credentials naming the active
 * one. MinIO (AGPL) cannot run here; versitygw v1.8.0 with its internal IAM
 * has the same account model (an access key with a secret the operator sets,
 * changed in place: `versitygw admin create-user` / `update-user --secret`,
 * which is what the MinIO provider does with `mc admin user add`), so each
 * transition is applied to it: the program is synthesized for one tenant in
 * three states (before, switched, retired), every account whose secret
 * changed is updated first, then the Secret, written to the real Kubernetes
 * API of `make local-up`. The tenant's bucket grants both slot users the
 * app policy's object actions (a bucket policy: the internal IAM has no
 * identity policies; test/contract/archiveAccess.test.ts proves those).
 *
 * A client puts and gets an object every 100 ms with the credentials read
 * from the Secret each time: it must never fail; during the grace window the
 * old key still works, after the retirement it is refused. The control
 * writes the Secret 1 s before the account and does see failures.
 */
import { GetObjectCommand, PutBucketPolicyCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { SynthResource } from "../../core/synth";
import { ensureBucket, s3Client } from "../../core/objectStore";
import { BUCKET_CREDENTIALS_SECRET, bucketName } from "../../lib/naming";
import { STORAGE_CREDENTIAL, type CredentialState } from "../../lib/rotation";
import { input, readLocalEnv } from "../support/contract";
import { KubeClient } from "../support/k8s";
import { PasswordOracle, byName, declaredTenant, dependency, reconnectEvery100ms, rotationManifest, sleep } from "../support/rotationHarness";
import { REGION, createAccount, startVersitygw, updateSecret, type Instance } from "../support/versitygw";

jest.setTimeout(240_000);

const TENANT = "rots";
const NAMESPACE = "cv-contract-s3-rotation";
const BUCKET = bucketName(TENANT, "products");
const KEYS = { user: "S3_ACCESS_KEY_ID", password: "S3_SECRET_ACCESS_KEY" };

const T = {
    password: "random:index/randomPassword:RandomPassword",
    user: "minio:index/iamUser:IamUser",
    policy: "minio:index/iamPolicy:IamPolicy",
    attachment: "minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment",
    secret: "kubernetes:core/v1:Secret",
} as const;

let vgw: Instance;
let kube: KubeClient;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "cv-s3-rotation-"));

const manifest = (rotations?: CredentialState): string =>
    rotationManifest(
        { id: TENANT, websiteId: 9302, name: "Object store rotation contract tenant", region: "apac", billingId: "sub_contract_rots" },
        rotations && { [STORAGE_CREDENTIAL]: rotations },
    );

interface Credentials {
    readonly user: string;
    readonly password: string;
}

/** The app users' keys and what the Secret holds, in one state; and the app policy's object actions and resources. */
function resolve(resources: readonly SynthResource[], oracle: PasswordOracle) {
    const accounts = new Map<string, Credentials>();
    for (const u of resources.filter((r) => r.type === T.user && /-app(-b)?$/.test(input(r, "name")))) {
        accounts.set(input(u, "name"), { user: input(u, "name"), password: oracle.value(dependency(resources, u, T.password)) });
    }
    const secret = byName(resources, T.secret, `${TENANT}-storage-credentials`);
    // The Secret waits for its user and that user's policy attachment (checked here: dependency() fails otherwise).
    dependency(resources, secret, T.attachment);
    const user = input(dependency(resources, secret, T.user), "name");
    const policy = JSON.parse(input(byName(resources, T.policy, `${TENANT}-app-objects`), "policy")) as {
        Statement: { Action: string[]; Resource: string[] }[];
    };
    return { accounts, secret: { user, password: oracle.value(dependency(resources, secret, T.password)) }, policy };
}

async function writeSecret(c: Credentials): Promise<void> {
    await kube.putSecret(NAMESPACE, BUCKET_CREDENTIALS_SECRET, { [KEYS.user]: c.user, [KEYS.password]: c.password });
}

async function readSecret(): Promise<Credentials> {
    const d = await kube.secretData(NAMESPACE, BUCKET_CREDENTIALS_SECRET);
    return { user: d[KEYS.user], password: d[KEYS.password] };
}

/** What a shop's service does with the Secret's key: write an object and read it back. */
async function putAndGet(c: Credentials): Promise<void> {
    const s3 = s3Client({ endpoint: vgw.s3, region: REGION, accessKeyId: c.user, secretAccessKey: c.password });
    try {
        const body = `written at ${Date.now()}`;
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "catalog/rotation.txt", Body: body }));
        const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "catalog/rotation.txt" }));
        await got.Body?.transformToString();
    } finally {
        s3.destroy();
    }
}

/** One apply in the engine's order (the Secret depends on its user): changed accounts first, then the Secret if it changed. */
async function transition(
    before: ReturnType<typeof resolve>,
    after: ReturnType<typeof resolve>,
    control?: { secretFirstThenWaitMs: number },
): Promise<{ accounts: string[]; secret: boolean }> {
    const changed = { accounts: [] as string[], secret: false };
    const accounts = async () => {
        for (const [name, a] of after.accounts) {
            if (before.accounts.get(name)?.password === a.password) continue;
            await updateSecret(vgw, a.user, a.password);
            changed.accounts.push(name);
        }
    };
    const secret = async () => {
        if (before.secret.user === after.secret.user && before.secret.password === after.secret.password) return;
        await writeSecret(after.secret);
        changed.secret = true;
    };
    if (control) {
        await secret();
        await sleep(control.secretFirstThenWaitMs);
        await accounts();
    } else {
        await accounts();
        await secret();
    }
    return changed;
}

/** State 0 as the first `up` creates it: both slot users with their keys, the bucket granting both the app policy's actions, the Secret on slot a. */
async function create(r0: ReturnType<typeof resolve>): Promise<void> {
    for (const a of r0.accounts.values()) await createAccount(vgw, a.user, a.password);
    const root = s3Client({ endpoint: vgw.s3, region: REGION, ...vgw.root });
    await ensureBucket(root, BUCKET);
    const statement = r0.policy.Statement[0];
    const policy = {
        Version: "2012-10-17",
        Statement: [
            {
                Effect: "Allow",
                Principal: { AWS: [...r0.accounts.keys()] },
                Action: statement.Action,
                Resource: statement.Resource.filter((arn) => arn.startsWith(`arn:aws:s3:::${BUCKET}/`)),
            },
        ],
    };
    await root.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(policy) }));
    await writeSecret(r0.secret);
}

/** The HTTP status and error name of a refused put; a put that succeeds fails the test. */
async function refusal(c: Credentials): Promise<{ status?: number; name: string }> {
    try {
        await putAndGet(c);
    } catch (err) {
        return { status: (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, name: (err as Error).name };
    }
    throw new Error(`${c.user}: the put succeeded`);
}

beforeEach(async () => {
    vgw = await startVersitygw("internal");
});

afterEach(async () => {
    await vgw.stop();
});

beforeAll(async () => {
    const env = readLocalEnv();
    kube = new KubeClient(env.KUBECONFIG, env.CV_K8S_CONTEXT);
    const ns = await kube.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } });
    if (ns.status !== 201 && ns.status !== 409) throw new Error(`create namespace ${NAMESPACE} -> ${ns.status}`);
});

afterAll(async () => {
    if (kube) await kube.request("DELETE", `/api/v1/namespaces/${NAMESPACE}`);
    fs.rmSync(work, { recursive: true, force: true });
});

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

describe("rotation of the apac program's object-store credential, with a client writing and reading every 100 ms", () => {
    test("switch then retire: the client never fails; during the grace window the old key still works; afterwards it is refused", async () => {
        const switched: CredentialState = { generation: 1, rotatedAt: now(), retired: false };
        const [s0, s1, s2] = await Promise.all([
            declaredTenant(work, TENANT, "apac", manifest(), "s3-state0"),
            declaredTenant(work, TENANT, "apac", manifest(switched), "s3-state1"),
            declaredTenant(work, TENANT, "apac", manifest({ ...switched, retired: true }), "s3-state2"),
        ]);
        const oracle = new PasswordOracle();
        const [r0, r1, r2] = [resolve(s0, oracle), resolve(s1, oracle), resolve(s2, oracle)];
        expect([...r0.accounts.keys()].sort()).toEqual([`client-${TENANT}-app`, `client-${TENANT}-app-b`]);
        expect(r0.secret.user).toBe(`client-${TENANT}-app`);
        await create(r0);
        const old = r0.secret;

        const stop = { done: false };
        const client = reconnectEvery100ms(readSecret, putAndGet, stop);
        await sleep(1500);

        // 1. The switch: only slot b's key changes, then the Secret names slot b.
        const first = await transition(r0, r1);
        expect(first).toEqual({ accounts: [`client-${TENANT}-app-b`], secret: true });
        expect(r1.secret.user).toBe(`client-${TENANT}-app-b`);
        await sleep(1500);
        // The grace window: a pod started before the switch still works with the key it read then.
        await putAndGet(old);

        // 2. The retirement: only slot a's key changes; the Secret stays.
        const second = await transition(r1, r2);
        expect(second).toEqual({ accounts: [`client-${TENANT}-app`], secret: false });
        await sleep(1500);
        stop.done = true;
        const stats = await client;

        expect(await refusal(old)).toEqual({ status: 403, name: "SignatureDoesNotMatch" });
        process.stdout.write(`object-store rotation (apac, versitygw): client ${stats.connections} put+get rounds, ${stats.failures.length} failures\n`);
        expect(stats.failures).toEqual([]);
        expect(stats.connections).toBeGreaterThan(20);
    });
});

describe("the control: the same switch with the Secret written before the account (no dependsOn)", () => {
    test("the client does fail, so the rotation test can see failures", async () => {
        const switched: CredentialState = { generation: 1, rotatedAt: now(), retired: false };
        const [s0, s1] = await Promise.all([
            declaredTenant(work, TENANT, "apac", manifest(), "s3-control0"),
            declaredTenant(work, TENANT, "apac", manifest(switched), "s3-control1"),
        ]);
        const oracle = new PasswordOracle();
        const [r0, r1] = [resolve(s0, oracle), resolve(s1, oracle)];
        await create(r0);
        const stop = { done: false };
        const client = reconnectEvery100ms(readSecret, putAndGet, stop);
        await sleep(500);
        await transition(r0, r1, { secretFirstThenWaitMs: 1000 });
        await sleep(500);
        stop.done = true;
        const stats = await client;
        process.stdout.write(`object-store rotation control (Secret first): client ${stats.connections} rounds, ${stats.failures.length} failures\n`);
        expect(stats.failures.length).toBeGreaterThan(0);
        for (const f of stats.failures) expect(f).toMatch(/signature/i);
    });
});
