/**
 * Whole-stack invariants, stated as policies over everything a stack
 * registers: isolation between tenants, data residency, no secret in plain
 * text, protection of data. Each check collects violations that name the
 * resource URN, and expects none.
 */
import { SHIPPED_MANIFEST } from "../../support/manifests";
import { DATA_TYPES, SYNTH_TIMEOUT_MS, T, at, ofType, synth, walk, type SynthResource, type SynthResult } from "../../support/synth";
import { REGION_LABEL } from "../../../lib/labels";
import { type TenantSpec } from "../../../lib/manifest";
import { loadManifest } from "../../../core/manifestSource";
import {
    BUCKET_PURPOSES,
    DEFAULT_QUEUES,
    DEFAULT_SERVICES,
    SHARED_NAMESPACE,
    adminGroup,
    awsSecretPath,
    bucketName,
    bucketPolicyName,
    bucketUser,
    databaseName,
    databaseUser,
    exchangeName,
    namespaceName,
    queueName,
    rabbitUser,
    vhostName,
} from "../../../lib/naming";
import { archiveAwsSecretPath, archiveUserName, bucketBackupPolicyName, bucketBackupUser } from "../../../lib/archiveAccess";
import { archiveBucketName } from "../../../lib/archiveLayout";

const STACKS = ["eu-west", "us-east", "apac", "local"] as const;
const STACK_REGION: Record<(typeof STACKS)[number], string> = { "eu-west": "eu-west", "us-east": "us-east", apac: "apac", local: "eu-west" };

const manifest = loadManifest(SHIPPED_MANIFEST);
const tenantById = new Map<string, TenantSpec>(manifest.tenants.map((t) => [t.id, t]));

const results = new Map<string, SynthResult>();

beforeAll(async () => {
    for (const stack of STACKS) results.set(stack, await synth({ stack }));
}, SYNTH_TIMEOUT_MS * 2);

/** The names a tenant owns in the shared systems. */
function ownNames(id: string) {
    return {
        namespace: namespaceName(id),
        databases: DEFAULT_SERVICES.map((s) => databaseName(id, s)),
        dbUsers: DEFAULT_SERVICES.flatMap((s) => [databaseUser(id, s, "a"), databaseUser(id, s, "b")]),
        buckets: BUCKET_PURPOSES.map((p) => bucketName(id, p)),
        bucketArns: BUCKET_PURPOSES.flatMap((p) => [`arn:aws:s3:::${bucketName(id, p)}/*`, `arn:aws:s3:::${bucketName(id, p)}`]),
        iamUsers: [bucketUser(id, "a"), bucketUser(id, "b"), bucketBackupUser(id)],
        iamPolicies: [bucketPolicyName(id), bucketBackupPolicyName(id)],
        archiveUser: archiveUserName(id),
        archiveArns: [
            `arn:aws:s3:::${archiveBucketName(tenantById.get(id)!.region)}/tenants/${id}/*`,
            `arn:aws:s3:::${archiveBucketName(tenantById.get(id)!.region)}`,
        ],
        vhost: vhostName(id),
        rabbitUsers: [rabbitUser(id, "a"), rabbitUser(id, "b")],
        exchange: exchangeName(id),
        queues: DEFAULT_QUEUES.map((q) => queueName(id, q)),
        awsPaths: [...DEFAULT_SERVICES.flatMap((s) => [awsSecretPath(id, s, "a"), awsSecretPath(id, s, "b")]), archiveAwsSecretPath(id)],
        adminGroup: adminGroup(id),
    };
}

/** MySQL's LIKE, as GRANT applies it to database names: `_` and `%` are wildcards, `\` escapes. */
function likeMatches(pattern: string, value: string): boolean {
    let regex = "";
    for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i];
        if (c === "\\" && i + 1 < pattern.length) regex += pattern[++i].replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
        else if (c === "_") regex += ".";
        else if (c === "%") regex += ".*";
        else regex += c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
    }
    return new RegExp(`^${regex}$`, "s").test(value);
}

