/**
 * The policy pack's view of a stack: plain resources, whoever produced them
 * (the Pulumi engine through @pulumi/policy, or the offline synth recorder).
 *
 * Every rule is a pure function from `Subject[]` (plus a context) to
 * violations. Nothing here imports Pulumi, so the rules are tested with plain
 * tables and the same functions run inside the pack and over a synth.
 */
import { namespaceName, tenantSlug } from "../lib/naming";
import { TENANT_TYPE } from "../lib/tokens";

/** One resource as a rule sees it. */
export interface Subject {
    /** Type token, e.g. `kubernetes:core/v1:Namespace`. */
    readonly type: string;
    readonly urn: string;
    /** The resource's logical name. */
    readonly name: string;
    /** Inputs (resource policies, preview) or outputs (stack policies): plain JSON; unknowns are UNKNOWN-like sentinels. */
    readonly props: Record<string, unknown>;
    /** The `protect` resource option. */
    readonly protect: boolean;
    /** URN of the parent resource, if any. */
    readonly parent?: string;
    /**
     * Property paths (dot-separated, e.g. `stringData` or `stringData.DB_PASSWORD`)
     * whose values are Pulumi secrets. A value is secret when its path or any
     * prefix of it is listed.
     */
    readonly secretPaths?: ReadonlySet<string>;
}

export interface Violation {
    /** The policy's name. */
    readonly policy: string;
    /** The resource in violation; undefined for the stack as a whole. */
    readonly urn?: string;
    readonly message: string;
}

/** The stack a rule checks. */
export interface RuleContext {
    /** The stack's region (eu-west, us-east, apac); undefined when it could not be determined. */
    readonly region?: string;
    /** Region of every tenant in the manifest, by tenant id; undefined when no manifest was read. */
    readonly manifestRegions?: ReadonlyMap<string, string>;
    /** Where the manifest came from, for messages. */
    readonly manifestFile?: string;
}

/** A pure rule over the whole stack. */
export interface Rule {
    readonly name: string;
    readonly description: string;
    readonly check: (subjects: readonly Subject[], ctx: RuleContext) => Violation[];
}

/** Unknown-value sentinels: the engine's (preview) and the synth recorder's. */
const UNKNOWN_SENTINELS = new Set([
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "030794c1-ac77-496b-92df-f27374a8bd58",
    "e48ece36-62e2-4504-bad9-02848725956a",
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    "[computed]",
]);

/** True for a value that is not known yet (a preview of a value another resource computes). */
export function isUnknown(value: unknown): boolean {
    return typeof value === "string" && UNKNOWN_SENTINELS.has(value);
}

/** The synth recorder's placeholder for a secret value. */
export const SYNTH_SECRET = "[secret]";

export const TENANT_COMPONENT = TENANT_TYPE;
export const TENANT_NAMESPACE_PREFIX = namespaceName("");

export const K8S = {
    namespace: "kubernetes:core/v1:Namespace",
    resourceQuota: "kubernetes:core/v1:ResourceQuota",
    limitRange: "kubernetes:core/v1:LimitRange",
    networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    secret: "kubernetes:core/v1:Secret",
    pvc: "kubernetes:core/v1:PersistentVolumeClaim",
} as const;

export const DATA = {
    mysqlDatabase: "mysql:index/database:Database",
    mysqlGrant: "mysql:index/grant:Grant",
    minioBucket: "minio:index/s3Bucket:S3Bucket",
    minioBucketPolicy: "minio:index/s3BucketPolicy:S3BucketPolicy",
    minioIamPolicy: "minio:index/iamPolicy:IamPolicy",
    minioIamGroupPolicy: "minio:index/iamGroupPolicy:IamGroupPolicy",
    minioUserPolicyAttachment: "minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment",
    rabbitVhost: "rabbitmq:index/vHost:VHost",
    rabbitQueue: "rabbitmq:index/queue:Queue",
    rabbitPermissions: "rabbitmq:index/permissions:Permissions",
    rabbitTopicPermissions: "rabbitmq:index/topicPermissions:TopicPermissions",
} as const;

