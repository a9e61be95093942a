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
 * What is recorded for a tenant after a successful job (in the store, table
 * tenant_credentials: service/store.ts recordDeployed): the locations it
 * found, with an ARN an earlier update reported kept when this (targeted)
 * update's outputs do not carry it.
 */
export function mergeLocations(found: CredentialLocations, before: CredentialLocations | undefined): CredentialLocations {
    return {
        ...found,
        awsSecrets: found.awsSecrets.map((s) => (s.arn !== null ? s : { ...s, arn: before?.awsSecrets.find((b) => b.name === s.name)?.arn ?? null })),
    };
}
