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
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LOCAL_PASSPHRASE, localPulumiEnv, type LocalEnv } from "../../core/localEnv";
import { PROJECT_DIR, PROJECT_NAME } from "../../core/project";
import { SHARED_NAMESPACE } from "../../lib/naming";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { KubeClient, paths } from "./k8s";

export const REPO_ROOT = PROJECT_DIR;
export const STACK = "local";
export const PROJECT = PROJECT_NAME;
export { LOCAL_PASSPHRASE };
/** Generous: the first `up` of a region builds ~70 resources and loads the provider plugin. */
export const HOOK_TIMEOUT_MS = 10 * 60_000;

export type EngineEnv = LocalEnv;

/** The local stack's environment over a test file's own backend (core/localEnv.ts). */
export function engineEnv(backendDir: string): EngineEnv {
    return localPulumiEnv(backendDir, REPO_ROOT);
}

function readSalt(file: string): string | undefined {
    if (!fs.existsSync(file)) return undefined;
    return ((parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { encryptionsalt?: string }).encryptionsalt;
}

/** The stack settings of the local stack with `manifest` set, plus the passphrase salt: the --config-file. */
function writeConfigFile(file: string, manifest: string, encryptionSalt: string): void {
    const settings = (parseYaml(fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${STACK}.yaml`), "utf8")) ?? {}) as {
        config?: Record<string, unknown>;
        encryptionsalt?: string;
    };
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
        this.initStackRef = await LocalWorkspace.createStack(
            { stackName: STACK, workDir: initDir },
            { envVars: this.envRef.envVars, secretsProvider: "passphrase" },
        );
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
