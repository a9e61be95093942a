/**
 * `tenantctl serve`: the service process's composition root. Reads the
 * secrets, chooses the deployer (the engine, or the fake one for the
 * benchmark and the fuzzer), builds the service, listens, prints the ready
 * line and shuts down cleanly on SIGINT or SIGTERM.
 *
 * Outcome, for the command line to turn into an exit code: `serve`
 * resolves after a clean shutdown (exit 0) and throws StartupError, whose
 * message names the fix, when the service cannot start (exit 1).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import pino from "pino";
import { PulumiDeployer, type Deployer, type TargetMode } from "../core/deployer";
import type { ManifestRepoOptions } from "../core/manifestRepo";
import { PROJECT_DIR } from "../core/project";
import { FakeDeployer, type FakeDeployerOptions } from "./fakeDeployer";
import { readyLine } from "./launch";
import { shardCounts } from "./queue";
import { readSecrets, readStatusTokens } from "./secrets";
import { createService, ManifestUnusable, StoreInUse, StoreUnusable } from "./service";
import { isMysqlUrl } from "./storeDriver";
import { parseMysqlUrl } from "./storeMysql";

export interface ServeOptions {
    /** The manifest the service edits, absolute or relative to the project directory. */
    readonly manifest: string;
    /**
     * The store: a SQLite file, absolute or relative to the project directory (one replica), or a
     * `mysql://user:password@host:port/database` URL shared by every replica (`--store` or STORE_URL).
     */
    readonly store: string;
    /** A claimed job's lease, ms (`--job-lease-ms`): a replica that dies loses its job to another after this long. */
    readonly jobLeaseMs?: number;
    readonly host: string;
    /** 0: any free port (the ready line says which). */
    readonly port: number;
    /** Region to stack overrides. */
    readonly stack: Readonly<Record<string, string>>;
    readonly target: TargetMode;
    /** A file of webhook secrets, one a line, current first (in addition to the environment's). */
    readonly secretsFile?: string;
    /** A file of status tokens, one a line (in addition to STATUS_TOKENS). */
    readonly statusTokenFile?: string;
    readonly maxAttempts: number;
    readonly timeoutMinutes: number;
    /** Commit and push every applied batch (`--git-remote`, `--git-branch`, `--git-author`); unset: the file alone. */
    readonly git?: ManifestRepoOptions;
    /**
     * Per region stack, its settings file instead of the repository's `Pulumi.<stack>.yaml` (`--settings-file stack=file`):
     * the deployer's settings and the shard count (a shard stack uses its region's).
     */
    readonly settingsFiles?: Readonly<Record<string, string>>;
    /** Deploy nothing: every update succeeds after `delayMs` (`--fake-deployer`). */
    readonly fake?: Pick<FakeDeployerOptions, "delayMs" | "journal">;
}

/** The service cannot start; the message says what to fix. */
export class StartupError extends Error {
    override readonly name = "StartupError";
}

/** The environment of the `pulumi` commands the real deployer runs. */
const PULUMI_ENV = ["PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_HOME", "KUBECONFIG", "PATH"] as const;

function secretsOf(env: NodeJS.ProcessEnv, file: string | undefined): string[] {
    let secrets: string[];
    try {
        secrets = readSecrets(env, file);
    } catch (err) {
        throw new StartupError(
            `cannot read the secrets file ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}). Fix: pass a readable file to --secrets-file.`,
        );
    }
    if (secrets.length === 0)
        throw new StartupError("no webhook secret. Fix: set WEBHOOK_SECRET (and WEBHOOK_SECRET_PREVIOUS while rotating) or pass --secrets-file.");
    return secrets;
}

/** The status tokens; none is allowed (the status endpoints then answer 401), a webhook secret as a token is not. */
function statusTokensOf(env: NodeJS.ProcessEnv, file: string | undefined, secrets: readonly string[]): string[] {
    let tokens: string[];
    try {
        tokens = readStatusTokens(env, file);
    } catch (err) {
        throw new StartupError(
            `cannot read the status token file ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}). Fix: pass a readable file to --status-token-file.`,
        );
    }
    if (tokens.some((t) => secrets.includes(t))) {
        throw new StartupError(
            "a status token is also a webhook secret. Fix: give the status endpoints a token of their own (STATUS_TOKENS or --status-token-file).",
        );
    }
    return tokens;
}

function deployerFor(opts: ServeOptions, manifestPath: string, stateDir: string, env: NodeJS.ProcessEnv): Deployer {
    if (opts.fake) return new FakeDeployer(opts.fake);
    const envVars: Record<string, string> = {};
    for (const key of PULUMI_ENV) {
        const v = env[key];
        if (v !== undefined) envVars[key] = v;
    }
    return new PulumiDeployer({ projectDir: PROJECT_DIR, manifestPath, stateDir, envVars, targetMode: opts.target, settingsFiles: opts.settingsFiles });
}

