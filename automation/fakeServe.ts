/**
 * The webhook service on a fake deployer, as its own process: the load
 * target of `tenantctl bench-webhooks` (the load generator must not share the
 * service's event loop) and of scripts/schemathesis.sh (fuzzed events must
 * never reach a real stack). Deployments "succeed" after CV_DELAY_MS.
 *
 *   CV_MANIFEST   the manifest to edit (a copy: it is changed)   required
 *   CV_STORE      the SQLite store                                required
 *   WEBHOOK_SECRET / WEBHOOK_SECRETS                              required
 *   CV_HOST       listen address                                  127.0.0.1
 *   CV_PORT       listen port (0: any free port)                  0
 *   CV_DELAY_MS   duration of a fake deployment                   1000
 *   LOG_LEVEL     pino level                                      error
 *
 * Prints one JSON line `{"port":<port>,"pid":<pid>}` on stdout once
 * listening; SIGTERM/SIGINT close it cleanly.
 */
import pino from "pino";
import { readSecrets } from "./commands";
import { FakeDeployer } from "./deployer";
import { createService } from "./service";

function required(name: string): string {
    const v = process.env[name];
    if (!v) {
        process.stderr.write(`fakeServe: ${name} is not set\n`);
        process.exit(2);
    }
    return v;
}

async function main(): Promise<void> {
    const secrets = readSecrets(process.env);
    if (secrets.length === 0) required("WEBHOOK_SECRET");
    const svc = await createService({
        manifestPath: required("CV_MANIFEST"),
        storePath: required("CV_STORE"),
        deployer: new FakeDeployer({ delayMs: Number(process.env.CV_DELAY_MS ?? "1000") }),
        secrets,
        logger: pino({ level: process.env.LOG_LEVEL ?? "error" }),
    });
    await svc.app.listen({ host: process.env.CV_HOST ?? "127.0.0.1", port: Number(process.env.CV_PORT ?? "0") });
    const address = svc.app.server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0, pid: process.pid })}\n`);
    let closing = false;
    const stop = () => {
        if (closing) return;
        closing = true;
        svc.close().then(
            () => process.exit(0),
            () => process.exit(1),
        );
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

void main();
