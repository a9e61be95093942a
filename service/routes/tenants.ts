/**
 * GET /tenants/:id (behind the status token): a tenant's lifecycle state,
 * last job and its log tail; for a tenant the service never changed
 * (deployed by the CLI), its state as the manifest says; `pending` while a
 * batch of the service's that changes it is written (store intent open);
 * and where its credentials are (seed onboarding step 8: Secret names, AWS
 * secret names and ARNs, never a value).
 */
import type { FastifyPluginCallback } from "fastify";
import { validateManifest, type TenantSpec } from "../../lib/manifest";
import type { ManifestFile } from "../../core/manifestFile";
import { settledState, type JobRunner } from "../runner";
import { errorBody, idParam, tenantBody, type SchemaTypes } from "../schemas";
import type { Store } from "../store";
import { jobView } from "./jobs";

export interface TenantRoutesOptions {
    readonly store: Store;
    readonly runner: JobRunner;
    readonly manifest: ManifestFile;
    /** The manifest's file name, for the validator. */
    readonly manifestName: string;
    /** The stack that deploys a tenant (its region's stack, or that stack's shard). */
    readonly stackOf: (region: string, tenant: TenantSpec) => string;
}

export const tenantRoutes: FastifyPluginCallback<TenantRoutesOptions> = (fastify, opts, done) => {
    const { store, runner, manifest } = opts;
    /** Whether the manifest holds tenant `id`'s tombstone (`status: deleted`): its data, Secrets included, are gone. */
    const isPurged = (id: string): boolean => {
        const parsed = validateManifest(manifest.read(), opts.manifestName);
        return parsed.ok && (parsed.manifest.tombstones ?? []).some((x) => x.id === id);
    };
    const app = fastify.withTypeProvider<SchemaTypes>();
    app.get(
        "/tenants/:id",
        {
            schema: {
                summary: "A tenant's lifecycle state, last job and its log tail",
                params: idParam,
                security: [{ statusToken: [] }],
                response: { 200: tenantBody, 400: errorBody, 401: errorBody, 404: errorBody },
            },
            config: { statusToken: true },
        },
        async (req, reply) => {
            const { id } = req.params;
            const [t, writing] = await Promise.all([store.getTenant(id), store.hasOpenIntent(id)]);
            const job = t?.lastJobId ? await store.getJob(t.lastJobId) : undefined;
            if (t) {
                // A batch that changes the tenant is being written (or a crash left it open): not deployed yet, whatever the last job says.
                const state = writing ? "pending" : t.state;
                // What its last successful job reported; none before the first one (nothing exists yet), nor once `tenantctl purge`
                // erased it (the manifest holds its tombstone; purge runs outside the service, so a cancelled tenant is checked there).
                const purged = t.manifestStatus === "cancelled" && isPurged(id);
                const credentials = purged ? null : await runner.credentialsOf(t.id);
                return {
                    id: t.id,
                    region: t.region,
                    state,
                    manifestStatus: t.manifestStatus,
                    tier: t.tier,
                    updatedAt: t.updatedAt,
                    lastJob: job ? jobView(job, runner) : null,
                    credentials,
                };
            }
            const parsed = validateManifest(manifest.read(), opts.manifestName);
            const spec = parsed.ok ? parsed.manifest.tenants.find((x) => x.id === id) : undefined;
            if (!spec)
                return reply.code(404).send({ error: "tenant-not-found", message: `tenant "${id}" is neither in the manifest nor known to the service` });
            // In the manifest but never recorded by the service: deployed by the CLI, unless a batch of the service's is writing it.
            const state = writing ? "pending" : settledState(spec.status);
            // The settings of the stack that deploys it say where its credentials are (no ARN: no update of the service's reported
            // it), the AWS secrets those of the active rotation slots.
            const rotations = parsed.ok ? parsed.manifest.rotations?.[id] : undefined;
            const credentials = await runner.credentialsOf(id, opts.stackOf(spec.region, spec), rotations);
            return { id, region: spec.region, state, manifestStatus: spec.status, tier: spec.tier, updatedAt: null, lastJob: null, credentials };
        },
    );
    done();
};
