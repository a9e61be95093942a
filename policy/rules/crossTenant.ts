/**
 * No MySQL grant, MinIO IAM policy or RabbitMQ permission reaches another
 * tenant's database, bucket or vhost.
 */
import { BUCKET_PURPOSES, bucketName, bucketPolicyName, bucketUser, databaseName, rabbitUser, vhostName } from "../../lib/naming";
import { bucketBackupPolicyName, bucketBackupUser } from "../../lib/archiveAccess";
import { SLOTS } from "../../lib/rotation";
import { DATA, indexByUrn, policyStatements, str, stringList, tenantOf, type Rule, type Subject, type Violation } from "../model";

export const NAME = "no-cross-tenant-access";

/** `client_<id with _>`: the prefix of every database and MySQL user of a tenant. */
export function sqlPrefix(tenantId: string): string {
    return databaseName(tenantId, "x").slice(0, -"_x_db".length);
}

/** The SQL identity (client_<id>) owning a database name `client_<id>_<service>_db`; services have no underscore. */
export function databaseOwner(database: string): string | undefined {
    return /^(client_[a-z0-9_]+)_[a-z][a-z0-9]*_db$/.exec(database)?.[1];
}

/** The SQL identity owning a MySQL user name `client_<id>_<service>_user` (or `_usrb`, its rotation partner). */
export function mysqlUserOwner(user: string): string | undefined {
    return /^(client_[a-z0-9_]+)_[a-z][a-z0-9]*_(?:user|usrb)$/.exec(user)?.[1];
}

/**
 * Reads a GRANT database pattern: the literal database name it matches, or
 * why it matches more than one. In MySQL a GRANT database name is a LIKE
 * pattern: unescaped `_` and `%` are wildcards.
 */
export function grantLiteral(pattern: string): { literal: string } | { wildcard: string } {
    if (pattern === "*" || pattern === "*.*") return { wildcard: `"${pattern}" is every database` };
    let literal = "";
    for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i];
        if (c === "\\" && i + 1 < pattern.length) {
            literal += pattern[++i];
        } else if (c === "_" || c === "%") {
            return { wildcard: `"${pattern}" has an unescaped LIKE wildcard "${c}" at position ${i + 1}, so it also matches other tenants' databases` };
        } else {
            literal += c;
        }
    }
    return { literal };
}

/** Problems of a mysql Grant owned by `tenant` (undefined: derive the owner from the grant's user). */
export function grantProblems(props: Record<string, unknown>, tenant: string | undefined): string[] {
    const problems: string[] = [];
    const user = str(props.user);
    const userOwner = user !== undefined ? mysqlUserOwner(user) : undefined;
    const owner = tenant !== undefined ? sqlPrefix(tenant) : userOwner;
    const pattern = str(props.database);
    if (pattern !== undefined) {
        const read = grantLiteral(pattern);
        if ("wildcard" in read) {
            problems.push(`database pattern ${read.wildcard}`);
        } else if (owner !== undefined && databaseOwner(read.literal) !== owner) {
            problems.push(`database ${read.literal} is not a database of ${owner}`);
        }
    }
    if (tenant !== undefined && userOwner !== undefined && userOwner !== sqlPrefix(tenant)) {
        problems.push(`user ${user} belongs to ${userOwner}, not to tenant "${tenant}"`);
    }
    return problems;
}

/** The buckets a tenant owns. */
export function tenantBuckets(tenant: string): string[] {
    return BUCKET_PURPOSES.map((p) => bucketName(tenant, p));
}

/** The tenant a bucket IAM policy belongs to by its name `client-<id>-app-objects` (the app users') or `client-<id>-backup-read` (the backup user's). */
export function tenantOfBucketPolicyName(name: string | undefined): string | undefined {
    const m = name === undefined ? null : /^client-(.+)-(?:app-objects|backup-read)$/.exec(name);
    return m?.[1] !== undefined && tenantPolicyNames(m[1]).includes(name!) ? m[1] : undefined;
}

/** A tenant's MinIO users: the app user's two rotation slots and the read-only backup user. */
export function tenantMinioUsers(tenant: string): string[] {
    return [...SLOTS.map((slot) => bucketUser(tenant, slot)), bucketBackupUser(tenant)];
}

/** A tenant's MinIO policies: the app users' and the backup user's. */
export function tenantPolicyNames(tenant: string): string[] {
    return [bucketPolicyName(tenant), bucketBackupPolicyName(tenant)];
}

