/** `tenantctl serve`: the service on the real engine, with signal handling. */
import * as path from "node:path";
import pino from "pino";
import type { ServeOptions } from "../cli/serviceCommands";
import { PROJECT_DIR, readSecrets } from "../cli/serviceCommands";
import { PulumiDeployer } from "../core/deployer";
import { createService } from "./service";

export async function serve(opts: ServeOptions): Promise<void> {
    const log = pino({ level: process.env.LOG_LEVEL ?? "info", redact: { paths: ["secrets", "*.secrets", "headers.billing-signature"], censor: "[redacted]" } });
    const secrets = readSecrets(process.env, opts.secretsFile);
    if (secrets.length === 0) {
        process.stderr.write("tenantctl serve: no webhook secret. Fix: set WEBHOOK_SECRET (and WEBHOOK_SECRET_PREVIOUS while rotating) or pass --secrets-file.\n");
        process.exit(1);
    }
    const manifestPath = path.resolve(PROJECT_DIR, opts.manifest);
    const storePath = path.resolve(PROJECT_DIR, opts.store);
    const envVars: Record<string, string> = {};
    for (const key of ["PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_HOME", "KUBECONFIG", "PATH"]) {
        const v = process.env[key];
        if (v !== undefined) envVars[key] = v;
    }
    const deployer = new PulumiDeployer({ projectDir: PROJECT_DIR, manifestPath, stateDir: path.dirname(storePath), envVars, targetMode: opts.target });
    const svc = await createService({
        manifestPath,
        storePath,
        deployer,
        secrets,
        stacks: opts.stack,
        brokerUrl: process.env.BROKER_URL || undefined,
        eventsUrl: process.env.EVENTS_URL || undefined,
        logger: log,
        runner: { maxAttempts: opts.maxAttempts, timeoutMs: opts.timeoutMinutes * 60_000 },
    });
    await svc.app.listen({ host: opts.host, port: opts.port });
    log.info(
        { manifest: manifestPath, store: storePath, stacks: opts.stack, queue: svc.queue.kind, secrets: secrets.length, target: opts.target },
        "billing-webhook service listening",
    );
    let stopping = false;
    const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, "stopping: running updates are interrupted and resume on restart");
        svc.close().then(
            () => process.exit(0),
            (err: unknown) => {
                log.error({ err: String(err) }, "shutdown failed");
                process.exit(1);
            },
        );
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
}
