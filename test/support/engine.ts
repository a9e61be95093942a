/**
 * Engine-test harness: the real Pulumi engine (Automation API, LocalWorkspace
 * over the project directory) on the `local` stack against the loopback
 * control plane of `make local-up`.
 *
 * Each test file gets its own file:// backend in a temp directory and its
 * own copy of the stack's settings (Pulumi.local.yaml plus the manifest path
 * and the passphrase salt), passed to every operation with --config-file, so
 * a run never writes into the repository.
 */
import { LocalWorkspace, type EngineEvent, type OpType, type Stack } from "@pulumi/pulumi/automation";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SHARED_NAMESPACE } from "../../lib/naming";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { KubeClient, paths } from "./k8s";

export const REPO_ROOT = path.resolve(__dirname, "../..");
export const STACK = "local";
export const PROJECT = "tenant-platform";
/** The documented passphrase of the local stack (Pulumi.local.yaml, README "Local stack"). */
export const LOCAL_PASSPHRASE = "local-only-passphrase";
/** Generous: the first `up` of a region builds ~70 resources and loads the provider plugin. */
export const HOOK_TIMEOUT_MS = 10 * 60_000;

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

export interface EngineEnv {
    /** Environment of every Pulumi CLI call (also applied to this process, for the Automation API's own `pulumi version`). */
    readonly envVars: Record<string, string>;
    readonly kubeconfig: string;
}

/**
 * The environment for the Pulumi CLI: .work/toolchain.env (pulumi, the
 * language host, PULUMI_HOME with the kubernetes plugin), the project's Node
 * first on PATH (the language host runs `node`), .work/local.env (KUBECONFIG).
 * Throws with the fix when the toolchain or the control plane is missing.
 */
export function engineEnv(backendDir: string): EngineEnv {
    const toolchainFile = path.join(REPO_ROOT, ".work", "toolchain.env");
    const localFile = path.join(REPO_ROOT, ".work", "local.env");
    if (!fs.existsSync(localFile)) throw new Error(`${localFile} is missing. Fix: run \`make local-up\` first.`);
    let merged: Record<string, string | undefined> = { ...process.env };
    if (fs.existsSync(toolchainFile)) merged = sourcedEnv(toolchainFile, merged);
    merged = sourcedEnv(localFile, merged);
    const nodeDir = execFileSync("bash", [path.join(REPO_ROOT, "scripts", "ensure-node.sh")], { encoding: "utf8" }).trim();
    merged.PATH = `${nodeDir}:${merged.PATH ?? ""}`;
    const kubeconfig = merged.KUBECONFIG ?? path.join(REPO_ROOT, ".work", "kubeconfig");
    const envVars: Record<string, string> = {
        PATH: merged.PATH,
        KUBECONFIG: kubeconfig,
        PULUMI_BACKEND_URL: `file://${backendDir}`,
        PULUMI_CONFIG_PASSPHRASE: LOCAL_PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    };
    if (merged.PULUMI_HOME) envVars.PULUMI_HOME = merged.PULUMI_HOME;
    // The Automation API runs `pulumi version` with this process's PATH.
    Object.assign(process.env, envVars);
    try {
        execFileSync("pulumi", ["version"], { env: process.env, stdio: "pipe" });
    } catch {
        throw new Error(`no pulumi on PATH (read ${toolchainFile}). Fix: run \`make toolchain\` (scripts/bootstrap-toolchain.sh) first.`);
    }
    return { envVars, kubeconfig };
}

