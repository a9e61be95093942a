/**
 * The Pulumi engine settings the platform runs every stack with: the region
 * runner (core/region.ts: `tenantctl up|preview|refresh --region`, reshard,
 * the benches) and the webhook service's deployer (core/deployer.ts). Chosen
 * with `tenantctl bench-engine` (README, "Region shards", "Engine
 * settings"). A value set in this process's environment or by the caller
 * wins, so each can still be measured or switched off.
 */

import * as os from "node:os";
import * as path from "node:path";

/** Node's on-disk compile cache for the program's modules (NODE_COMPILE_CACHE), shared by every stack run of this user. */
export const NODE_COMPILE_CACHE_DIR = path.join(os.homedir(), ".cache", "collectverything", "node-compile-cache");

/** Environment of every pulumi CLI run, unless already set. */
export const ENGINE_SETTINGS: Readonly<Record<string, string>> = {
    // Diffs of a stack's resources in parallel (the no-op preview; measured 30.0 -> 18.8 s at 50 tenants over 4 shards, within this machine's noise).
    PULUMI_PARALLEL_DIFF: "true",
    // Checkpoints written gzip-compressed: 14x smaller (0.98 -> 0.07 MB for a 12-tenant shard) for the same CPU; a self-managed backend
    // reads an existing uncompressed checkpoint and rewrites it compressed, and reads compressed ones with the setting off.
    PULUMI_DIY_BACKEND_GZIP: "true",
    // The program's node process reuses V8's compiled code of the SDK and providers' modules from one run to the next
    // (Node >= 22.1; keyed by each file's content, so a changed file is compiled again): measured 11.5 -> 10.4 CPU s for a
    // no-op preview of a 12-tenant shard. tsconfig.json's "ts-node": { "swc": true } is the other half of the program's start.
    NODE_COMPILE_CACHE: NODE_COMPILE_CACHE_DIR,
};

/** `envVars` with every engine setting that neither it nor this process's environment sets. */
export function withEngineSettings(envVars: Readonly<Record<string, string>> = {}, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
    const out: Record<string, string> = { ...envVars };
    for (const [k, v] of Object.entries(ENGINE_SETTINGS)) if (out[k] === undefined && env[k] === undefined) out[k] = v;
    return out;
}

/** The engine settings in effect for `envVars` (those of ENGINE_SETTINGS and the measured variables that are set), as `K=V` words. */
export function effectiveSettings(envVars: Readonly<Record<string, string>>, names: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
    const all = { ...Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)), ...envVars } as Record<string, string>;
    return [...new Set([...Object.keys(ENGINE_SETTINGS), ...names])].filter((k) => all[k] !== undefined).map((k) => `${k}=${all[k]}`);
}
