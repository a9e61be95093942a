/**
 * A real Prometheus (Debian's 2.42, through scripts/lib/prometheus.sh) for the
 * monitoring contract tests: each test file starts its own server on a free
 * loopback port with its own data directory under .work/prometheus/, and
 * stops it by its recorded PID in afterAll. promtool backfills the datasets.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { freePort, REPO_ROOT } from "../support/contract";

const SCRIPT = path.join(REPO_ROOT, "scripts", "lib", "prometheus.sh");
export const PROMTOOL = "/usr/bin/promtool";
export const PROMETHEUS_TIMEOUT_MS = 300_000;

/** Installs Prometheus and promtool when they are missing (apt-get, as root). */
export function ensurePrometheus(): void {
    execFileSync("bash", [SCRIPT, "install"], { stdio: ["ignore", "ignore", "inherit"] });
}

/**
 * A fresh working directory for one server (and its files), removed on stop.
 * A server a crashed earlier run left behind is stopped first, by its recorded PID.
 */
export function workDir(name: string): string {
    const root = path.join(REPO_ROOT, ".work", "prometheus");
    for (const old of fs.existsSync(root) ? fs.readdirSync(root).filter((d) => d.startsWith(`${name}-`)) : []) {
        execFileSync("bash", [SCRIPT, "stop", path.join(root, old)], { stdio: "inherit" });
        fs.rmSync(path.join(root, old), { recursive: true, force: true });
    }
    const dir = path.join(root, `${name}-${process.pid}`);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
}

export interface RunningPrometheus {
    readonly url: string;
    readonly dir: string;
    stop(): void;
}

/** Starts Prometheus with `config` (YAML text) on a free loopback port, data in `dir`/data. */
export async function startPrometheus(dir: string, config: string): Promise<RunningPrometheus> {
    const configFile = path.join(dir, "prometheus.yml");
    fs.writeFileSync(configFile, config);
    const port = await freePort();
    execFileSync("bash", [SCRIPT, "start", dir, configFile, String(port)], { stdio: ["ignore", "pipe", "inherit"] });
    return {
        url: `http://127.0.0.1:${port}`,
        dir,
        stop: () => execFileSync("bash", [SCRIPT, "stop", dir], { stdio: "inherit" }),
    };
}

/** promtool with arguments; throws with its output when it fails. */
export function promtool(args: string[], cwd?: string): string {
    try {
        return execFileSync(PROMTOOL, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
        const e = err as { stdout?: string; stderr?: string; message: string };
        throw new Error(`promtool ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`, { cause: err });
    }
}

/**
 * Writes OpenMetrics text and turns it into TSDB blocks in `dataDir` (`promtool
 * tsdb create-blocks-from openmetrics`). Blocks up to 32 days: with the default
 * 2 hours, promtool reads the whole input once per 2-hour block (372 times for a month).
 */
export function backfill(dir: string, openMetrics: string, dataDir: string): void {
    const file = path.join(dir, "backfill.om");
    fs.writeFileSync(file, openMetrics.endsWith("# EOF\n") ? openMetrics : `${openMetrics}# EOF\n`);
    backfillFile(file, dataDir);
}

/** The same from an OpenMetrics file (ending with `# EOF`), which is removed afterwards. */
export function backfillFile(file: string, dataDir: string): void {
    fs.mkdirSync(dataDir, { recursive: true });
    promtool(["tsdb", "create-blocks-from", "openmetrics", "--quiet", "--max-block-duration=768h", file, dataDir]);
    fs.rmSync(file);
}

export interface PromSeries {
    readonly metric: Record<string, string>;
    readonly value?: [number, string];
    readonly values?: [number, string][];
}

interface PromResponse {
    status: string;
    error?: string;
    data: { resultType: string; result: PromSeries[] };
}

async function api(url: string, endpoint: string, params: Record<string, string>): Promise<PromSeries[]> {
    const response = await fetch(`${url}/api/v1/${endpoint}`, { method: "POST", body: new URLSearchParams(params) });
    const body = (await response.json()) as PromResponse;
    if (body.status !== "success") throw new Error(`${endpoint} ${params.query}: ${body.error ?? response.status}`);
    return body.data.result;
}

export function instantQuery(url: string, query: string, time?: number): Promise<PromSeries[]> {
    return api(url, "query", time === undefined ? { query } : { query, time: String(time) });
}

export function rangeQuery(url: string, query: string, start: number, end: number, step: number): Promise<PromSeries[]> {
    return api(url, "query_range", { query, start: String(start), end: String(end), step: String(step) });
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            const value = await check();
            if (value !== undefined) return value;
        } catch (err) {
            last = err;
        }
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`, { cause: last });
        await new Promise((r) => setTimeout(r, 250));
    }
}

/** One OpenMetrics sample line (timestamps in seconds). */
export function sample(name: string, labels: Record<string, string>, value: number, timestamp: number): string {
    const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(",");
    return `${name}{${l}} ${value} ${timestamp}\n`;
}
