/**
 * Every physical name the platform derives from a tenant id, in one place.
 *
 * Names depend only on the tenant id and the service name, never on the
 * position of a tenant in tenants.yaml, its display name or its tier, so that
 * reordering the manifest or changing a tier renames nothing.
 */

export const DEFAULT_SERVICES = ["auth", "products", "orders"] as const;
export const BUCKET_PURPOSES = ["products", "sav", "newsletters"] as const;
/** Services that get a durable queue on the tenant's vhost (the seed's queues). */
export const DEFAULT_QUEUES = ["auth", "orders"] as const;

export const SHARED_NAMESPACE = "e-commerce-shared";

/** A tenant id: a lowercase DNS-label slug that starts with a letter. */
export const TENANT_ID_PATTERN = /^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*$/;
/** A service name: lowercase letters and digits only (it is embedded between underscores). */
export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9]*$/;

/** Limits of the systems the names are used in. */
export const NAME_LIMITS = {
    /** Kubernetes namespace: an RFC 1123 DNS label. */
    namespace: 63,
    /** MySQL 8 user names. */
    mysqlUser: 32,
    /** MySQL database names. */
    database: 64,
    /** S3/MinIO bucket names. */
    bucket: 63,
    /** Kubernetes label values. */
    labelValue: 63,
    /** Kubernetes object names that are DNS subdomains (Ingress, Secret, ...). */
    objectName: 253,
} as const;

/** "client-abc": the prefix every tenant-scoped name starts with. */
export function tenantSlug(id: string): string {
    return `client-${id}`;
}

function sqlIdent(id: string): string {
    return `client_${id.replace(/-/g, "_")}`;
}

export function namespaceName(id: string): string {
    return `e-commerce-${tenantSlug(id)}`;
}

export function databaseName(id: string, service: string): string {
    return `${sqlIdent(id)}_${service}_db`;
}

/**
 * A service's database account. Slot a is the account every tenant has
 * always had; slot b, its rotation partner (lib/rotation.ts), has a name of
 * the same length (`usrb`), so the id length limit is the same for both.
 */
export function databaseUser(id: string, service: string, slot: "a" | "b" = "a"): string {
    return `${sqlIdent(id)}_${service}_${slot === "a" ? "user" : "usrb"}`;
}

export function dbCredentialsSecretName(service: string): string {
    return `${service}-db-credentials`;
}

export function bucketName(id: string, purpose: string): string {
    return `${tenantSlug(id)}-${purpose}`;
}

/** The tenant's object-store user; slot b is its rotation partner. */
export function bucketUser(id: string, slot: "a" | "b" = "a"): string {
    return `${tenantSlug(id)}-app${slot === "a" ? "" : "-b"}`;
}

export function bucketPolicyName(id: string): string {
    return `${tenantSlug(id)}-app-objects`;
}

export const BUCKET_CREDENTIALS_SECRET = "object-storage-credentials";
export const RABBITMQ_CREDENTIALS_SECRET = "rabbitmq-credentials";

export function vhostName(id: string): string {
    return `/${tenantSlug(id)}`;
}

/** The tenant's RabbitMQ user; slot b is its rotation partner. */
export function rabbitUser(id: string, slot: "a" | "b" = "a"): string {
    return `${tenantSlug(id)}-app${slot === "a" ? "" : "-b"}`;
}

export function exchangeName(id: string): string {
    return `${tenantSlug(id)}.events`;
}

export function queueName(id: string, service: string): string {
    return `${tenantSlug(id)}.${service}`;
}

export function ingressName(id: string): string {
    return `${tenantSlug(id)}-ingress`;
}

export function tlsSecretName(id: string): string {
    return `${tenantSlug(id)}-tls`;
}

/** The AWS Secrets Manager secret of a service's database password; slot b (rotation) has its own. */
export function awsSecretPath(id: string, service: string, slot: "a" | "b" = "a"): string {
    return `/e-commerce/${tenantSlug(id)}/${service}-db-password${slot === "a" ? "" : "-b"}`;
}

/** The Prometheus `tenant_id` label the seed's relabel rule extracts from the namespace. */
export function prometheusTenantId(id: string): string {
    return id;
}

/** The tenant id as carried in RabbitMQ events and traces (`tenant_id: client-abc`). */
export function eventTenantId(id: string): string {
    return tenantSlug(id);
}

/** Kubernetes group bound to the tenant's read-only client-admin Role. */
export function adminGroup(id: string): string {
    return `${tenantSlug(id)}-admins`;
}

export const APP_SERVICE_ACCOUNT = "tenant-app";
export const CLIENT_ADMIN_ROLE = "client-admin";
export const BACKUP_PVC = "backup-pvc";

/** Every derived name of a tenant with the limit it must respect. */
export interface DerivedName {
    readonly kind: "namespace" | "mysqlUser" | "database" | "bucket" | "labelValue";
    readonly name: string;
    readonly limit: number;
}

export function derivedNames(id: string, services: readonly string[] = DEFAULT_SERVICES): DerivedName[] {
    const names: DerivedName[] = [
        { kind: "namespace", name: namespaceName(id), limit: NAME_LIMITS.namespace },
        { kind: "labelValue", name: tenantSlug(id), limit: NAME_LIMITS.labelValue },
    ];
    for (const service of services) {
        names.push({ kind: "database", name: databaseName(id, service), limit: NAME_LIMITS.database });
        names.push({ kind: "mysqlUser", name: databaseUser(id, service), limit: NAME_LIMITS.mysqlUser });
    }
    for (const purpose of BUCKET_PURPOSES) {
        names.push({ kind: "bucket", name: bucketName(id, purpose), limit: NAME_LIMITS.bucket });
    }
    return names;
}

/** The derived names of a tenant id that break a limit (empty when the id is fine). */
export function namesOverLimit(id: string, services: readonly string[] = DEFAULT_SERVICES): DerivedName[] {
    return derivedNames(id, services).filter((n) => n.name.length > n.limit);
}

/** The longest tenant id whose derived names all fit, for the given services; 0 when no id fits. */
export function maxTenantIdLength(services: readonly string[] = DEFAULT_SERVICES): number {
    let length = 0;
    while (length < NAME_LIMITS.namespace && namesOverLimit("a".repeat(length + 1), services).length === 0) {
        length++;
    }
    return length;
}
