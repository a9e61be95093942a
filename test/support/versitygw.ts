/**
 * Private versitygw instances for the contract tests that need users: the
 * shared object store of `make local-up` runs with its root account only,
 * so a test that creates IAM users starts its own gateway (and, for identity
 * policies, versitygw's standalone IAM service) on free loopback ports, in a
 * temporary directory, with the binary scripts/lib/objectstore.sh built and
 * cached. Every process is started by the test and stopped by its own PID.
 * Root secrets reach the processes through their environment, never a
 * command line.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort, REPO_ROOT } from "./contract";

export const REGION = "eu-west-1";

/** The versitygw binary: built or reused from the cache by scripts/lib/objectstore.sh (instant once cached). */
export function versitygwBinary(): string {
    const out = execFileSync("bash", [path.join(REPO_ROOT, "scripts/lib/objectstore.sh"), "build"], { cwd: REPO_ROOT, encoding: "utf8" });
    const bin = out.trim().split("\n").pop() ?? "";
    if (!fs.existsSync(bin)) throw new Error(`scripts/lib/objectstore.sh build printed ${JSON.stringify(bin)}, which is not a file`);
    return bin;
}

export interface Root {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
}

export interface Instance {
    readonly dir: string;
    readonly root: Root;
    /** The S3 endpoint. */
    readonly s3: string;
    /** The standalone IAM API endpoint (standalone mode only). */
    readonly iam?: string;
    stop(): Promise<void>;
}

async function waitHttp(url: string, child: ChildProcess, log: string, timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
        if (child.exitCode !== null) throw new Error(`${url}: the process exited (${child.exitCode}); log:\n${fs.readFileSync(log, "utf8").slice(-2000)}`);
        try {
            await fetch(url, { signal: AbortSignal.timeout(1000), redirect: "manual" });
            return;
        } catch {
            await new Promise((r) => setTimeout(r, 200));
        }
    }
    throw new Error(`${url} did not answer within ${timeoutMs} ms; log:\n${fs.readFileSync(log, "utf8").slice(-2000)}`);
}

