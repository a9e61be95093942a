/**
 * Test access to the synth recorder (cli/synth.ts) and queries over its result.
 *
 * The Pulumi runtime is a process-wide singleton and `synthesize` evaluates
 * index.ts with `require`, which jest caches: a second call in the same test
 * file would find index.ts already evaluated and record nothing. `synth`
 * therefore resets jest's module registry first, so every call loads a fresh
 * copy of the program and of the Pulumi SDK (its runtime state is reset by
 * `setMocks`). Call it from `beforeAll`, at most once per variant.
 */
import * as path from "node:path";
import type { SynthOptions, SynthResource, SynthResult } from "../../core/synth";

export type { SynthResource, SynthResult } from "../../core/synth";

export const PROJECT_DIR = path.resolve(__dirname, "../..");

/** Generous: a synth of a region takes 2-4 s on a 2-core machine, more under a loaded CI. */
export const SYNTH_TIMEOUT_MS = 120_000;

type SynthModule = typeof import("../../core/synth");

/**
 * The program `synthesize` evaluates (it `require`s index.ts by path). A type
 * only, so nothing is loaded; it records the dependency where jest's
 * related-test search (`--findRelatedTests`, which Stryker uses per mutant)
 * can see it, so a change to a component selects the tests that synthesize it.
 */
export type Program = typeof import("../../index");

/** A fresh copy of cli/synth.ts (and, through it, of the Pulumi SDK and the program). */
export function freshSynthModule(): SynthModule {
    jest.resetModules();
    return require("../../core/synth") as SynthModule;
}

/**
 * Evaluates the program for a stack under the recording mocks. The program
 * sets `Error.stackTraceLimit = 0` (lean stack traces); the jest process gets
 * its own limit back afterwards so failures stay readable.
 */
export async function synth(options: SynthOptions): Promise<SynthResult> {
    const limit = Error.stackTraceLimit;
    try {
        const result = await freshSynthModule().synthesize(options);
        if (result.resources.length === 0) {
            throw new Error(`synth of ${options.stack} recorded no resource: was index.ts evaluated twice from the same module registry?`);
        }
        return result;
    } finally {
        Error.stackTraceLimit = limit;
    }
}

/** Resource type tokens, as the engine sees them. */
export const T = {
    Tenant: "collectverything:tenant:Tenant",
    TenantNamespace: "collectverything:tenant:TenantNamespace",
    TenantDatabase: "collectverything:tenant:TenantDatabase",
    TenantBucket: "collectverything:tenant:TenantBucket",
    TenantVhost: "collectverything:tenant:TenantVhost",
    TenantIngress: "collectverything:tenant:TenantIngress",
    TenantArchiveAccess: "collectverything:tenant:TenantArchiveAccess",
    SharedRegion: "collectverything:tenant:SharedRegion",
    Namespace: "kubernetes:core/v1:Namespace",
    ResourceQuota: "kubernetes:core/v1:ResourceQuota",
    LimitRange: "kubernetes:core/v1:LimitRange",
    NetworkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    Role: "kubernetes:rbac.authorization.k8s.io/v1:Role",
    RoleBinding: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    ServiceAccount: "kubernetes:core/v1:ServiceAccount",
    HPA: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    PVC: "kubernetes:core/v1:PersistentVolumeClaim",
    CronJob: "kubernetes:batch/v1:CronJob",
    Job: "kubernetes:batch/v1:Job",
    Secret: "kubernetes:core/v1:Secret",
    Ingress: "kubernetes:networking.k8s.io/v1:Ingress",
    ExternalSecret: "kubernetes:external-secrets.io/v1:ExternalSecret",
    ClusterSecretStore: "kubernetes:external-secrets.io/v1:ClusterSecretStore",
    RandomPassword: "random:index/randomPassword:RandomPassword",
    MysqlDatabase: "mysql:index/database:Database",
    MysqlUser: "mysql:index/user:User",
    MysqlGrant: "mysql:index/grant:Grant",
    AwsSecret: "aws:secretsmanager/secret:Secret",
    AwsSecretVersion: "aws:secretsmanager/secretVersion:SecretVersion",
    AwsIamUser: "aws:iam/user:User",
    AwsIamUserPolicy: "aws:iam/userPolicy:UserPolicy",
    AwsAccessKey: "aws:iam/accessKey:AccessKey",
    S3Bucket: "minio:index/s3Bucket:S3Bucket",
    IamUser: "minio:index/iamUser:IamUser",
    IamPolicy: "minio:index/iamPolicy:IamPolicy",
    IamUserPolicyAttachment: "minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment",
    VHost: "rabbitmq:index/vHost:VHost",
    RabbitUser: "rabbitmq:index/user:User",
    Permissions: "rabbitmq:index/permissions:Permissions",
    Exchange: "rabbitmq:index/exchange:Exchange",
    Queue: "rabbitmq:index/queue:Queue",
    Binding: "rabbitmq:index/binding:Binding",
} as const;

