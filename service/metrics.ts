/** The service's Prometheus metrics, in a registry of its own (one per service instance). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class Metrics {
    readonly registry = new Registry();
    readonly webhooks = new Counter({
        name: "billing_webhooks_total",
        help: "Billing webhook deliveries by event type and result (accepted, duplicate, ignored, unauthorized, invalid, rejected, error).",
        labelNames: ["type", "result"],
        registers: [this.registry],
    });
    readonly ackSeconds = new Histogram({
        name: "billing_webhook_ack_seconds",
        help: "Time to acknowledge a webhook delivery.",
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
        registers: [this.registry],
    });
    readonly commitBatch = new Histogram({
        name: "billing_commit_batch_size",
        help: "Deliveries applied to the manifest together in one group commit (one lock, write and transaction).",
        buckets: [1, 2, 5, 10, 20, 50, 100, 256, 500, 1000, 2000],
        registers: [this.registry],
    });
    readonly gitSeconds = new Histogram({
        name: "billing_commit_git_seconds",
        help: "git time of one group commit: commit and push (and fetch and re-apply on a newer tip when the push was refused).",
        buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [this.registry],
    });
    readonly validations = new Counter({
        name: "billing_manifest_validations_total",
        help: "Whole-manifest validations run by the group commit (one per batch, more only when a batch falls back to one event at a time).",
        registers: [this.registry],
    });
    readonly jobSeconds = new Histogram({
        name: "deploy_job_duration_seconds",
        help: "Duration of deployment jobs by region stack and final state.",
        labelNames: ["stack", "state", "targeted"],
        buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200],
        registers: [this.registry],
    });
    readonly queueDepth = new Gauge({
        name: "deploy_queue_depth",
        help: "Jobs waiting per region stack.",
        labelNames: ["stack"],
        registers: [this.registry],
    });
    readonly jobFailures = new Counter({
        name: "deploy_job_failures_total",
        help: "Jobs that ended failed (after their retries) or cancelled, by region stack.",
        labelNames: ["stack", "state"],
        registers: [this.registry],
    });
    readonly lockRetries = new Counter({
        name: "deploy_lock_retries_total",
        help: "Updates retried because the stack was locked by another update (ConcurrentUpdateError).",
        labelNames: ["stack"],
        registers: [this.registry],
    });
    readonly eventsPublished = new Counter({
        name: "platform_events_published_total",
        help: "Platform events published to RabbitMQ by event name.",
        labelNames: ["event"],
        registers: [this.registry],
    });

    constructor(defaults = true) {
        if (defaults) collectDefaultMetrics({ register: this.registry });
    }
}
