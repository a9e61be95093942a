/**
 * The service in a child process of its own (kill -9 able), for the restart
 * and broker tests: `tenantctl serve --fake-deployer`, started by the one
 * launcher (service/launch.ts). Configured with the variables the tests set:
 *   CV_MANIFEST   the manifest to edit (a copy)           required
 *   CV_STORE      the SQLite store                         required
 *   CV_FAKE_LOG   the fake deployer's journal (start/done lines)
 *   CV_DELAY_MS   duration of a fake deployment            500
 *   CV_STACKS     JSON region -> stack
 *   BROKER_URL    RabbitMQ job queues and events
 */
import { launchFakeService } from "../../service/launch";
import { SECRET, STATUS_TOKEN } from "./service";

export interface FakeProcess {
    readonly baseUrl: string;
    readonly statusToken: string;
    readonly pid: number;
    readonly exited: Promise<unknown>;
    /** SIGKILL: no shutdown code runs. */
    kill(): void;
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await check())) {
        if (Date.now() > end) throw new Error("timed out waiting");
        await new Promise((r) => setTimeout(r, 50));
    }
}

function required(env: Record<string, string>, name: string): string {
    const v = env[name];
    if (!v) throw new Error(`startFakeProcess: ${name} is required`);
    return v;
}

export async function startFakeProcess(_dir: string, env: Record<string, string>): Promise<FakeProcess> {
    return launchFakeService({
        manifest: required(env, "CV_MANIFEST"),
        store: required(env, "CV_STORE"),
        secret: SECRET,
        statusToken: STATUS_TOKEN,
        journal: env.CV_FAKE_LOG,
        delayMs: Number(env.CV_DELAY_MS ?? "500"),
        stacks: env.CV_STACKS ? (JSON.parse(env.CV_STACKS) as Record<string, string>) : undefined,
        brokerUrl: env.BROKER_URL,
        jobLeaseMs: env.CV_JOB_LEASE_MS ? Number(env.CV_JOB_LEASE_MS) : undefined,
        logLevel: process.env.CV_TEST_LOG ?? "silent",
        onLog: process.env.CV_TEST_LOG ? (line) => process.stderr.write(`${line}\n`) : undefined,
    });
}
