/**
 * The environment of the Pulumi CLI for the `local` stack on the loopback
 * control plane of `make local-up`: the toolchain (.work/toolchain.env:
 * pulumi, the language host, PULUMI_HOME with the kubernetes plugin), the
 * project's Node first on PATH (the language host runs `node`), the control
 * plane (.work/local.env: KUBECONFIG), a backend and the documented local
 * passphrase. One definition for the engine tests and the benches.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_DIR } from "./project";

/** The documented passphrase of the local stack (Pulumi.local.yaml, README "Local stack"). */
export const LOCAL_PASSPHRASE = "local-only-passphrase";

/**
 * The environment after sourcing a generated env file (toolchain.env is shell
 * code: a `case` guarding PATH, then `export` lines), starting from `base`.
 */
function sourcedEnv(file: string, base: NodeJS.ProcessEnv): Record<string, string> {
    const out = execFileSync("bash", ["-c", 'set -a; . "$1" >/dev/null; env -0', "sourced-env", file], { env: base, encoding: "utf8" });
    const values: Record<string, string> = {};
    for (const entry of out.split("\0")) {
        const eq = entry.indexOf("=");
        if (eq > 0) values[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    return values;
}

export interface LocalEnv {
    /** Environment of every Pulumi CLI call. */
    readonly envVars: Record<string, string>;
    readonly kubeconfig: string;
}

/**
 * The local stack's Pulumi environment with a file:// backend in `backendDir`.
 * Also applied to this process (the Automation API runs `pulumi version` with
 * this process's PATH). Throws with the fix when the toolchain or the control
 * plane is missing.
 */
export function localPulumiEnv(backendDir: string, projectDir = PROJECT_DIR): LocalEnv {
    const toolchainFile = path.join(projectDir, ".work", "toolchain.env");
    const localFile = path.join(projectDir, ".work", "local.env");
    if (!fs.existsSync(localFile)) throw new Error(`${localFile} is missing. Fix: run \`make local-up\` first.`);
    let merged: Record<string, string | undefined> = { ...process.env };
    if (fs.existsSync(toolchainFile)) merged = sourcedEnv(toolchainFile, merged);
    merged = sourcedEnv(localFile, merged);
    const nodeDir = execFileSync("bash", [path.join(projectDir, "scripts", "ensure-node.sh")], { encoding: "utf8" }).trim();
    merged.PATH = `${nodeDir}:${merged.PATH ?? ""}`;
    const kubeconfig = merged.KUBECONFIG ?? path.join(projectDir, ".work", "kubeconfig");
    const envVars: Record<string, string> = {
        PATH: merged.PATH,
        KUBECONFIG: kubeconfig,
        PULUMI_BACKEND_URL: `file://${backendDir}`,
        PULUMI_CONFIG_PASSPHRASE: LOCAL_PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    };
    if (merged.PULUMI_HOME) envVars.PULUMI_HOME = merged.PULUMI_HOME;
    Object.assign(process.env, envVars);
    try {
        execFileSync("pulumi", ["version"], { env: process.env, stdio: "pipe" });
    } catch {
        throw new Error(`no pulumi on PATH (read ${toolchainFile}). Fix: run \`make toolchain\` (scripts/bootstrap-toolchain.sh) first.`);
    }
    return { envVars, kubeconfig };
}
