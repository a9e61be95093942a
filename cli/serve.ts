/**
 * `tenantctl serve`: the billing-webhook service. The command only declares
 * the options; the service (service/main.ts) is imported when it runs, so the
 * other commands start fast.
 */
import type { Command } from "commander";
import { milliseconds, port, positiveInt, stackMapping, stackSettingsFile, targetMode } from "./args";
import { CliError, EXIT } from "./errors";

interface ServeFlags {
    manifest: string;
    store: string;
    jobLeaseMs: number;
    host: string;
    port: number;
    stack: Record<string, string>;
    settingsFile: Record<string, string>;
    target: "never" | "existing" | "always";
    secretsFile?: string;
    statusTokenFile?: string;
    maxAttempts: number;
    timeoutMinutes: number;
    fakeDeployer?: boolean;
    fakeDelayMs: number;
    fakeJournal?: string;
    gitRemote?: string;
    gitBranch: string;
    gitAuthor?: string;
}

/** Registers `tenantctl serve`. */
export function register(program: Command): void {
    program
        .command("serve")
        .description(
            "Run the billing-webhook service: POST /webhooks/billing applies subscription events to the manifest and deploys the region stack. " +
                "Secrets: WEBHOOK_SECRET (+ WEBHOOK_SECRET_PREVIOUS while rotating); STATUS_TOKENS for the status endpoints. BROKER_URL: RabbitMQ job queues and events. " +
                'Once listening it prints one line on stdout, {"port":<port>,"pid":<pid>}; SIGINT or SIGTERM stop it (exit 0).',
        )
        .option("--manifest <file>", "the manifest the service edits (absolute or relative to the project)", "tenants.yaml")
        .option(
            "--store <file|url>",
            "the idempotency and job store: a SQLite file (one replica), or mysql://user:password@host:port/database shared by several replicas (or STORE_URL)",
            ".work/webhooks/service.db",
        )
        .option(
            "--job-lease-ms <ms>",
            "a claimed job's lease, renewed while it runs: a replica that dies loses its jobs to another after this long",
            milliseconds,
            30000,
        )
        .option("--host <host>", "listen address", "127.0.0.1")
        .option("--port <port>", "listen port; 0: any free port", port, 8088)
        .option("--stack <region=stack>", "deploy a region to this stack (repeatable), e.g. eu-west=local", stackMapping, {})
        .option(
            "--settings-file <stack=file>",
            "a region stack's settings file instead of the repository's Pulumi.<stack>.yaml (repeatable; its shards use it too), e.g. local=/tmp/Pulumi.local.yaml",
            stackSettingsFile,
            {},
        )
        .option("--target <mode>", "targeted updates of the changed tenants: never, existing (stack already deployed) or always", targetMode, "existing")
        .option("--secrets-file <file>", "file with the webhook secrets, one a line, current first")
        .option(
            "--status-token-file <file>",
            "file with the bearer tokens of GET /tenants/:id, /jobs/:id and /metrics, one a line (or STATUS_TOKENS); never a webhook secret",
        )
        .option("--max-attempts <n>", "attempts of a failing update before the job is failed", positiveInt, 3)
        .option("--timeout-minutes <n>", "cancel an update that runs longer than this", positiveInt, 30)
        .option(
            "--git-remote <name>",
            "commit every applied batch to the git clone --manifest sits in and push it to this remote (or TENANTCTL_GIT_REMOTE); unset: the file alone",
            process.env.TENANTCTL_GIT_REMOTE || undefined,
        )
        .option(
            "--git-branch <branch>",
            "with --git-remote: the branch the deploy workflow deploys (or TENANTCTL_GIT_BRANCH)",
            process.env.TENANTCTL_GIT_BRANCH || "main",
        )
        .option(
            "--git-author <author>",
            'with --git-remote: the commits\' author, "Name <email>" (or TENANTCTL_GIT_AUTHOR)',
            process.env.TENANTCTL_GIT_AUTHOR || undefined,
        )
        .option("--fake-deployer", "deploy nothing: every update succeeds after --fake-delay-ms (the target of bench-webhooks and of the API fuzzer)")
        .option("--fake-delay-ms <ms>", "with --fake-deployer: duration of a fake update", milliseconds, 1000)
        .option("--fake-journal <file>", "with --fake-deployer: append a JSON line to this file when a fake update starts and ends")
        .action(async (flags: ServeFlags, command: Command) => {
            const fakeOnly = (["fakeDelayMs", "fakeJournal"] as const).filter((k) => command.getOptionValueSource(k) === "cli");
            if (!flags.fakeDeployer && fakeOnly.length > 0)
                throw new CliError("tenantctl serve: --fake-delay-ms and --fake-journal need --fake-deployer", EXIT.usage);
            if (flags.jobLeaseMs < 100)
                throw new CliError("tenantctl serve: --job-lease-ms must be at least 100 (a lease renewed every third of it)", EXIT.usage);
            // STORE_URL (it holds a password: never a default shown by --help) unless --store is given.
            if (command.getOptionValueSource("store") !== "cli" && process.env.STORE_URL) flags.store = process.env.STORE_URL;
            const { serve, StartupError } = await import("../service/main");
            const { fakeDeployer, fakeDelayMs, fakeJournal, gitRemote, gitBranch, gitAuthor, settingsFile, ...opts } = flags;
            const settingsFiles = Object.keys(settingsFile).length > 0 ? settingsFile : undefined;
            const git = gitRemote ? { remote: gitRemote, branch: gitBranch, author: gitAuthor } : undefined;
            try {
                await serve({ ...opts, git, settingsFiles, fake: fakeDeployer ? { delayMs: fakeDelayMs, journal: fakeJournal } : undefined });
            } catch (err) {
                if (err instanceof StartupError) throw new CliError(`tenantctl serve: ${err.message}`, EXIT.failed);
                throw err;
            }
        });
}
