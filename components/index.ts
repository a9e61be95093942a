export { Tenant, type TenantArgs, type TenantFeatures, type ServiceEndpoints } from "./tenant";
export { TenantNamespace, type TenantNamespaceArgs } from "./tenantNamespace";
export { TenantDatabase, type TenantDatabaseArgs, type CredentialsBackend } from "./tenantDatabase";
export { TenantBucket, type TenantBucketArgs } from "./tenantBucket";
export { TenantVhost, type TenantVhostArgs } from "./tenantVhost";
export { TenantIngress, type TenantIngressArgs } from "./tenantIngress";
export { TenantArchiveAccess, type TenantArchiveAccessArgs } from "./tenantArchive";
export { SharedRegion, type SharedRegionArgs } from "./sharedRegion";