function readSalt(file: string): string | undefined {
    if (!fs.existsSync(file)) return undefined;
    return ((parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { encryptionsalt?: string }).encryptionsalt;
}

/** The stack settings of the local stack with `manifest` set, plus the passphrase salt: the --config-file. */
function writeConfigFile(file: string, manifest: string, encryptionSalt: string): void {
    const settings = (parseYaml(fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${STACK}.yaml`), "utf8")) ?? {}) as { config?: Record<string, unknown>; encryptionsalt?: string };
    settings.config = { ...(settings.config ?? {}), [`${PROJECT}:manifest`]: manifest };
    settings.encryptionsalt = encryptionSalt;
    fs.writeFileSync(file, stringifyYaml(settings));
}

export interface ChangeLog {
    /** URN -> every step op the engine reported for it (resourcePreEvent). */
    readonly ops: Map<string, OpType[]>;
    readonly onEvent: (e: EngineEvent) => void;
}

export function changeLog(): ChangeLog {
    const ops = new Map<string, OpType[]>();
    return {
        ops,
        onEvent: (e: EngineEvent) => {
            const m = e.resourcePreEvent?.metadata;
            if (m) ops.set(m.urn, [...(ops.get(m.urn) ?? []), m.op]);
        },
    };
}

/** The URNs whose ops include anything but `same`, with those ops. */
export function changedUrns(log: ChangeLog): Record<string, OpType[]> {
    return Object.fromEntries([...log.ops].filter(([, ops]) => ops.some((op) => op !== "same")));
}

/** One test file's deployment: a temp dir holding the backend, the manifest and the config file. */
export class EngineFixture {
    readonly dir: string;
    readonly manifest: string;
    readonly configFile: string;
    readonly kube: KubeClient;
    private stackRef?: Stack;
    /** The same stack seen from the scratch init dir: state export/import there never touch the repository. */
    private initStackRef?: Stack;
    private envRef?: EngineEnv;

    constructor(label: string) {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `cv-engine-${label}-`));
        this.manifest = path.join(this.dir, "tenants.yaml");
        this.configFile = path.join(this.dir, `Pulumi.${STACK}.yaml`);
        fs.mkdirSync(path.join(this.dir, "backend"));
        this.kube = new KubeClient(path.join(REPO_ROOT, ".work", "kubeconfig"));
    }

    get stack(): Stack {
        if (!this.stackRef) throw new Error("EngineFixture.init() has not run");
        return this.stackRef;
    }

    /** The options every stack operation gets: our config file, and a quiet log. */
    get opts(): { configFile: string; color: "never" } {
        return { configFile: this.configFile, color: "never" };
    }

    /**
     * Writes the manifest, creates the `local` stack in this fixture's backend
     * and selects it over the project directory. The stack is created from a
     * scratch copy of Pulumi.yaml so that `stack init` writes its passphrase
     * salt there, never into the repository's Pulumi.local.yaml.
     */
    async init(manifestYaml: string): Promise<void> {
        fs.writeFileSync(this.manifest, manifestYaml);
        this.envRef = engineEnv(path.join(this.dir, "backend"));
        const initDir = path.join(this.dir, "init");
        fs.mkdirSync(initDir);
        fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), path.join(initDir, "Pulumi.yaml"));
        // A salt committed in Pulumi.local.yaml is reused, so the project directory and the state agree.
        const repoSalt = readSalt(path.join(REPO_ROOT, `Pulumi.${STACK}.yaml`));
        if (repoSalt) fs.writeFileSync(path.join(initDir, `Pulumi.${STACK}.yaml`), stringifyYaml({ encryptionsalt: repoSalt }));
        this.initStackRef = await LocalWorkspace.createStack({ stackName: STACK, workDir: initDir }, { envVars: this.envRef.envVars, secretsProvider: "passphrase" });
        const salt = readSalt(path.join(initDir, `Pulumi.${STACK}.yaml`));
        if (!salt) throw new Error(`stack init wrote no encryptionsalt into ${initDir}`);
        writeConfigFile(this.configFile, this.manifest, salt);
        this.stackRef = await LocalWorkspace.selectStack({ stackName: STACK, workDir: REPO_ROOT }, { envVars: this.envRef.envVars });
        // up/refresh/destroy end with info() (`pulumi stack history`), and callers read outputs(); in the
        // project directory those commands write the state's passphrase salt into Pulumi.local.yaml.
        // Both only read the backend's state: read it through the scratch workspace instead.
        const viewer = this.initStackRef;
        this.stackRef.info = viewer.info.bind(viewer);
        this.stackRef.outputs = viewer.outputs.bind(viewer);
    }

    /** Replaces the manifest the next operation reads. */
    setManifest(manifestYaml: string): void {
        fs.writeFileSync(this.manifest, manifestYaml);
    }

    /**
     * Removes everything this fixture deployed: every resource unprotected in
     * the state, `destroy`, and a wait until the namespaces are gone, so the
     * next test file starts from an empty cluster. Call assertClusterFree()
     * before init(): the namespaces are deleted directly only once init() ran. The state is exported and
     * imported through the scratch init dir: `stack import` in the project
     * directory would write the passphrase salt into Pulumi.local.yaml.
     */
    async teardown(namespaces: readonly string[]): Promise<void> {
        try {
            if (this.stackRef && this.initStackRef) {
                const deployment = await this.initStackRef.exportStack();
                const resources = (deployment.deployment as { resources?: { protect?: boolean }[] }).resources ?? [];
                for (const r of resources) r.protect = false;
                await this.initStackRef.importStack(deployment);
                await this.stackRef.destroy({ ...this.opts });
            }
        } finally {
            // Whatever the engine left (or never tracked): delete it directly, but only when this
            // fixture got as far as creating its stack. A fixture whose beforeAll stopped earlier
            // (e.g. assertClusterFree found another run's namespaces) owns nothing in the cluster.
            if (this.stackRef) {
                for (const ns of namespaces) await this.kube.request("DELETE", paths.namespace(ns));
                for (const ns of namespaces) await this.kube.waitGone(paths.namespace(ns));
            }
            fs.rmSync(this.dir, { recursive: true, force: true });
        }
    }
}

/** The eu-west tenants of the repository's tenants.yaml, reordered or edited by the callers. */
export function repoManifest(): string {
    return fs.readFileSync(path.join(REPO_ROOT, "tenants.yaml"), "utf8");
}

/** A manifest holding the given tenant entries of tenants.yaml, in the given order, each optionally patched. */
export function manifestOf(ids: readonly string[], patch: Record<string, Record<string, unknown>> = {}): string {
    const doc = parseYaml(repoManifest()) as { tenants: Record<string, unknown>[] };
    const tenants = ids.map((id) => {
        const t = doc.tenants.find((x) => x.id === id);
        if (!t) throw new Error(`tenants.yaml has no tenant ${id}`);
        return { ...t, ...(patch[id] ?? {}) };
    });
    return stringifyYaml({ tenants });
}

/** Fails with the namespaces that already exist: another run (or a crashed one) holds the cluster. */
export async function assertClusterFree(kube: KubeClient, namespaces: readonly string[]): Promise<void> {
    const taken: string[] = [];
    // The region's shared namespace may be left by another test file; `up` adopts it (server-side apply).
    for (const ns of namespaces.filter((n) => n !== SHARED_NAMESPACE)) {
        if ((await kube.request("GET", paths.namespace(ns))).status !== 404) taken.push(ns);
    }
    if (taken.length > 0) {
        throw new Error(
            `namespaces ${taken.join(", ")} already exist in the local control plane: another engine run is using it, or a crashed one left them. ` +
                "Fix: wait for the other run, or delete them (`kubectl --kubeconfig .work/kubeconfig delete ns ...`).",
        );
    }
}
