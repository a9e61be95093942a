/** Starts test/unit/automation/fixtures/serveFake.ts as a child process (kill -9 able). */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface FakeProcess {
    readonly baseUrl: string;
    readonly pid: number;
    readonly exited: Promise<void>;
    /** SIGKILL: no shutdown code runs. */
    kill(): void;
}

const ROOT = path.resolve(__dirname, "../../..");

export async function waitFor(check: () => boolean, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!check()) {
        if (Date.now() > end) throw new Error("timed out waiting");
        await new Promise((r) => setTimeout(r, 50));
    }
}

export async function startFakeProcess(dir: string, env: Record<string, string>): Promise<FakeProcess> {
    const portFile = path.join(dir, `port-${Date.now()}`);
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "test/unit/automation/fixtures/serveFake.ts")], {
        cwd: ROOT,
        env: { ...process.env, ...env, CV_PORT_FILE: portFile },
        stdio: ["ignore", "inherit", "inherit"],
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    await waitFor(() => fs.existsSync(portFile) && fs.readFileSync(portFile, "utf8") !== "", 30_000);
    const port = fs.readFileSync(portFile, "utf8");
    return { baseUrl: `http://127.0.0.1:${port}`, pid: child.pid!, exited, kill: () => child.kill("SIGKILL") };
}
