/** The webhook secrets and the status tokens of the service process, from its environment or files. Never logged. */
import * as fs from "node:fs";

/** The values of a file (one a line), of a comma-separated variable and of single-value variables, trimmed, blanks and repeats dropped, in that order. */
function collect(file: string | undefined, list: string | undefined, singles: readonly (string | undefined)[]): string[] {
    const out: string[] = [];
    if (file) out.push(...fs.readFileSync(file, "utf8").split(/\r?\n/));
    if (list) out.push(...list.split(","));
    for (const value of singles) if (value) out.push(value);
    return [...new Set(out.map((s) => s.trim()).filter((s) => s !== ""))];
}

/**
 * The webhook secrets: WEBHOOK_SECRETS (comma-separated; current first), or
 * WEBHOOK_SECRET plus WEBHOOK_SECRET_PREVIOUS during a rotation, or a file
 * with one secret per line (`serve --secrets-file`).
 */
export function readSecrets(env: NodeJS.ProcessEnv, file?: string): string[] {
    return collect(file, env.WEBHOOK_SECRETS, [env.WEBHOOK_SECRET, env.WEBHOOK_SECRET_PREVIOUS]);
}

/**
 * The status endpoints' bearer tokens: STATUS_TOKENS (comma-separated) or
 * STATUS_TOKEN, or a file with one token per line (`serve
 * --status-token-file`). Several may be active at once, for a rotation.
 */
export function readStatusTokens(env: NodeJS.ProcessEnv, file?: string): string[] {
    return collect(file, env.STATUS_TOKENS, [env.STATUS_TOKEN]);
}
