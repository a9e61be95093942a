/** GET /jobs/:id: a deployment job, its log tail live while it runs (behind the status token). */
import type { FastifyPluginCallback } from "fastify";
import type { JobRunner } from "../runner";
import { errorBody, idParam, jobBody, type JobView, type SchemaTypes } from "../schemas";
import type { JobRecord, Store } from "../store";

export interface JobRoutesOptions {
    readonly store: Store;
    readonly runner: JobRunner;
}

/** A job as the API shows it: the running update's live log tail, no internal sequence number. */
export function jobView(job: JobRecord, runner: JobRunner): JobView {
    const { seq: _seq, ...view } = job;
    return { ...view, logTail: runner.liveTails.get(job.id)?.slice() ?? job.logTail };
}

export const jobRoutes: FastifyPluginCallback<JobRoutesOptions> = (fastify, opts, done) => {
    const app = fastify.withTypeProvider<SchemaTypes>();
    app.get(
        "/jobs/:id",
        {
            schema: {
                summary: "A deployment job",
                params: idParam,
                security: [{ statusToken: [] }],
                response: { 200: jobBody, 400: errorBody, 401: errorBody, 404: errorBody },
            },
            config: { statusToken: true },
        },
        async (req, reply) => {
            const job = await opts.store.getJob(req.params.id);
            if (!job) return reply.code(404).send({ error: "job-not-found", message: `no job "${req.params.id}"` });
            return jobView(job, opts.runner);
        },
    );
    done();
};