/**
 * The deployer's folder of a replica on a shared (MySQL) store: one per manifest under .work/webhooks (replicas on one
 * host each write their stack settings, which name their own manifest).
 */
export function replicaStateDir(manifestPath: string): string {
    return path.join(PROJECT_DIR, ".work", "webhooks", `replica-${createHash("sha256").update(manifestPath).digest("hex").slice(0, 12)}`);
}

/** `--settings-file` paths resolved against the project directory; each must exist. */
function settingsFilesOf(files: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
    if (files === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const [stack, file] of Object.entries(files)) {
        const resolved = path.resolve(PROJECT_DIR, file);
        if (!fs.existsSync(resolved))
            throw new StartupError(`--settings-file ${stack}=${file}: no such file (${resolved}). Fix: pass the path of the stack's settings file.`);
        out[stack] = resolved;
    }
    return out;
}

/** Runs the service until SIGINT or SIGTERM; resolves once it has shut down. */
export async function serve(opts: ServeOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
    const log = pino({ level: env.LOG_LEVEL ?? "info", redact: { paths: ["secrets", "*.secrets", "headers.billing-signature"], censor: "[redacted]" } });
    const secrets = secretsOf(env, opts.secretsFile);
    const statusTokens = statusTokensOf(env, opts.statusTokenFile, secrets);
    const manifestPath = path.resolve(PROJECT_DIR, opts.manifest);
    const settingsFiles = settingsFilesOf(opts.settingsFiles);
    // A MySQL URL as given (its password is never logged: `storeName`); a file relative to the project.
    const mysql = isMysqlUrl(opts.store);
    let storeName: string;
    try {
        storeName = mysql ? parseMysqlUrl(opts.store).description : path.resolve(PROJECT_DIR, opts.store);
    } catch (err) {
        throw new StartupError(err instanceof Error ? err.message : String(err));
    }
    const storePath = mysql ? opts.store : storeName;
    // The deployer's workspaces: next to a SQLite store; with a shared store, one folder per manifest.
    const stateDir = mysql ? replicaStateDir(manifestPath) : path.dirname(storePath);
    let svc;
    try {
        svc = await createService({
            manifestPath,
            storePath,
            deployer: deployerFor({ ...opts, settingsFiles }, manifestPath, stateDir, env),
            leaseMs: opts.jobLeaseMs,
            secrets,
            statusTokens,
            stacks: opts.stack,
            shards: settingsFiles ? shardCounts({ settingsFiles }) : undefined,
            brokerUrl: env.BROKER_URL || undefined,
            eventsUrl: env.EVENTS_URL || undefined,
            logger: log,
            runner: { maxAttempts: opts.maxAttempts, timeoutMs: opts.timeoutMinutes * 60_000 },
            git: opts.git,
        });
    } catch (err) {
        if (err instanceof ManifestUnusable || err instanceof StoreInUse || err instanceof StoreUnusable) throw new StartupError(err.message);
        throw err;
    }
    try {
        await svc.app.listen({ host: opts.host, port: opts.port });
    } catch (err) {
        await svc.close();
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") {
            throw new StartupError(
                `cannot listen on ${opts.host}:${opts.port} (${code}). Fix: pass another --port or --host, or stop the process that holds it.`,
            );
        }
        throw err;
    }
    const address = svc.app.server.address();
    const port = typeof address === "object" && address ? address.port : opts.port;
    // The handlers are in place before the ready line: a SIGTERM sent as soon as it is read is a clean shutdown, not
    // the default disposition's kill.
    const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
        // Later signals are ignored while the service stops.
        const handler = (s: NodeJS.Signals) => resolve(s);
        process.on("SIGINT", handler);
        process.on("SIGTERM", handler);
    });
    process.stdout.write(`${readyLine(port, process.pid)}\n`);
    log.info(
        {
            manifest: manifestPath,
            store: storeName,
            port,
            stacks: opts.stack,
            queue: svc.queue.kind,
            secrets: secrets.length,
            statusTokens: statusTokens.length,
            deployer: opts.fake ? "fake" : "pulumi",
            target: opts.target,
            git: svc.manifest.repo ? `${svc.manifest.repo.remote}/${svc.manifest.repo.branch}` : "off",
        },
        "billing-webhook service listening",
    );
    if (statusTokens.length === 0) log.warn("no status token: GET /tenants/:id, /jobs/:id and /metrics answer 401 (set STATUS_TOKENS or --status-token-file)");

    const signal = await stopSignal;
    log.info({ signal }, "stopping: running updates are interrupted and resume on restart");
    await svc.close();
    log.info("stopped");
}
