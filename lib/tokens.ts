/**
 * The type tokens of the platform's components (`<package>:<module>:<type>`).
 * One definition: the components register under them, and the synth
 * recorder, the policy pack, purge and the tests find tenants by them.
 */
export const PACKAGE = "collectverything";

export const COMPONENT_TOKENS = {
    Tenant: `${PACKAGE}:tenant:Tenant`,
    TenantNamespace: `${PACKAGE}:tenant:TenantNamespace`,
    TenantDatabase: `${PACKAGE}:tenant:TenantDatabase`,
    TenantBucket: `${PACKAGE}:tenant:TenantBucket`,
    TenantVhost: `${PACKAGE}:tenant:TenantVhost`,
    TenantIngress: `${PACKAGE}:tenant:TenantIngress`,
    TenantArchiveAccess: `${PACKAGE}:tenant:TenantArchiveAccess`,
    SharedRegion: `${PACKAGE}:tenant:SharedRegion`,
} as const;

/** The type token of the per-tenant root component: its name is the tenant id. */
export const TENANT_TYPE = COMPONENT_TOKENS.Tenant;
