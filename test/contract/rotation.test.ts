/**
 * Contract test of credential rotation (issue 12) against the real MariaDB,
 * RabbitMQ and Kubernetes API server of `make local-up`.
 *
 * The program is synthesized (in child processes: one Pulumi runtime each)
 * for one tenant in three states of the manifest's `rotations:` block:
 *   0. no entry: slot a active, the passwords every tenant had;
 *   1. a switch: generation 1, slot b active, slot a still live (grace window);
 *   2. the retirement: slot a's password replaced.
 * Each transition is applied as the engine would apply it: a RandomPassword
 * whose keepers changed gets a new value (the provider's replacement), then
 * every resource that depends on a changed one is updated in dependency
 * order, with the statements the Terraform providers send:
 *   ALTER USER '<user>'@'<host>' IDENTIFIED BY '<password>'   (mysql.User)
 *   PUT /api/users/<user> {password, tags}                    (rabbitmq.User)
 * and "the Secret" the pods read is written to the real Kubernetes API: the
 * rabbitmq-credentials Secret from the user and password it depends on; the
 * database Secret as external-secrets renders it (aws-secrets-manager
 * backend: the ExternalSecret's DB_USERNAME and the value of the AWS secret
 * its remoteRef names) or from its dependencies (kubernetes backend).
 *
 * Meanwhile two clients reconnect every 100 ms with the credentials read from
 * those Secrets: each must never get an authentication error, and after the
 * retirement the old password must be refused.
 */
import * as amqp from "amqplib";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as mysql from "mysql2/promise";
import type { SynthResource } from "../../core/synth";
import { databaseName, dbCredentialsSecretName, RABBITMQ_CREDENTIALS_SECRET, vhostName } from "../../lib/naming";
import { RABBITMQ_CREDENTIAL, type CredentialState } from "../../lib/rotation";
import { amqpHandshake } from "../support/contractAmqp";
import { input, localServices, readLocalEnv, type LocalServices } from "../support/contract";
import {
    PasswordOracle,
    byName,
    declaredTenant,
    dependency,
    reconnectEvery100ms,
    rotationManifest,
    sleep,
    typeAndName,
    type ClientStats,
} from "../support/rotationHarness";
import { KubeClient } from "../support/k8s";

jest.setTimeout(240_000);

const TENANT = "rotc";
const SERVICE = "auth";
const NAMESPACE = "cv-contract-rotation";

const T = {
    password: "random:index/randomPassword:RandomPassword",
    mysqlUser: "mysql:index/user:User",
    mysqlGrant: "mysql:index/grant:Grant",
    rabbitUser: "rabbitmq:index/user:User",
    permissions: "rabbitmq:index/permissions:Permissions",
    secret: "kubernetes:core/v1:Secret",
    externalSecret: "kubernetes:external-secrets.io/v1:ExternalSecret",
    awsSecret: "aws:secretsmanager/secret:Secret",
    awsVersion: "aws:secretsmanager/secretVersion:SecretVersion",
} as const;

let services: LocalServices;
let admin: mysql.Connection;
let kube: KubeClient;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "cv-rotation-"));

