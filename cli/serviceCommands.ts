/**
 * tenantctl commands of the billing-webhook service: `serve` and
 * `bench-webhooks`. They only declare the options: the service
 * (service/main.ts) and the benchmark (bench/webhooks.ts) are imported
 * when the command runs, so the other commands start as fast as before.
 */
import { InvalidArgumentError, type Command } from "commander";
import { CliError, EXIT } from "./errors";

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

function milliseconds(value: string): number {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected a whole number of milliseconds, 0 or more");
    return n;
}

function port(value: string): number {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("expected a port, 0-65535 (0: any free port)");
    return n;
}

function targetMode(value: string): "never" | "existing" | "always" {
    if (value !== "never" && value !== "existing" && value !== "always") throw new InvalidArgumentError("expected never, existing or always");
    return value;
}

interface ServeFlags {
    manifest: string;
    store: string;
    host: string;
    port: number;
    stack: Record<string, string>;
    target: "never" | "existing" | "always";
    secretsFile?: string;
    maxAttempts: number;
    timeoutMinutes: number;
    fakeDeployer?: boolean;
    fakeDelayMs: number;
    fakeJournal?: string;
}

interface BenchFlags {
    rate: number;
    duration: number;
    connections: number;
    tenants: number;
    repeat: number;
    skipEngine?: boolean;
    skipAck?: boolean;
    keep?: boolean;
    stack: string;
}

/** Registers the billing-webhook service's commands (serve, bench-webhooks) on tenantctl. */
export function register(program: Command): void {
    program
        .command("serve")
        .description(
            "Run the billing-webhook service: POST /webhooks/billing applies subscription events to the manifest and deploys the region stack. " +
                "Secrets: WEBHOOK_SECRET (+ WEBHOOK_SECRET_PREVIOUS while rotating). BROKER_URL: RabbitMQ job queues and events. " +
                'Once listening it prints one line on stdout, {"port":<port>,"pid":<pid>}; SIGINT or SIGTERM stop it (exit 0).',
        )
        .option("--manifest <file>", "the manifest the service edits (absolute or relative to the project)", "tenants.yaml")
        .option("--store <file>", "SQLite file of the idempotency store", ".work/webhooks/service.db")
        .option("--host <host>", "listen address", "127.0.0.1")
        .option("--port <port>", "listen port; 0: any free port", port, 8088)
        .option("--stack <region=stack>", "deploy a region to this stack (repeatable), e.g. eu-west=local", stackMapping, {})
        .option("--target <mode>", "targeted updates of the changed tenants: never, existing (stack already deployed) or always", targetMode, "existing")
        .option("--secrets-file <file>", "file with the webhook secrets, one a line, current first")
        .option("--max-attempts <n>", "attempts of a failing update before the job is failed", positiveInt, 3)
        .option("--timeout-minutes <n>", "cancel an update that runs longer than this", positiveInt, 30)
        .option("--fake-deployer", "deploy nothing: every update succeeds after --fake-delay-ms (the target of bench-webhooks and of the API fuzzer)")
        .option("--fake-delay-ms <ms>", "with --fake-deployer: duration of a fake update", milliseconds, 1000)
        .option("--fake-journal <file>", "with --fake-deployer: append a JSON line to this file when a fake update starts and ends")
        .action(async (flags: ServeFlags, command: Command) => {
            const fakeOnly = (["fakeDelayMs", "fakeJournal"] as const).filter((k) => command.getOptionValueSource(k) === "cli");
            if (!flags.fakeDeployer && fakeOnly.length > 0) throw new CliError("tenantctl serve: --fake-delay-ms and --fake-journal need --fake-deployer", EXIT.usage);
            const { serve, StartupError } = await import("../service/main");
            const { fakeDeployer, fakeDelayMs, fakeJournal, ...opts } = flags;
            try {
                await serve({ ...opts, fake: fakeDeployer ? { delayMs: fakeDelayMs, journal: fakeJournal } : undefined });
            } catch (err) {
                if (err instanceof StartupError) throw new CliError(`tenantctl serve: ${err.message}`, EXIT.failed);
                throw err;
            }
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
        .action(async (opts: BenchFlags) => {
            const { runWebhookBench } = await import("../bench/webhooks");
            await runWebhookBench(opts);
        });
}

/** @deprecated The old name of `register`, until cli/main.ts imports `register` like every other command module. */
export const registerServiceCommands = register;