/** A plain object, or undefined. */
export function obj(value: unknown): Record<string, unknown> | undefined {
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** A known string, or undefined (missing or unknown). */
export function str(value: unknown): string | undefined {
    return typeof value === "string" && !isUnknown(value) ? value : undefined;
}

export function arr(value: unknown): unknown[] {
    return Array.isArray(value) ? value : [];
}

export function metadata(s: Subject): Record<string, unknown> {
    return obj(s.props.metadata) ?? {};
}

/** The resource's Kubernetes labels, or its tags for resources that carry tags. */
export function labelsOf(s: Subject): Record<string, unknown> | undefined {
    return obj(metadata(s).labels) ?? obj(s.props.tags);
}

export function isKubernetes(s: Subject): boolean {
    return s.type.startsWith("kubernetes:") && !s.type.startsWith("pulumi:providers:");
}

/** The tenant id a namespace name belongs to, e.g. e-commerce-client-abc → abc. */
export function tenantOfNamespace(ns: string | undefined): string | undefined {
    if (ns === undefined || !ns.startsWith(TENANT_NAMESPACE_PREFIX)) return undefined;
    const id = ns.slice(TENANT_NAMESPACE_PREFIX.length);
    return id === "" ? undefined : id;
}

/** The tenant id of a `tenant: client-<id>` label value. */
export function tenantOfSlug(slug: string | undefined): string | undefined {
    const prefix = tenantSlug("");
    return slug !== undefined && slug.startsWith(prefix) && slug.length > prefix.length ? slug.slice(prefix.length) : undefined;
}

/** The name part of a URN (after the last `::`). */
export function urnName(urn: string): string {
    return urn.slice(urn.lastIndexOf("::") + 2);
}

/** The stack part of a URN. */
export function urnStack(urn: string): string | undefined {
    return /^urn:pulumi:([^:]+)::/.exec(urn)?.[1];
}

/** The type chain of a URN (parent types then own type), e.g. [Tenant, TenantNamespace, Namespace]. */
export function urnTypes(urn: string): string[] {
    const parts = urn.split("::");
    return parts.length >= 4 ? parts[2].split("$") : [];
}

/** The namespace a Kubernetes object lives in (the name itself for a Namespace). */
export function namespaceOf(s: Subject): string | undefined {
    const meta = metadata(s);
    return s.type === K8S.namespace ? str(meta.name) : str(meta.namespace);
}

/**
 * The tenant a resource belongs to: the name of its `Tenant` component
 * ancestor, else the tenant of its Kubernetes namespace, else its `tenant` label.
 */
export function tenantOf(s: Subject, byUrn: ReadonlyMap<string, Subject>): string | undefined {
    let cur: string | undefined = s.parent;
    const seen = new Set<string>();
    while (cur !== undefined && !seen.has(cur)) {
        seen.add(cur);
        const parent = byUrn.get(cur);
        if (urnTypes(cur).at(-1) === TENANT_COMPONENT) return parent?.name ?? urnName(cur);
        cur = parent?.parent;
    }
    if (isKubernetes(s)) {
        const fromNs = tenantOfNamespace(namespaceOf(s));
        if (fromNs !== undefined) return fromNs;
    }
    return tenantOfSlug(str(labelsOf(s)?.tenant));
}

export function indexByUrn(subjects: readonly Subject[]): Map<string, Subject> {
    return new Map(subjects.map((s) => [s.urn, s]));
}

/** Whether the value at `path` is a Pulumi secret. */
export function isSecretPath(s: Subject, path: string): boolean {
    if (!s.secretPaths) return false;
    const parts = path.split(".");
    for (let i = 1; i <= parts.length; i++) {
        if (s.secretPaths.has(parts.slice(0, i).join("."))) return true;
    }
    return false;
}

/** A short, human name for a Kubernetes object: `namespace/name` or the logical name. */
export function displayName(s: Subject): string {
    const meta = metadata(s);
    const name = str(meta.name);
    const ns = str(meta.namespace);
    if (name !== undefined) return ns !== undefined ? `${ns}/${name}` : name;
    return s.name;
}

/** The statements of an IAM-style policy document given as JSON text or an object. */
export function policyStatements(document: unknown): Record<string, unknown>[] | undefined {
    let doc: unknown = document;
    if (typeof document === "string") {
        if (isUnknown(document)) return undefined;
        try {
            doc = JSON.parse(document);
        } catch {
            return undefined;
        }
    }
    const statement = obj(doc)?.Statement;
    if (statement === undefined) return [];
    return (Array.isArray(statement) ? statement : [statement]).map((st) => obj(st) ?? {});
}

/** A string or a list of strings, as IAM documents write them. */
export function stringList(value: unknown): string[] {
    if (typeof value === "string") return [value];
    return arr(value).filter((v): v is string => typeof v === "string");
}