const quoteString = (value: string) => `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
const account = (user: string, host: string) => `${quoteString(user)}@${quoteString(host)}`;
const enc = encodeURIComponent;

const manifest = (region: string, rotations?: Record<string, CredentialState>): string =>
    rotationManifest({ id: TENANT, websiteId: 9301, name: "Rotation contract tenant", region, billingId: "sub_contract_rotc" }, rotations);

const declared = (stack: string, source: string, label: string): Promise<SynthResource[]> => declaredTenant(work, TENANT, stack, source, label);

interface Credentials {
    readonly user: string;
    readonly password: string;
}

/** What each declared account, and each Secret, holds in a state, given the password values. */
function resolve(resources: readonly SynthResource[], oracle: PasswordOracle) {
    const accounts = new Map<string, Credentials & { readonly type: string; readonly host?: string }>();
    // The auth service's two accounts (one service is enough here) and the RabbitMQ users.
    for (const u of resources.filter((r) => r.type === T.mysqlUser && input(r, "user").includes(`_${SERVICE}_`))) {
        accounts.set(u.urn, { type: u.type, user: input(u, "user"), host: input(u, "host"), password: oracle.value(dependency(resources, u, T.password)) });
    }
    for (const u of resources.filter((r) => r.type === T.rabbitUser)) {
        accounts.set(u.urn, { type: u.type, user: input(u, "name"), password: oracle.value(dependency(resources, u, T.password)) });
    }
    const dbSecretName = dbCredentialsSecretName(SERVICE);
    let db: Credentials;
    const es = resources.find((r) => r.type === T.externalSecret && r.name === `${TENANT}-${SERVICE}-db-credentials`);
    if (es) {
        // external-secrets renders the template: DB_USERNAME as written, DB_PASSWORD from the AWS secret remoteRef names.
        const spec = es.inputs.spec as { target: { template: { data: Record<string, string> } }; data: { remoteRef: { key: string } }[] };
        const remote = resources.find((r) => r.type === T.awsSecret && r.inputs.name === spec.data[0].remoteRef.key);
        if (!remote) throw new Error(`${es.urn}: remoteRef ${spec.data[0].remoteRef.key} names no declared AWS secret`);
        const version = resources.find((r) => r.type === T.awsVersion && (r.options.dependencies ?? []).map(typeAndName).includes(typeAndName(remote.urn)));
        if (!version) throw new Error(`${remote.urn}: no SecretVersion`);
        // The ExternalSecret waits for that version (a switch hands out a password only once stored).
        expect((es.options.dependencies ?? []).map(typeAndName)).toEqual(expect.arrayContaining([typeAndName(remote.urn), typeAndName(version.urn)]));
        db = { user: spec.target.template.data.DB_USERNAME, password: oracle.value(dependency(resources, version, T.password)) };
    } else {
        const secret = byName(resources, T.secret, `${TENANT}-${SERVICE}-db-credentials`);
        const user = dependency(resources, secret, T.mysqlUser);
        // The Secret waits for its account's user and grant.
        dependency(resources, secret, T.mysqlGrant);
        db = { user: input(user, "user"), password: oracle.value(dependency(resources, secret, T.password)) };
    }
    const amqpSecret = byName(resources, T.secret, `${TENANT}-amqp-credentials`);
    dependency(resources, amqpSecret, T.permissions);
    const amqpUser = dependency(resources, amqpSecret, T.rabbitUser);
    const rabbit = { user: input(amqpUser, "name"), password: oracle.value(dependency(resources, amqpSecret, T.password)) };
    return { accounts, secrets: { [dbSecretName]: db, [RABBITMQ_CREDENTIALS_SECRET]: rabbit } };
}

async function writeSecret(name: string, c: Credentials, keys: { user: string; password: string }): Promise<void> {
    await kube.putSecret(NAMESPACE, name, { [keys.user]: c.user, [keys.password]: c.password });
}

async function readSecret(name: string, keys: { user: string; password: string }): Promise<Credentials> {
    const d = await kube.secretData(NAMESPACE, name);
    return { user: d[keys.user], password: d[keys.password] };
}

const DB_KEYS = { user: "DB_USERNAME", password: "DB_PASSWORD" };
const AMQP_KEYS = { user: "AMQP_USERNAME", password: "AMQP_PASSWORD" };

async function mgmt(method: string, apiPath: string, body?: unknown): Promise<Response> {
    return fetch(`${services.rabbitmq.mgmtUrl}${apiPath}`, {
        method,
        headers: {
            authorization: `Basic ${Buffer.from(`${services.rabbitmq.user}:${services.rabbitmq.password}`).toString("base64")}`,
            "content-type": "application/json",
        },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
}

async function mgmtOk(method: string, apiPath: string, body?: unknown): Promise<void> {
    const res = await mgmt(method, apiPath, body);
    if (res.status >= 400) throw new Error(`${method} ${apiPath} -> ${res.status}`);
}

/** Applies one account as its provider creates (`create`) or updates it. */
async function applyAccount(a: Credentials & { type: string; host?: string }, create: boolean): Promise<void> {
    if (a.type === T.mysqlUser) {
        const verb = create ? "CREATE USER" : "ALTER USER";
        await admin.query(`${verb} ${account(a.user, a.host!)} IDENTIFIED BY ${quoteString(a.password)}`);
    } else {
        await mgmtOk("PUT", `/api/users/${enc(a.user)}`, { password: a.password, tags: "" });
    }
}

/**
 * One apply, as the engine orders it: changed accounts first (every Secret
 * depends on its account: checked in resolve), then the Secrets that changed.
 */
async function transition(
    before: ReturnType<typeof resolve>,
    after: ReturnType<typeof resolve>,
    control?: { secretsFirstThenWaitMs: number },
): Promise<{ accounts: string[]; secrets: string[] }> {
    const changed = { accounts: [] as string[], secrets: [] as string[] };
    const accounts = async () => {
        for (const [urn, a] of after.accounts) {
            if (before.accounts.get(urn)?.password === a.password) continue;
            await applyAccount(a, false);
            changed.accounts.push(a.user);
        }
    };
    const secrets = async () => {
        for (const [name, c] of Object.entries(after.secrets)) {
            const b = before.secrets[name];
            if (b.user === c.user && b.password === c.password) continue;
            await writeSecret(name, c, name === RABBITMQ_CREDENTIALS_SECRET ? AMQP_KEYS : DB_KEYS);
            changed.secrets.push(name);
        }
    };
    if (control) {
        // The control: what an apply without the Secret's dependsOn may do.
        await secrets();
        await sleep(control.secretsFirstThenWaitMs);
        await accounts();
    } else {
        await accounts();
        await secrets();
    }
    return changed;
}

/** Reconnects every 100 ms with the Secret's credentials until `stop` resolves. */
function client(connect: (c: Credentials) => Promise<void>, secret: string, keys: typeof DB_KEYS, stop: { done: boolean }): Promise<ClientStats> {
    return reconnectEvery100ms(() => readSecret(secret, keys), connect, stop);
}

async function mariadbLogin(c: Credentials, database: string): Promise<void> {
    const conn = await mysql.createConnection({ host: services.mysql.host, port: services.mysql.port, user: c.user, password: c.password, database });
    try {
        await conn.query("SELECT 1");
    } finally {
        await conn.end();
    }
}

async function amqpLogin(c: Credentials): Promise<void> {
    const conn = await amqp.connect({
        protocol: "amqp",
        hostname: services.rabbitmq.host,
        port: services.rabbitmq.amqpPort,
        username: c.user,
        password: c.password,
        vhost: vhostName(TENANT),
        heartbeat: 0,
    });
    conn.on("error", () => undefined);
    const ch = await conn.createChannel();
    await ch.close();
    await conn.close();
}

async function cleanup(): Promise<void> {
    const db = databaseName(TENANT, SERVICE);
    for (const user of [`client_${TENANT}_${SERVICE}_user`, `client_${TENANT}_${SERVICE}_usrb`]) await admin.query(`DROP USER IF EXISTS ${account(user, "%")}`);
    await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await mgmt("DELETE", `/api/vhosts/${enc(vhostName(TENANT))}`);
    for (const user of [`client-${TENANT}-app`, `client-${TENANT}-app-b`]) await mgmt("DELETE", `/api/users/${enc(user)}`);
    await kube.request("DELETE", `/api/v1/namespaces/${NAMESPACE}/secrets/${dbCredentialsSecretName(SERVICE)}`);
    await kube.request("DELETE", `/api/v1/namespaces/${NAMESPACE}/secrets/${RABBITMQ_CREDENTIALS_SECRET}`);
}

beforeAll(async () => {
    services = localServices();
    const env = readLocalEnv();
    kube = new KubeClient(env.KUBECONFIG, env.CV_K8S_CONTEXT);
    admin = await mysql.createConnection({
        host: services.mysql.host,
        port: services.mysql.port,
        user: services.mysql.user,
        password: services.mysql.password,
    });
    const ns = await kube.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } });
    if (ns.status !== 201 && ns.status !== 409) throw new Error(`create namespace ${NAMESPACE} -> ${ns.status}`);
    await cleanup();
});

afterAll(async () => {
    if (admin) {
        await cleanup();
        await admin.end();
    }
    if (kube) await kube.request("DELETE", `/api/v1/namespaces/${NAMESPACE}`);
    fs.rmSync(work, { recursive: true, force: true });
});

// eu-west delivers database credentials through AWS Secrets Manager and an ExternalSecret, apac as a Kubernetes Secret.
describe.each([["eu-west"], ["apac"]])("rotation of the %s program's credentials, with clients reconnecting every 100 ms", (stack) => {
    test("switch then retire: no client ever gets an authentication error; during the grace window the old password still works; afterwards it is refused", async () => {
        const rotatedAt = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
        const switched: CredentialState = { generation: 1, rotatedAt, retired: false };
        const retired: CredentialState = { ...switched, retired: true };
        const [s0, s1, s2] = await Promise.all([
            declared(stack, manifest(stack), "state0"),
            declared(stack, manifest(stack, { [SERVICE]: switched, [RABBITMQ_CREDENTIAL]: switched }), "state1"),
            declared(stack, manifest(stack, { [SERVICE]: retired, [RABBITMQ_CREDENTIAL]: retired }), "state2"),
        ]);
        const oracle = new PasswordOracle();
        const r0 = resolve(s0, oracle);
        const r1 = resolve(s1, oracle);
        const r2 = resolve(s2, oracle);
        const dbSecret = dbCredentialsSecretName(SERVICE);

        // State 0, as the first `up` creates it: both slots exist; the Secrets name slot a.
        expect(r0.secrets[dbSecret].user).toBe(`client_${TENANT}_${SERVICE}_user`);
        expect(r0.secrets[RABBITMQ_CREDENTIALS_SECRET].user).toBe(`client-${TENANT}-app`);
        const db = databaseName(TENANT, SERVICE);
        await admin.query(`CREATE DATABASE \`${db}\``);
        await mgmtOk("PUT", `/api/vhosts/${enc(vhostName(TENANT))}`, {});
        for (const a of r0.accounts.values()) {
            await applyAccount(a, true);
            if (a.type === T.mysqlUser) await admin.query(`GRANT SELECT ON \`${db}\`.* TO ${account(a.user, a.host!)}`);
            else await mgmtOk("PUT", `/api/permissions/${enc(vhostName(TENANT))}/${enc(a.user)}`, { configure: ".*", write: ".*", read: ".*" });
        }
        await writeSecret(dbSecret, r0.secrets[dbSecret], DB_KEYS);
        await writeSecret(RABBITMQ_CREDENTIALS_SECRET, r0.secrets[RABBITMQ_CREDENTIALS_SECRET], AMQP_KEYS);
        const oldDb = r0.secrets[dbSecret];
        const oldAmqp = r0.secrets[RABBITMQ_CREDENTIALS_SECRET];

        const stop = { done: false };
        const clients = Promise.all([
            client((c) => mariadbLogin(c, db), dbSecret, DB_KEYS, stop),
            client((c) => amqpLogin(c), RABBITMQ_CREDENTIALS_SECRET, AMQP_KEYS, stop),
        ]);
        await sleep(1500);

        // 1. The switch: only slot b's accounts change, then the Secrets name slot b.
        const first = await transition(r0, r1);
        expect(first.accounts.sort()).toEqual([`client-${TENANT}-app-b`, `client_${TENANT}_${SERVICE}_usrb`]);
        expect(first.secrets.sort()).toEqual([dbSecret, RABBITMQ_CREDENTIALS_SECRET].sort());
        expect(r1.secrets[dbSecret].user).toBe(`client_${TENANT}_${SERVICE}_usrb`);
        expect(r1.secrets[RABBITMQ_CREDENTIALS_SECRET].user).toBe(`client-${TENANT}-app-b`);
        await sleep(1500);
        // The grace window: a pod started before the switch still logs in with what it read then.
        await mariadbLogin(oldDb, db);
        expect(await amqpHandshake({ ...services.rabbitmq, port: services.rabbitmq.amqpPort, ...oldAmqp, vhost: vhostName(TENANT) })).toEqual({
            outcome: "opened",
        });

        // 2. The retirement: only slot a's accounts change; the Secrets stay as they are.
        const second = await transition(r1, r2);
        expect(second.accounts.sort()).toEqual([`client-${TENANT}-app`, `client_${TENANT}_${SERVICE}_user`]);
        expect(second.secrets).toEqual([]);
        await sleep(1500);
        stop.done = true;
        const [dbStats, amqpStats] = await clients;

        // The old passwords are refused now.
        const refused = await mariadbLogin(oldDb, db).then(
            () => undefined,
            (err: unknown) => err as { errno?: number; code?: string },
        );
        expect(refused).toMatchObject({ errno: 1045, code: "ER_ACCESS_DENIED_ERROR" });
        expect(await amqpHandshake({ ...services.rabbitmq, port: services.rabbitmq.amqpPort, ...oldAmqp, vhost: vhostName(TENANT) })).toMatchObject({
            outcome: "closed",
            after: "start-ok",
            replyCode: 403,
        });

        process.stdout.write(
            `rotation (${stack}): MariaDB client ${dbStats.connections} connections, ${dbStats.failures.length} failures; RabbitMQ client ${amqpStats.connections} connections, ${amqpStats.failures.length} failures\n`,
        );
        expect(dbStats.failures).toEqual([]);
        expect(amqpStats.failures).toEqual([]);
        // About 4.5 s of reconnecting every 100 ms, with the Secret read each time.
        expect(dbStats.connections).toBeGreaterThan(20);
        expect(amqpStats.connections).toBeGreaterThan(20);
        await cleanup();
    });
});