function start(bin: string, args: string[], env: Record<string, string>, log: string): ChildProcess {
    const fd = fs.openSync(log, "a");
    const child = spawn(bin, args, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    process.kill(child.pid, "SIGTERM");
    const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, "SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
}

/**
 * mode "standalone": versitygw's standalone IAM service (users, access keys,
 * inline user policies: the AWS IAM API) on its own port, and a posix
 * gateway (versioning, Object Lock) that asks it for keys and policy
 * decisions over a unix socket. mode "internal": one gateway with its
 * file-backed IAM (accounts with a chosen secret, managed through the admin
 * API; no identity policies), its cache off so a changed secret counts at once.
 */
export async function startVersitygw(mode: "standalone" | "internal"): Promise<Instance> {
    const bin = versitygwBinary();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cv-vgw-${mode}-`));
    for (const d of ["iam", "data", "versions"]) fs.mkdirSync(path.join(dir, d));
    const root = { accessKeyId: "cv-test-root", secretAccessKey: randomBytes(20).toString("hex") };
    const env = { ROOT_ACCESS_KEY_ID: root.accessKeyId, ROOT_SECRET_ACCESS_KEY: root.secretAccessKey, VGW_REGION: REGION };
    const s3Port = await freePort();
    const children: ChildProcess[] = [];
    const stop = async () => {
        for (const c of children.reverse()) await stopChild(c);
        fs.rmSync(dir, { recursive: true, force: true });
    };
    try {
        const posix = ["posix", "--versioning-dir", path.join(dir, "versions"), path.join(dir, "data")];
        if (mode === "standalone") {
            const iamPort = await freePort();
            const sock = path.join(dir, "iam.sock");
            const iam = start(
                bin,
                ["--port", `127.0.0.1:${iamPort}`, "--quiet", "iam", "--dir", path.join(dir, "iam"), "--private-ports", sock],
                env,
                path.join(dir, "iam.log"),
            );
            children.push(iam);
            await waitHttp(`http://127.0.0.1:${iamPort}/`, iam, path.join(dir, "iam.log"));
            const gw = start(bin, ["--port", `127.0.0.1:${s3Port}`, "--quiet", "--iam-standalone-endpoint", sock, ...posix], env, path.join(dir, "gw.log"));
            children.push(gw);
            await waitHttp(`http://127.0.0.1:${s3Port}/`, gw, path.join(dir, "gw.log"));
            return { dir, root, s3: `http://127.0.0.1:${s3Port}`, iam: `http://127.0.0.1:${iamPort}`, stop };
        }
        const gw = start(
            bin,
            ["--port", `127.0.0.1:${s3Port}`, "--quiet", "--iam-dir", path.join(dir, "iam"), "--iam-cache-disable", ...posix],
            env,
            path.join(dir, "gw.log"),
        );
        children.push(gw);
        await waitHttp(`http://127.0.0.1:${s3Port}/`, gw, path.join(dir, "gw.log"));
        return { dir, root, s3: `http://127.0.0.1:${s3Port}`, stop };
    } catch (err) {
        await stop();
        throw err;
    }
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** A request to versitygw's admin API (internal IAM), signed with AWS Signature V4 for service s3 as `versitygw admin` signs it. */
export async function adminRequest(instance: Instance, method: string, pathAndQuery: string, body: string): Promise<{ status: number; text: string }> {
    const url = new URL(pathAndQuery, instance.s3);
    const now = new Date();
    const amzDate = now
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d{3}/, "");
    const day = amzDate.slice(0, 8);
    const payloadHash = sha256(body);
    const query = [...url.searchParams.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
        .join("&");
    const headers: Record<string, string> = { host: url.host, "x-amz-content-sha256": payloadHash, "x-amz-date": amzDate };
    const signed = Object.keys(headers).sort();
    const canonical = [method, url.pathname, query, ...signed.map((h) => `${h}:${headers[h]}`), "", signed.join(";"), payloadHash].join("\n");
    const scope = `${day}/${REGION}/s3/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
    const key = hmac(hmac(hmac(hmac(`AWS4${instance.root.secretAccessKey}`, day), REGION), "s3"), "aws4_request");
    const signature = createHmac("sha256", key).update(toSign).digest("hex");
    const res = await fetch(url, {
        method,
        headers: {
            "x-amz-content-sha256": payloadHash,
            "x-amz-date": amzDate,
            authorization: `AWS4-HMAC-SHA256 Credential=${instance.root.accessKeyId}/${scope}, SignedHeaders=${signed.join(";")}, Signature=${signature}`,
        },
        body,
    });
    return { status: res.status, text: await res.text() };
}

const xmlEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Creates an internal-IAM account with a chosen secret (role user), as `versitygw admin create-user` does. */
export async function createAccount(instance: Instance, access: string, secret: string): Promise<void> {
    const body = `<Account><Access>${xmlEscape(access)}</Access><Secret>${xmlEscape(secret)}</Secret><Role>user</Role><UserID>0</UserID><GroupID>0</GroupID><ProjectID>0</ProjectID></Account>`;
    const res = await adminRequest(instance, "PATCH", "/create-user", body);
    if (res.status >= 300) throw new Error(`create-user ${access} -> ${res.status} ${res.text.slice(0, 300)}`);
}

/** Changes an internal-IAM account's secret, as `versitygw admin update-user --secret` does. */
export async function updateSecret(instance: Instance, access: string, secret: string): Promise<void> {
    const res = await adminRequest(
        instance,
        "PATCH",
        `/update-user?access=${encodeURIComponent(access)}`,
        `<MutableProps><Secret>${xmlEscape(secret)}</Secret></MutableProps>`,
    );
    if (res.status >= 300) throw new Error(`update-user ${access} -> ${res.status} ${res.text.slice(0, 300)}`);
}
