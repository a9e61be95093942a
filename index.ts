/**
 * Collect & Verything tenant platform: one region stack, or one shard of it.
 *
 * Wiring only: read the stack's typed config, load and validate the whole
 * manifest, then one Tenant per tenant this stack holds (the region's, or its
 * shard's). Everything else lives in lib/ (pure rules), components/ (the
 * resources) and stacks/ (config, providers, which stack holds what).
 */
import * as pulumi from "@pulumi/pulumi";
import { SharedRegion, Tenant } from "./components";
import { namespaceName } from "./lib/naming";
import {
    checkResidency,
    createProviders,
    declaresSharedRegion,
    holderStacks,
    leanStackTraces,
    loadStackManifest,
    readStackConfig,
    sharedRegionArgs,
    stackTenants,
    tenantArgs,
    withInputErrors,
    withTenantContext,
} from "./stacks/program";

leanStackTraces();
const stack = pulumi.getStack();
const projectDir = __dirname;
const { config, secrets, role } = withInputErrors(() => readStackConfig(stack, projectDir));
const manifest = withInputErrors(() => loadStackManifest(config, projectDir));
const providers = createProviders(config, secrets, projectDir);

if (declaresSharedRegion(role)) new SharedRegion(config.region, sharedRegionArgs(config), { providers });

const deployed = withInputErrors(() => stackTenants(manifest, config, role));

async function main() {
    const qualify = (name: string) => `${pulumi.getOrganization()}/${pulumi.getProject()}/${name}`;
    await checkResidency(config.region, deployed, holderStacks(config, role, qualify));
    // The ARNs of each tenant's AWS secrets (aws-secrets-manager backend): the service reports them with the tenant's credentials.
    const awsSecretArns = new Map<string, Record<string, pulumi.Output<string>>>();
    for (const tenant of deployed) {
        const component = withTenantContext(tenant.id, () => new Tenant(tenant.id, tenantArgs(tenant, config, manifest.rotations), { providers }));
        if (Object.keys(component.awsSecretArns).length > 0) awsSecretArns.set(tenant.id, component.awsSecretArns);
        // Let this tenant's registrations flow before building the next:
        // memory stays bounded by one tenant, not by the whole region.
        await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return {
        region: config.region,
        shard: role.kind === "shard" ? role.index : null,
        shards: config.shards,
        tenantCount: deployed.length,
        tenants: Object.fromEntries(
            deployed.map((t) => [
                t.id,
                {
                    namespace: namespaceName(t.id),
                    tier: t.tier,
                    status: t.status,
                    hosts: [t.domain, ...t.customDomains],
                    ...(awsSecretArns.has(t.id) ? { awsSecretArns: awsSecretArns.get(t.id) } : {}),
                },
            ]),
        ),
    };
}

export = main();