/** Problems of an IAM policy document for `tenant`: every S3 resource must be one of the tenant's buckets. */
export function iamPolicyProblems(document: unknown, tenant: string): string[] {
    const statements = policyStatements(document);
    if (statements === undefined) return [];
    const own = new Set(tenantBuckets(tenant));
    const problems: string[] = [];
    statements.forEach((st, i) => {
        if (st.Effect === "Deny") return;
        if (st.NotResource !== undefined) problems.push(`Statement[${i}] uses NotResource: it reaches every other bucket`);
        for (const resource of stringList(st.Resource)) {
            const m = /^arn:aws:s3:::([^/]*)(\/.*)?$/.exec(resource);
            if (resource === "*" || m === null) {
                problems.push(`Statement[${i}] reaches ${JSON.stringify(resource)}: every bucket`);
                continue;
            }
            const bucket = m[1];
            if (/[*?]/.test(bucket)) problems.push(`Statement[${i}] resource ${resource} is a bucket wildcard: it also matches other tenants' buckets`);
            else if (!own.has(bucket))
                problems.push(`Statement[${i}] reaches bucket ${bucket}, which is not one of tenant "${tenant}"'s (${[...own].join(", ")})`);
        }
    });
    return problems;
}

/** Problems of a RabbitMQ (topic) permission for `tenant` (undefined: derive it from the vhost). */
export function rabbitPermissionProblems(props: Record<string, unknown>, tenant: string | undefined): string[] {
    const vhost = str(props.vhost);
    const user = str(props.user);
    const owner = tenant ?? (vhost !== undefined && /^\/client-(.+)$/.test(vhost) ? vhost.slice("/client-".length) : undefined);
    if (owner === undefined) return [];
    const problems: string[] = [];
    if (vhost !== undefined && vhost !== vhostName(owner)) problems.push(`vhost ${vhost} is not tenant "${owner}"'s vhost ${vhostName(owner)}`);
    const users = SLOTS.map((slot) => rabbitUser(owner, slot));
    if (user !== undefined && !users.includes(user)) problems.push(`user ${user} is not one of tenant "${owner}"'s users ${users.join(", ")}`);
    return problems;
}

export function checkCrossTenant(subjects: readonly Subject[]): Violation[] {
    const byUrn = indexByUrn(subjects);
    const violations: Violation[] = [];
    const report = (s: Subject, what: string, problems: string[]) => {
        for (const p of problems)
            violations.push({
                policy: NAME,
                urn: s.urn,
                message: `${what} ${s.name}: ${p}. Fix: a tenant's grants, policies and permissions name its own resources only.`,
            });
    };
    for (const s of subjects) {
        const tenant = tenantOf(s, byUrn);
        switch (s.type) {
            case DATA.mysqlGrant:
                report(s, "MySQL grant", grantProblems(s.props, tenant));
                break;
            case DATA.minioIamPolicy:
            case DATA.minioIamGroupPolicy: {
                const owner = tenant ?? tenantOfBucketPolicyName(str(s.props.name));
                if (owner !== undefined) report(s, "MinIO IAM policy", iamPolicyProblems(s.props.policy, owner));
                break;
            }
            case DATA.minioUserPolicyAttachment: {
                const user = str(s.props.userName);
                const policyName = str(s.props.policyName);
                const owner = tenant ?? tenantOfBucketPolicyName(policyName);
                if (owner === undefined) break;
                const problems: string[] = [];
                const users = tenantMinioUsers(owner);
                if (user !== undefined && !users.includes(user)) problems.push(`user ${user} is not one of tenant "${owner}"'s users ${users.join(", ")}`);
                const policies = tenantPolicyNames(owner);
                if (policyName !== undefined && !policies.includes(policyName))
                    problems.push(`policy ${policyName} is not one of tenant "${owner}"'s policies ${policies.join(", ")}`);
                report(s, "MinIO policy attachment", problems);
                break;
            }
            case DATA.rabbitPermissions:
            case DATA.rabbitTopicPermissions:
                report(s, "RabbitMQ permission", rabbitPermissionProblems(s.props, tenant));
                break;
        }
    }
    return violations;
}

export const crossTenant: Rule = {
    name: NAME,
    description: "No MySQL grant, MinIO IAM policy or RabbitMQ permission reaches another tenant's database, bucket or vhost.",
    check: (subjects) => checkCrossTenant(subjects),
};
