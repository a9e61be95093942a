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
import { checkResidency, createProviders, leanStackTraces, loadStackManifest, readStackConfig, regionTenants, sharedRegionArgs, tenantArgs, withInputErrors, withTenantContext } from "./stacks/program";

leanStackTraces();
const stack = pulumi.getStack();
const projectDir = __dirname;
const { config, secrets } = withInputErrors(() => readStackConfig(stack));
const manifest = withInputErrors(() => loadStackManifest(config, projectDir));
const providers = createProviders(config, secrets, projectDir);

new SharedRegion(config.region, sharedRegionArgs(config), { providers });

const deployed = regionTenants(manifest, config);

async function main() {
    await checkResidency(config, deployed);
    for (const tenant of deployed) {
        withTenantContext(tenant.id, () => new Tenant(tenant.id, tenantArgs(tenant, config), { providers }));
        // Let this tenant's registrations flow before building the next:
        // memory stays bounded by one tenant, not by the whole region.
        await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return {
        region: config.region,
        tenantCount: deployed.length,
        tenants: Object.fromEntries(
            deployed.map((t) => [t.id, { namespace: namespaceName(t.id), tier: t.tier, status: t.status, hosts: [t.domain, ...t.customDomains] }]),
        ),
    };
}

export = main();
