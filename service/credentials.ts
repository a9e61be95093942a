/**
 * Where a tenant's credentials are, as the service reports them (seed
 * onboarding step 8): `tenant.provisioned` and `GET /tenants/:id` carry the
 * Kubernetes Secret names and the AWS secrets (names, ARNs) of
 * lib/credentials.ts, for the region stack's configuration. Never a value.
 *
 * The stack's settings (Pulumi.<stack>.yaml: services, features, the
 * credentials backend, the AWS region) are read when a job ends; the ARNs
 * come from the update's stack outputs. What a successful job reported is
 * kept per tenant in the service's store (table tenant_credentials), so
 * `GET /tenants/:id` answers without the engine.
 */
import type { DatabaseSync } from "node:sqlite";
import { awsSecretArnsOf, credentialLocations, type CredentialLocations } from "../lib/credentials";
import type { TenantRotations } from "../lib/rotation";
import { loadStackConfig } from "../core/stackFile";

/** Where tenant `tenantId`'s credentials are in stack `stack`, given the update's outputs; null when the stack's settings cannot be read. */
export type CredentialsResolver = (
    stack: string,
    tenantId: string,
    outputs?: Readonly<Record<string, unknown>>,
    rotations?: TenantRotations,
) => CredentialLocations | null;

/** The resolver over the stack settings files of a project directory. */
export function stackCredentials(projectDir?: string): CredentialsResolver {
    return (stack, tenantId, outputs, rotations) => {
        let config;
        try {
            config = loadStackConfig(stack, { projectDir });
        } catch {
            return null;
        }
        return credentialLocations(
            tenantId,
            { services: config.services, features: config.features, backend: config.credentialsBackend, awsRegion: config.aws?.region },
            awsSecretArnsOf(outputs, tenantId),
            rotations,
        );
    };
}

/**
 * The credential locations each tenant's last successful job reported, in
 * the service's SQLite database (a table of its own next to the store's).
 * A tenant's entry is replaced by each successful job; an ARN an update
 * reported is kept when a later (targeted) update's outputs do not carry it.
 */
export class CredentialsTable {
    constructor(private readonly db: DatabaseSync) {
        db.exec("CREATE TABLE IF NOT EXISTS tenant_credentials (tenant_id TEXT PRIMARY KEY, locations TEXT NOT NULL, updated_at TEXT NOT NULL)");
    }

    get(tenantId: string): CredentialLocations | undefined {
        const row = this.db.prepare("SELECT locations FROM tenant_credentials WHERE tenant_id = ?").get(tenantId) as { locations?: unknown } | undefined;
        return typeof row?.locations === "string" ? (JSON.parse(row.locations) as CredentialLocations) : undefined;
    }

    /** Records what a successful job found; returns what is recorded (earlier ARNs kept where the new outputs had none). */
    put(tenantId: string, locations: CredentialLocations, now = new Date()): CredentialLocations {
        const before = this.get(tenantId);
        const merged: CredentialLocations = {
            ...locations,
            awsSecrets: locations.awsSecrets.map((s) => (s.arn !== null ? s : { ...s, arn: before?.awsSecrets.find((b) => b.name === s.name)?.arn ?? null })),
        };
        this.db
            .prepare(
                "INSERT INTO tenant_credentials (tenant_id, locations, updated_at) VALUES (?, ?, ?) ON CONFLICT(tenant_id) DO UPDATE SET locations = excluded.locations, updated_at = excluded.updated_at",
            )
            .run(tenantId, JSON.stringify(merged), now.toISOString());
        return merged;
    }
}

/**
 * The manifest status each tenant's last successful job deployed (table
 * tenant_deployed_status): what a lifecycle event changed, for the platform
 * event it is announced as (a monthly payment of an active tenant is not a
 * resume).
 */
export class DeployedStatusTable {
    constructor(private readonly db: DatabaseSync) {
        db.exec("CREATE TABLE IF NOT EXISTS tenant_deployed_status (tenant_id TEXT PRIMARY KEY, status TEXT NOT NULL, updated_at TEXT NOT NULL)");
    }

    get(tenantId: string): string | undefined {
        const row = this.db.prepare("SELECT status FROM tenant_deployed_status WHERE tenant_id = ?").get(tenantId) as { status?: unknown } | undefined;
        return typeof row?.status === "string" ? row.status : undefined;
    }

    put(tenantId: string, status: string, now = new Date()): void {
        this.db
            .prepare(
                "INSERT INTO tenant_deployed_status (tenant_id, status, updated_at) VALUES (?, ?, ?) ON CONFLICT(tenant_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
            )
            .run(tenantId, status, now.toISOString());
    }
}
