/**
 * tenantctl commands of the billing-webhook service: `serve` and
 * `bench-webhooks`. The heavy modules are imported lazily so the other
 * commands start as fast as before.
 */
import { InvalidArgumentError, type Command } from "commander";
import * as fs from "node:fs";
import * as path from "node:path";
import type { WebhookBenchOptions } from "../bench/webhooks";

/** The project directory: the Pulumi program the service deploys (never an inline copy). */
export const PROJECT_DIR = path.resolve(__dirname, "..");

function stackMapping(value: string, previous: Record<string, string> = {}): Record<string, string> {
    const m = /^([a-z][a-z0-9-]*)=([A-Za-z0-9._-]+)$/.exec(value);
    if (!m) throw new InvalidArgumentError("expected <region>=<stack>, e.g. eu-west=local");
    return { ...previous, [m[1]]: m[2] };
}

function positiveInt(value: string): number {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
    return n;
}

function targetMode(value: string): "never" | "existing" | "always" {
    if (value !== "never" && value !== "existing" && value !== "always") throw new InvalidArgumentError("expected never, existing or always");
    return value;
}

/**
 * The webhook secrets: WEBHOOK_SECRETS (comma-separated; current first), or
 * WEBHOOK_SECRET plus WEBHOOK_SECRET_PREVIOUS during a rotation, or a file
 * with one secret per line (--secrets-file). Never logged.
 */
export function readSecrets(env: NodeJS.ProcessEnv, file?: string): string[] {
    const out: string[] = [];
    if (file) out.push(...fs.readFileSync(file, "utf8").split(/\r?\n/));
    if (env.WEBHOOK_SECRETS) out.push(...env.WEBHOOK_SECRETS.split(","));
    if (env.WEBHOOK_SECRET) out.push(env.WEBHOOK_SECRET);
    if (env.WEBHOOK_SECRET_PREVIOUS) out.push(env.WEBHOOK_SECRET_PREVIOUS);
    return [...new Set(out.map((s) => s.trim()).filter((s) => s !== ""))];
}

export interface ServeOptions {
    manifest: string;
    store: string;
    host: string;
    port: number;
    stack: Record<string, string>;
    target: "never" | "existing" | "always";
    secretsFile?: string;
    maxAttempts: number;
    timeoutMinutes: number;
}

/** Registers the billing-webhook service's commands (serve, bench-webhooks) on tenantctl. */
export function registerServiceCommands(program: Command): void {
    program
        .command("serve")
        .description(
            "Run the billing-webhook service: POST /webhooks/billing applies subscription events to the manifest and deploys the region stack. " +
                "Secrets: WEBHOOK_SECRET (+ WEBHOOK_SECRET_PREVIOUS while rotating). BROKER_URL: RabbitMQ job queues and events.",
        )
        .option("--manifest <file>", "the manifest the service edits (absolute or relative to the project)", "tenants.yaml")
        .option("--store <file>", "SQLite file of the idempotency store", ".work/webhooks/service.db")
        .option("--host <host>", "listen address", "127.0.0.1")
        .option("--port <port>", "listen port", positiveInt, 8088)
        .option("--stack <region=stack>", "deploy a region to this stack (repeatable), e.g. eu-west=local", stackMapping, {})
        .option("--target <mode>", "targeted updates of the changed tenants: never, existing (stack already deployed) or always", targetMode, "existing")
        .option("--secrets-file <file>", "file with the webhook secrets, one a line, current first")
        .option("--max-attempts <n>", "attempts of a failing update before the job is failed", positiveInt, 3)
        .option("--timeout-minutes <n>", "cancel an update that runs longer than this", positiveInt, 30)
        .action(async (opts: ServeOptions) => {
            const { serve } = await import("../service/main");
            await serve(opts);
        });

    program
        .command("bench-webhooks")
        .description("Benchmark the webhook service: acknowledgement latency at a fixed rate (autocannon), and webhook-to-namespace-ready time on the local engine.")
        .option("--rate <n>", "requests per second", positiveInt, 200)
        .option("--duration <s>", "seconds of load", positiveInt, 15)
        .option("--connections <n>", "concurrent connections of the load generator", positiveInt, 40)
        .option("--tenants <n>", "tenants already in the region before the measured webhook", positiveInt, 100)
        .option("--repeat <n>", "onboardings measured per update mode (targeted, full)", positiveInt, 1)
        .option("--skip-engine", "only measure acknowledgement latency")
        .option("--skip-ack", "only measure on the engine")
        .option("--keep", "keep the temp backend and the namespaces (default: deleted)")
        .option("--stack <stack>", "the stack region eu-west deploys to", "local")
        .action(async (opts: WebhookBenchOptions) => {
            const { runWebhookBench } = await import("../bench/webhooks");
            await runWebhookBench(opts);
        });
}
