/** The webhook secrets of the service process, from its environment or a file. Never logged. */
import * as fs from "node:fs";

/**
 * The webhook secrets: WEBHOOK_SECRETS (comma-separated; current first), or
 * WEBHOOK_SECRET plus WEBHOOK_SECRET_PREVIOUS during a rotation, or a file
 * with one secret per line (`serve --secrets-file`).
 */
export function readSecrets(env: NodeJS.ProcessEnv, file?: string): string[] {
    const out: string[] = [];
    if (file) out.push(...fs.readFileSync(file, "utf8").split(/\r?\n/));
    if (env.WEBHOOK_SECRETS) out.push(...env.WEBHOOK_SECRETS.split(","));
    if (env.WEBHOOK_SECRET) out.push(env.WEBHOOK_SECRET);
    if (env.WEBHOOK_SECRET_PREVIOUS) out.push(env.WEBHOOK_SECRET_PREVIOUS);
    return [...new Set(out.map((s) => s.trim()).filter((s) => s !== ""))];
}
