/**
 * Collect & Verything tenant platform: one region stack.
 *
 * Wiring only: read the stack's typed config, load and validate the whole
 * manifest, then one Tenant per tenant of this region. Everything else lives
 * in lib/ (pure rules), components/ (the resources) and stacks/ (config,
 * providers).
 */
import * as pulumi from "@pulumi/pulumi";
import { SharedRegion, Tenant } from "./components";
import { namespaceName } from "./lib/naming";
import { createProviders, loadStackManifest, readStackConfig, regionTenants, sharedRegionArgs, tenantArgs, withInputErrors } from "./stacks/program";

const stack = pulumi.getStack();
const projectDir = __dirname;
const { config, secrets } = withInputErrors(() => readStackConfig(stack));
const manifest = withInputErrors(() => loadStackManifest(config, projectDir));
const providers = createProviders(config, secrets, projectDir);

new SharedRegion(config.region, sharedRegionArgs(config), { providers });

const deployed = regionTenants(manifest, config);
for (const tenant of deployed) {
    new Tenant(tenant.id, tenantArgs(tenant, config), { providers });
}

export const region = config.region;
export const tenantCount = deployed.length;
export const tenants = Object.fromEntries(
    deployed.map((t) => [t.id, { namespace: namespaceName(t.id), tier: t.tier, status: t.status, hosts: [t.domain, ...t.customDomains] }]),
);