/** The component tokens the program defines, and nothing else. */
export const COMPONENT_TYPES = [
    T.Tenant,
    T.TenantNamespace,
    T.TenantDatabase,
    T.TenantBucket,
    T.TenantVhost,
    T.TenantIngress,
    T.TenantArchiveAccess,
    T.SharedRegion,
];

/** Resources that hold data: deleting one loses it, so each must be protected. */
export const DATA_TYPES = [T.MysqlDatabase, T.S3Bucket, T.VHost, T.Queue, T.PVC, T.Namespace];

export function ofTenant(result: SynthResult, tenant: string): SynthResource[] {
    return result.resources.filter((r) => r.tenant === tenant);
}

export function ofType(resources: readonly SynthResource[], type: string): SynthResource[] {
    return resources.filter((r) => r.type === type);
}

/** The single resource of a type (and logical name); fails naming what was found otherwise. */
export function one(resources: readonly SynthResource[], type: string, name?: string): SynthResource {
    const found = resources.filter((r) => r.type === type && (name === undefined || r.name === name));
    if (found.length !== 1) {
        throw new Error(`expected exactly one ${type}${name ? ` named ${name}` : ""}, found ${found.length}: ${found.map((r) => r.urn).join(", ")}`);
    }
    return found[0];
}

/** Number of resources per type. */
export function countByType(resources: readonly SynthResource[]): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
    return counts;
}

/** Resources keyed by URN. */
export function byUrn(resources: readonly SynthResource[]): Map<string, SynthResource> {
    return new Map(resources.map((r) => [r.urn, r]));
}

/** A nested input value, e.g. at(r.inputs, "spec", "jobTemplate", "spec"). */
export function at(value: unknown, ...keys: (string | number)[]): unknown {
    let cur = value;
    for (const key of keys) {
        if (cur === null || typeof cur !== "object") return undefined;
        cur = (cur as Record<string | number, unknown>)[key];
    }
    return cur;
}

/** Calls `visit` for every (key, value) pair anywhere inside `value`, with the key path. */
export function walk(value: unknown, visit: (key: string, v: unknown, path: string) => void, pathSoFar = ""): void {
    if (Array.isArray(value)) {
        value.forEach((v, i) => walk(v, visit, `${pathSoFar}[${i}]`));
    } else if (value !== null && typeof value === "object") {
        for (const [k, v] of Object.entries(value)) {
            const p = pathSoFar ? `${pathSoFar}.${k}` : k;
            visit(k, v, p);
            walk(v, visit, p);
        }
    }
}

/**
 * The physical name a resource is created under in its system, or undefined
 * for resources without one (components, passwords, attachments).
 */
export function physicalName(r: SynthResource): string | undefined {
    const i = r.inputs;
    const candidates = [at(i, "metadata", "name"), i.bucket, i.user, i.name, i.database];
    const name = candidates.find((c) => typeof c === "string");
    return name;
}

/** A registration as the engine receives it: inputs serialized, secrets still wrapped. */
export interface RecordedRegistration {
    readonly type: string;
    readonly name: string;
    readonly serialized: Record<string, unknown>;
}

/**
 * Records every resource a piece of component code registers, under mocks of
 * our own (a recorder on the mock monitor; `call` throws on anything not
 * mocked). Use it to see values the synth output redacts as a whole (the
 * Kubernetes SDK marks all of a Secret's stringData secret). `build` must
 * `require` the component itself: it runs after the registry reset, so the
 * component shares the freshly mocked Pulumi SDK.
 */
export async function recordComponent(
    build: () => void,
    newState: (type: string, name: string, inputs: Record<string, unknown>) => Record<string, unknown> = (_t, _n, inputs) => inputs,
): Promise<RecordedRegistration[]> {
    jest.resetModules();
    const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => ({ id: `${args.name}-id`, state: newState(args.type, args.name, args.inputs) }),
            call: (args) => {
                throw new Error(`unexpected provider function call ${args.token}`);
            },
        },
        "tenant-platform",
        "unit",
        false,
    );
    const recorded: RecordedRegistration[] = [];
    const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource: (req: RecordedRequest, cb: unknown) => unknown };
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, cb) => {
        recorded.push({ type: req.getType(), name: req.getName(), serialized: (req.getObject()?.toJavaScript() ?? {}) as Record<string, unknown> });
        return original(req, cb);
    };
    build();
    await pulumi.runtime.disconnect();
    return recorded;
}

/** Pulumi's wire markers (public constants of @pulumi/pulumi/runtime/rpc). */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Whether a serialized value is wrapped as a secret. */
export function isSerializedSecret(value: unknown): boolean {
    return value !== null && typeof value === "object" && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** The value inside a serialized secret (the value itself when it is not one). */
export function unwrapSecret(value: unknown): unknown {
    return isSerializedSecret(value) ? (value as { value: unknown }).value : value;
}

interface RecordedRequest {
    getType(): string;
    getName(): string;
    getObject(): { toJavaScript(): unknown } | undefined;
}