describe.each(STACKS)("stack %s", (stack) => {
    const region = STACK_REGION[stack];
    const result = () => results.get(stack) as SynthResult;
    const tenantScoped = () => result().resources.filter((r) => r.tenant !== undefined);
    const expectedTenants = manifest.tenants.filter((t) => t.region === region).map((t) => t.id);

    test("deploys exactly the manifest's tenants of its region", () => {
        expect(result().region).toBe(region);
        expect(new Set(tenantScoped().map((r) => r.tenant))).toEqual(new Set(expectedTenants));
        expect(expectedTenants.length).toBeGreaterThan(0);
    });

    test("every tenant namespace has a ResourceQuota, a LimitRange and a NetworkPolicy", () => {
        const namespaces = ofType(tenantScoped(), T.Namespace);
        expect(namespaces).toHaveLength(expectedTenants.length);
        const violations: string[] = [];
        for (const ns of namespaces) {
            const name = at(ns.inputs, "metadata", "name");
            for (const type of [T.ResourceQuota, T.LimitRange, T.NetworkPolicy]) {
                const guards = result().resources.filter((r) => r.type === type && at(r.inputs, "metadata", "namespace") === name);
                if (guards.length !== 1) violations.push(`${ns.urn}: ${guards.length} ${type} in namespace ${String(name)}, expected 1`);
            }
        }
        expect(violations).toEqual([]);
    });

    test("no NetworkPolicy admits another tenant's namespace: selectors name only its own, ingress-nginx, e-commerce-shared, kube-system", () => {
        const policies = ofType(result().resources, T.NetworkPolicy);
        expect(policies.length).toBe(expectedTenants.length);
        const violations: string[] = [];
        for (const policy of policies) {
            const own = namespaceName(policy.tenant as string);
            const allowed = new Set([own, "ingress-nginx", SHARED_NAMESPACE, "kube-system"]);
            if (at(policy.inputs, "metadata", "namespace") !== own)
                violations.push(`${policy.urn}: lives in ${String(at(policy.inputs, "metadata", "namespace"))}, not ${own}`);
            let selectors = 0;
            walk(policy.inputs, (key, value, path) => {
                if (key === "ipBlock") violations.push(`${policy.urn}: ${path} admits addresses, bypassing namespace isolation`);
                if (key !== "namespaceSelector") return;
                selectors++;
                const labels = (at(value, "matchLabels") ?? {}) as Record<string, string>;
                if (at(value, "matchExpressions") !== undefined) violations.push(`${policy.urn}: ${path} uses matchExpressions`);
                if (Object.keys(labels).length === 0) violations.push(`${policy.urn}: ${path} is empty and selects every namespace`);
                for (const [label, v] of Object.entries(labels)) {
                    if (label !== "kubernetes.io/metadata.name")
                        violations.push(`${policy.urn}: ${path} selects by label ${label}, which namespaces do not carry reliably`);
                    else if (!allowed.has(v)) violations.push(`${policy.urn}: ${path} admits namespace ${v}`);
                }
            });
            if (selectors === 0) violations.push(`${policy.urn}: no namespaceSelector at all`);
        }
        expect(violations).toEqual([]);
    });

    test("no grant, MinIO policy, RabbitMQ permission or credential reference reaches another tenant's data", () => {
        const allDatabases = manifest.tenants.flatMap((t) => ownNames(t.id).databases);
        const violations: string[] = [];
        const check = (r: SynthResource, what: string, value: unknown, allowed: readonly string[]) => {
            if (typeof value !== "string" || !allowed.includes(value))
                violations.push(`${r.urn}: ${what} ${JSON.stringify(value)} is not one of the tenant's own (${allowed.join(", ")})`);
        };
        for (const r of tenantScoped()) {
            const own = ownNames(r.tenant as string);
            const i = r.inputs;
            switch (r.type) {
                case T.MysqlGrant: {
                    check(r, "user", i.user, own.dbUsers);
                    const reached = allDatabases.filter((db) => likeMatches(i.database as string, db));
                    const foreign = reached.filter((db) => !own.databases.includes(db));
                    if (reached.length !== 1 || foreign.length > 0)
                        violations.push(`${r.urn}: database pattern ${String(i.database)} matches ${JSON.stringify(reached)}`);
                    break;
                }
                case T.MysqlDatabase:
                    check(r, "database", i.name, own.databases);
                    break;
                case T.MysqlUser:
                    check(r, "user", i.user, own.dbUsers);
                    break;
                case T.IamPolicy: {
                    check(r, "policy name", i.name, own.iamPolicies);
                    const doc = JSON.parse(i.policy as string) as { Statement: { Resource: string | string[]; Principal?: unknown }[] };
                    for (const s of doc.Statement) {
                        if (s.Principal !== undefined) violations.push(`${r.urn}: statement with a Principal`);
                        for (const arn of ([] as string[]).concat(s.Resource)) check(r, "policy resource", arn, own.bucketArns);
                    }
                    break;
                }
                case T.IamUser:
                    check(r, "MinIO user", i.name, own.iamUsers);
                    break;
                case T.AwsIamUser:
                    check(r, "archive user", i.name, [own.archiveUser]);
                    break;
                case T.AwsIamUserPolicy: {
                    check(r, "policy user", i.user, [own.archiveUser]);
                    const doc = JSON.parse(i.policy as string) as { Statement: { Resource: string | string[]; Principal?: unknown }[] };
                    for (const s of doc.Statement) {
                        if (s.Principal !== undefined) violations.push(`${r.urn}: statement with a Principal`);
                        for (const arn of ([] as string[]).concat(s.Resource)) check(r, "archive policy resource", arn, own.archiveArns);
                    }
                    break;
                }
                case T.AwsAccessKey:
                    check(r, "key user", i.user, [own.archiveUser]);
                    break;
                case T.IamUserPolicyAttachment:
                    check(r, "attached user", i.userName, own.iamUsers);
                    check(r, "attached policy", i.policyName, own.iamPolicies);
                    break;
                case T.S3Bucket:
                    check(r, "bucket", i.bucket, own.buckets);
                    break;
                case T.VHost:
                    check(r, "vhost", i.name, [own.vhost]);
                    break;
                case T.Permissions:
                    check(r, "vhost", i.vhost, [own.vhost]);
                    check(r, "user", i.user, own.rabbitUsers);
                    break;
                case T.RabbitUser:
                    check(r, "RabbitMQ user", i.name, own.rabbitUsers);
                    break;
                case T.Exchange:
                    check(r, "vhost", i.vhost, [own.vhost]);
                    check(r, "exchange", i.name, [own.exchange]);
                    break;
                case T.Queue:
                    check(r, "vhost", i.vhost, [own.vhost]);
                    check(r, "queue", i.name, own.queues);
                    break;
                case T.Binding:
                    check(r, "vhost", i.vhost, [own.vhost]);
                    check(r, "source", i.source, [own.exchange]);
                    check(r, "destination", i.destination, own.queues);
                    break;
                case T.AwsSecret:
                    check(r, "AWS secret", i.name, own.awsPaths);
                    break;
                case T.ExternalSecret:
                    for (const d of at(i, "spec", "data") as { remoteRef: { key: string } }[]) check(r, "remote key", d.remoteRef.key, own.awsPaths);
                    break;
                case T.RoleBinding:
                    for (const subject of at(i, "subjects") as { name: string }[]) check(r, "subject", subject.name, [own.adminGroup]);
                    break;
                default:
                    break;
            }
            if (r.type.startsWith("kubernetes:") && r.type !== T.Namespace) check(r, "namespace", at(i, "metadata", "namespace"), [own.namespace]);
        }
        expect(violations).toEqual([]);
    });

    test("no resource of another region: every tenant-scoped resource belongs to a tenant of this region", () => {
        const violations = tenantScoped()
            .filter((r) => tenantById.get(r.tenant as string)?.region !== region)
            .map(
                (r) =>
                    `${r.urn}: tenant ${r.tenant} is in region ${tenantById.get(r.tenant as string)?.region ?? "(not in the manifest)"}, the stack is ${region}`,
            );
        expect(violations).toEqual([]);
    });

    test("no name of another region's tenant appears anywhere in the stack", () => {
        const foreign = manifest.tenants.filter((t) => t.region !== region).map((t) => t.id);
        expect(foreign.length).toBeGreaterThan(0);
        // Every derived name contains client-<id> or client_<id>; the shipped ids are not prefixes of one another.
        const pattern = new RegExp(`client[-_](${foreign.join("|")})(?![a-z0-9])`);
        const violations = result()
            .resources.filter((r) => pattern.test(JSON.stringify(r.inputs)) || pattern.test(r.urn))
            .map((r) => `${r.urn}: mentions ${pattern.exec(JSON.stringify(r.inputs))?.[0] ?? pattern.exec(r.urn)?.[0]}`);
        expect(violations).toEqual([]);
    });

    test(`every ${REGION_LABEL} label (and AWS tag) says the stack's region`, () => {
        let seen = 0;
        const violations: string[] = [];
        for (const r of result().resources) {
            walk(r.inputs, (key, value, path) => {
                if (key !== REGION_LABEL) return;
                seen++;
                if (value !== region) violations.push(`${r.urn}: ${path} = ${JSON.stringify(value)}, the stack is ${region}`);
            });
        }
        expect(violations).toEqual([]);
        expect(seen).toBeGreaterThan(expectedTenants.length * 10);
    });

    test("no secret in plain text: the mocks' generated passwords and config placeholders appear nowhere", () => {
        // cli/synth.ts mocks every RandomPassword result as "synth-generated-password-<name>"
        // and every secret config value as "synth-placeholder-<key>".
        const markers = ["synth-generated-password", "synth-placeholder"];
        const violations = result()
            .resources.filter((r) => markers.some((m) => JSON.stringify(r).includes(m)))
            .map((r) => `${r.urn}: secret value in plain text`);
        expect(violations).toEqual([]);
        const whole = JSON.stringify(result());
        for (const m of markers) expect(whole.includes(m)).toBe(false);
        // Where data components are on, the values that carry secrets are there, redacted.
        const redacted = result().resources.filter((r) => JSON.stringify(r.inputs).includes('"[secret]"')).length;
        if (stack === "local") expect(redacted).toBe(0);
        else expect(redacted).toBeGreaterThanOrEqual(expectedTenants.length * 8);
    });

    test("every data resource (database, bucket, vhost, queue, PVC, namespace) is protected", () => {
        const data = result().resources.filter((r) => (DATA_TYPES as readonly string[]).includes(r.type));
        expect(data.length).toBeGreaterThanOrEqual(expectedTenants.length * 2 + 1);
        expect(data.filter((r) => !r.protect).map((r) => `${r.urn}: not protected`)).toEqual([]);
    });
});

describe("the stacks together", () => {
    test("every tenant of the manifest is deployed by exactly one region stack", () => {
        const deployedBy = new Map<string, string[]>();
        for (const stack of ["eu-west", "us-east", "apac"]) {
            for (const id of new Set((results.get(stack) as SynthResult).resources.map((r) => r.tenant).filter((t): t is string => t !== undefined))) {
                deployedBy.set(id, [...(deployedBy.get(id) ?? []), stack]);
            }
        }
        expect(Object.fromEntries(deployedBy)).toEqual(Object.fromEntries(manifest.tenants.map((t) => [t.id, [t.region]])));
    });

    test("the local stack deploys the eu-west tenants without the data components it switches off", () => {
        const local = results.get("local") as SynthResult;
        expect(local.resources.filter((r) => /^(mysql|minio|rabbitmq|aws|random):/.test(r.type)).map((r) => r.urn)).toEqual([]);
        expect(ofType(local.resources, T.Namespace).filter((r) => r.tenant !== undefined)).toHaveLength(
            manifest.tenants.filter((t) => t.region === "eu-west").length,
        );
    });
});
