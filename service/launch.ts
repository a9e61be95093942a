/**
 * Starting the service in a process of its own, on the fake deployer:
 * `tenantctl serve --fake-deployer --port 0`, the real entry point, waiting
 * for the one line it prints on stdout once it listens. The webhook
 * benchmark runs its load against it (the load generator must not share the
 * service's event loop) and the restart tests kill -9 it; both use
 * `launchFakeService`, and scripts/schemathesis.sh reads the same line.
 * Lives with the service because it is the other end of main.ts's ready
 * line, and because bench/ (which cannot import test/) needs it too.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { PROJECT_DIR } from "../core/project";
import { isMysqlUrl } from "./storeDriver";

/** What `tenantctl serve` prints on stdout once it listens: one JSON line. */
export function readyLine(port: number, pid: number): string {
    return JSON.stringify({ port, pid });
}

function parseReadyLine(line: string): { port: number; pid: number } | undefined {
    const m = /^\{"port":(\d+),"pid":(\d+)\}$/.exec(line);
    return m ? { port: Number(m[1]), pid: Number(m[2]) } : undefined;
}

export interface FakeServiceOptions {
    /** The manifest the service edits (a copy: it is changed). */
    readonly manifest: string;
    /** The service's store: a SQLite file, or a MySQL URL (passed as STORE_URL, so its password is not on the command line). */
    readonly store: string;
    /** A claimed job's lease (`--job-lease-ms`). Default: the flag's. */
    readonly jobLeaseMs?: number;
    /** Deploy with the real engine (no `--fake-deployer`; the Pulumi environment comes from the caller's). Default false. */
    readonly engine?: boolean;
    /** Per region stack, its settings file (`--settings-file stack=file`), e.g. a copy with a shard count. */
    readonly settingsFiles?: Readonly<Record<string, string>>;
    /**
     * Start the service as the leader of a process group of its own: `kill()` then ends it and every process it
     * started (the pulumi CLI and its plugins), as the end of a container does. Default false.
     */
    readonly ownProcessGroup?: boolean;
    /** The one webhook secret (the caller's environment's secrets are not passed on). */
    readonly secret: string;
    /** The status endpoints' token (STATUS_TOKENS). Default: a random one, in ServiceProcess.statusToken. */
    readonly statusToken?: string;
    /** More status tokens, one a line (`--status-token-file`). */
    readonly statusTokenFile?: string;
    /** Duration of a fake deployment in ms (`--fake-delay-ms`). Default: the flag's. */
    readonly delayMs?: number;
    /** File of the fake deployer's start and done lines (`--fake-journal`). */
    readonly journal?: string;
    /** Region to stack (`--stack region=stack`). */
    readonly stacks?: Readonly<Record<string, string>>;
    /** RabbitMQ job queues and events (BROKER_URL). Default: none, whatever the caller's environment says. */
    readonly brokerUrl?: string;
    /** Commit and push every batch to this remote of the clone the manifest sits in (`--git-remote`). Default: off. */
    readonly gitRemote?: string;
    /** The service's LOG_LEVEL. Default "error". */
    readonly logLevel?: string;
    /** Receives the service's stdout lines after the ready line (its log). Default: dropped. */
    readonly onLog?: (line: string) => void;
    /** How long to wait for the ready line. Default 60 s. */
    readonly timeoutMs?: number;
}

export interface ServiceProcess {
    readonly port: number;
    readonly pid: number;
    readonly baseUrl: string;
    /** The bearer token of GET /tenants/:id, /jobs/:id and /metrics. */
    readonly statusToken: string;
    /** Resolves with the exit code (null: killed by a signal) when the process ends. */
    readonly exited: Promise<number | null>;
    /** SIGTERM, a clean shutdown; resolves with the exit code. */
    stop(): Promise<number | null>;
    /** SIGKILL: no shutdown code runs (with `ownProcessGroup`, to the whole group: the service and what it started). */
    kill(): void;
}

export async function launchFakeService(opts: FakeServiceOptions): Promise<ServiceProcess> {
    const mysql = isMysqlUrl(opts.store);
    const args = [
        "serve",
        ...(opts.engine ? [] : ["--fake-deployer"]),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--manifest",
        opts.manifest,
        ...(mysql ? [] : ["--store", opts.store]),
    ];
    if (opts.jobLeaseMs !== undefined) args.push("--job-lease-ms", String(opts.jobLeaseMs));
    if (opts.delayMs !== undefined) args.push("--fake-delay-ms", String(opts.delayMs));
    if (opts.journal !== undefined) args.push("--fake-journal", opts.journal);
    if (opts.statusTokenFile !== undefined) args.push("--status-token-file", opts.statusTokenFile);
    if (opts.gitRemote !== undefined) args.push("--git-remote", opts.gitRemote);
    for (const [region, stack] of Object.entries(opts.stacks ?? {})) args.push("--stack", `${region}=${stack}`);
    for (const [stack, file] of Object.entries(opts.settingsFiles ?? {})) args.push("--settings-file", `${stack}=${file}`);
    const statusToken = opts.statusToken ?? randomBytes(24).toString("hex");
    const child = spawn(path.join(PROJECT_DIR, "tenantctl"), args, {
        cwd: PROJECT_DIR,
        env: {
            ...process.env,
            WEBHOOK_SECRET: opts.secret,
            WEBHOOK_SECRETS: "",
            WEBHOOK_SECRET_PREVIOUS: "",
            STATUS_TOKENS: statusToken,
            STATUS_TOKEN: "",
            BROKER_URL: opts.brokerUrl ?? "",
            STORE_URL: mysql ? opts.store : "",
            EVENTS_URL: "",
            LOG_LEVEL: opts.logLevel ?? "error",
        },
        stdio: ["ignore", "pipe", "inherit"],
        detached: opts.ownProcessGroup === true,
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    // Read every line for the life of the process: a pipe nobody drains would block the service's logging.
    const lines = createInterface({ input: child.stdout });
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const ready = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
        let listening = false;
        const timer = setTimeout(() => {
            child.kill("SIGKILL");
            reject(new Error(`tenantctl serve did not print its ready line within ${timeoutMs} ms`));
        }, timeoutMs);
        lines.on("line", (line) => {
            const r = listening ? undefined : parseReadyLine(line);
            if (r) {
                listening = true;
                clearTimeout(timer);
                resolve(r);
            } else {
                opts.onLog?.(line);
            }
        });
        void exited.then((code) => {
            clearTimeout(timer);
            if (!listening) reject(new Error(`tenantctl serve exited (${code}) before listening; its stderr says why`));
        });
    });
    return {
        port: ready.port,
        pid: ready.pid,
        baseUrl: `http://127.0.0.1:${ready.port}`,
        statusToken,
        exited,
        stop: () => {
            child.kill("SIGTERM");
            return exited;
        },
        kill: () => {
            if (opts.ownProcessGroup && child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
            else child.kill("SIGKILL");
        },
    };
}