describe("the control: the same switch with the Secret written before the account (no dependsOn)", () => {
    test("the client does get authentication errors, so the rotation test can see them", async () => {
        const stack = "apac";
        const switched: CredentialState = { generation: 1, rotatedAt: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"), retired: false };
        const [s0, s1] = await Promise.all([
            declared(stack, manifest(stack), "control0"),
            declared(stack, manifest(stack, { [SERVICE]: switched, [RABBITMQ_CREDENTIAL]: switched }), "control1"),
        ]);
        const oracle = new PasswordOracle();
        const r0 = resolve(s0, oracle);
        const r1 = resolve(s1, oracle);
        const dbSecret = dbCredentialsSecretName(SERVICE);
        const db = databaseName(TENANT, SERVICE);
        await admin.query(`CREATE DATABASE \`${db}\``);
        await mgmtOk("PUT", `/api/vhosts/${enc(vhostName(TENANT))}`, {});
        for (const a of r0.accounts.values()) {
            await applyAccount(a, true);
            if (a.type === T.mysqlUser) await admin.query(`GRANT SELECT ON \`${db}\`.* TO ${account(a.user, a.host!)}`);
            else await mgmtOk("PUT", `/api/permissions/${enc(vhostName(TENANT))}/${enc(a.user)}`, { configure: ".*", write: ".*", read: ".*" });
        }
        await writeSecret(dbSecret, r0.secrets[dbSecret], DB_KEYS);
        await writeSecret(RABBITMQ_CREDENTIALS_SECRET, r0.secrets[RABBITMQ_CREDENTIALS_SECRET], AMQP_KEYS);
        const stop = { done: false };
        const clients = Promise.all([
            client((c) => mariadbLogin(c, db), dbSecret, DB_KEYS, stop),
            client((c) => amqpLogin(c), RABBITMQ_CREDENTIALS_SECRET, AMQP_KEYS, stop),
        ]);
        await sleep(500);
        await transition(r0, r1, { secretsFirstThenWaitMs: 1000 });
        await sleep(500);
        stop.done = true;
        const [dbStats, amqpStats] = await clients;
        process.stdout.write(
            `rotation control (Secret first): MariaDB client ${dbStats.connections} connections, ${dbStats.failures.length} failures; RabbitMQ client ${amqpStats.connections} connections, ${amqpStats.failures.length} failures\n`,
        );
        expect(dbStats.failures.length).toBeGreaterThan(0);
        for (const f of dbStats.failures) expect(f).toMatch(/^Access denied for user 'client_rotc_auth_usrb'/);
        expect(amqpStats.failures.length).toBeGreaterThan(0);
        for (const f of amqpStats.failures) expect(f).toMatch(/ACCESS[-_]REFUSED/);
        await cleanup();
    });
});
