/**
 * A whole region on the real engine (README, "Region shards"): the region
 * stack `<R>` and, when its `tenant-platform:shards` is K > 1, the shard
 * stacks `<R>-s00` … `<R>-s<K-1>`. `tenantctl up|preview|refresh --region R`
 * (cli/region.ts) runs every stack of it; `tenantctl reshard` (cli/shards.ts)
 * moves tenants between them.
 *
 * Every stack runs the project directory's program through LocalWorkspace
 * (never an inline copy), with `--config-file` pointing at settings generated
 * for this run from the region's own file (Pulumi.<R>.yaml): a shard stack has
 * no settings file of its own, and nothing is ever written into the project
 * directory.
 *  - Each stack has a scratch workspace under the run's work dir: a copy of
 *    Pulumi.yaml and a Pulumi.<stack>.yaml holding only the stack's
 *    secrets-provider keys. `stack init`, export, import and `state move` run
 *    there, so the keys `stack init` writes land there.
 *  - A shard is created with its region's secrets-provider keys when the
 *    region's file holds them (the passphrase salt; a KMS provider and its
 *    encrypted data key): the region's `secure:` values are then valid for the
 *    shard as they are, and a platform engineer can run
 *    `pulumi preview --stack <R>-s03 --config-file Pulumi.<R>.yaml` by hand.
 *    When the keys are not in the file (Pulumi Cloud's per-stack keys), the
 *    region's secrets are decrypted through the region stack and re-encrypted
 *    for the shard in its scratch workspace.
 *  - The program runs over the project directory with `showSecrets: false`:
 *    `stack history --show-secrets` there would write a settings file for a
 *    shard into the repository.
 */
import { LocalWorkspace, type ConfigMap, type Deployment, type EngineEvent, type Stack } from "@pulumi/pulumi/automation";
import { rootPulumiStackTypeName } from "@pulumi/pulumi/runtime/stack";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, parseDocument, stringify as stringifyYaml } from "yaml";
import type { TenantSpec } from "../lib/manifest";
import { parseLocks, type PendingOperation } from "../lib/crashRecovery";
import { failureReason } from "../lib/engineErrors";
import { lockRemovedLine, processAlive, repairPendingOperations, staleLocks } from "./crashRepair";
import { withEngineSettings } from "./engineSettings";
import { parseShardStack, reshardPlan, stackOfShard, shardStackName, type ShardMove } from "../lib/shards";
import { TENANT_TYPE } from "../lib/tokens";
import { CONFIG_NAMESPACE, type StackConfig } from "../stacks/config";
import { loadManifest } from "./manifestSource";
import { PROJECT_DIR } from "./project";
import { loadStackConfig, stackFilePath, stackRole } from "./stackFile";

export const REGION_OPS = ["up", "preview", "refresh"] as const;
export type RegionOp = (typeof REGION_OPS)[number];

/** The keys of a stack settings file that belong to its secrets provider (written by `pulumi stack init`). */
const SECRETS_KEYS = ["secretsprovider", "encryptedkey", "encryptionsalt"] as const;

/** Steps that change something, as opposed to `same` (and reads). */
const NO_CHANGE_OPS = new Set(["same", "read"]);

export class RegionError extends Error {
    override readonly name = "RegionError";
}

export interface RegionOptions {
    /** The region stack: the stack whose settings file describes the region (`eu-west`, `local`). */
    readonly regionStack: string;
    /** The region's settings file. Default: `<projectDir>/Pulumi.<regionStack>.yaml`. Reshard writes the shard count into it. */
    readonly settingsFile?: string;
    /** A manifest to deploy instead of the region's `tenant-platform:manifest`. */
    readonly manifest?: string;
    /** Environment for the pulumi CLI on top of this process's (backend URL, passphrase, KUBECONFIG). */
    readonly envVars?: Readonly<Record<string, string>>;
    /** The Pulumi project directory. Default: this repository. */
    readonly projectDir?: string;
    /** Where the scratch workspaces and generated settings go. Default: a temp dir, removed by close(). */
    readonly workDir?: string;
}

/** One stack's live progress. */
export interface StackProgress {
    readonly stack: string;
    readonly state: "queued" | "running" | "succeeded" | "failed";
    /** Resource steps finished (resOutputsEvent or resOpFailedEvent, one per URN). */
    readonly done: number;
    /** The resources the stack held before this run (`pulumi stack ls`); undefined for a stack without state. */
    readonly total?: number;
    /** Why it failed (state "failed"). */
    readonly error?: string;
}

/** One stack's result. */
export interface StackOutcome {
    readonly stack: string;
    readonly result: "succeeded" | "failed";
    /** Resource steps by operation, as the engine's summary reports them, without zeroes. */
    readonly changes: Readonly<Record<string, number>>;
    readonly seconds: number;
    /** Why it failed: the engine's first error diagnostic, or the end of the CLI's output. */
    readonly error?: string;
    /** URN -> operations of every step that is not `same`, except the root stack's (its outputs). */
    readonly changed: Readonly<Record<string, string[]>>;
    /**
     * What the run repaired before the stack's operation succeeded, one line
     * each: a lock left by a crashed update removed with `pulumi cancel`,
     * pending operations resolved with `pulumi refresh` (lib/crashRecovery.ts).
     * Empty when nothing needed repair.
     */
    readonly recovered: readonly string[];
}

export interface RunOptions {
    /** How many stacks run at the same time. Default: the CPU count. */
    readonly parallel?: number;
    readonly onProgress?: (p: StackProgress) => void;
    /** Run only these stacks of the region (in this order). Default: every stack of the region. */
    readonly stacks?: readonly string[];
    /** Policy packs every `up` and `preview` runs under (`--policy-pack`), e.g. the repository's `policy`. */
    readonly policyPacks?: readonly string[];
    /** Resource operations in parallel within one stack's update (`pulumi up --parallel`). Default: the CLI's. */
    readonly engineParallel?: number;
}

export interface ReshardOptions {
    readonly toShards: number;
    /**
     * Writes the new layout into the repository's files: the shard count into
     * the region's settings file and every tenant's `shard` pin into the
     * manifest. Called once every tenant's state is in its new stack.
     */
    readonly writeLayout: (toShards: number, pins: ReadonlyMap<string, number>) => void | Promise<void>;
    readonly onStep?: (message: string) => void;
    readonly parallel?: number;
    readonly onProgress?: (p: StackProgress) => void;
}

export interface ReshardResult {
    /** The moves done in this run (from the state, not from the config). */
    readonly moved: readonly ShardMove[];
    /** Tenants found recorded in two stacks (a `state move` interrupted between its two saves), and the stack their extra record was removed from. */
    readonly repaired: readonly { readonly tenant: string; readonly stack: string }[];
    /** Stacks beyond the new count, removed once empty. */
    readonly removedStacks: readonly string[];
    /** The final preview of every stack of the region. */
    readonly previews: readonly StackOutcome[];
    /** Why the reshard is not clean; empty when every preview shows nothing to do. */
    readonly problems: readonly string[];
}

/** The stacks of a region with `shards` shards: the region stack, then its shard stacks. */
export function regionStacks(regionStack: string, shards: number): string[] {
    return [regionStack, ...(shards > 1 ? Array.from({ length: shards }, (_, i) => shardStackName(regionStack, i)) : [])];
}

/** Whether `stack` is the region stack `regionStack` or one of its shard stacks. */
export function isRegionStack(regionStack: string, stack: string): boolean {
    return stack === regionStack || parseShardStack(stack)?.regionStack === regionStack;
}

/** A resource of an exported deployment, as far as reshard reads it. */
export interface StateResource {
    readonly urn: string;
    readonly type: string;
    readonly parent?: string;
    outputs?: Record<string, unknown>;
}

interface DeploymentBody {
    resources?: StateResource[];
    pending_operations?: PendingOperation[];
}

function body(d: Deployment): DeploymentBody {
    return d.deployment as DeploymentBody;
}

/**
 * The tenants a stack's state holds: tenant id -> the URNs of its Tenant
 * component and of every resource below it (children, grandchildren …), in
 * state order. A `state move` of exactly these URNs moves the whole tree.
 */
export function tenantTrees(resources: readonly StateResource[]): Map<string, string[]> {
    const root = resources.find((r) => r.type === rootPulumiStackTypeName && !r.parent)?.urn;
    const children = new Map<string, string[]>();
    for (const r of resources) if (r.parent) children.set(r.parent, [...(children.get(r.parent) ?? []), r.urn]);
    const order = new Map(resources.map((r, i) => [r.urn, i]));
    const trees = new Map<string, string[]>();
    for (const r of resources) {
        if (r.type !== TENANT_TYPE || r.parent !== root) continue;
        const tree: string[] = [];
        const queue = [r.urn];
        while (queue.length > 0) {
            const urn = queue.shift()!;
            tree.push(urn);
            queue.push(...(children.get(urn) ?? []));
        }
        trees.set(
            r.urn.slice(r.urn.lastIndexOf("::") + 2),
            tree.sort((a, b) => order.get(a)! - order.get(b)!),
        );
    }
    return trees;
}

/** The deployment without the given resources (and their pending operations): the repair of a half-done move. */
export function withoutResources(d: Deployment, urns: readonly string[]): Deployment {
    const drop = new Set(urns);
    const b = body(d);
    return {
        ...d,
        deployment: {
            ...b,
            resources: (b.resources ?? []).filter((r) => !drop.has(r.urn)),
            ...(b.pending_operations ? { pending_operations: b.pending_operations.filter((p) => !drop.has(p.resource.urn)) } : {}),
        },
    };
}

/**
 * Sets the root stack's `tenants` output (and `tenantCount`) to exactly the
 * tenants `held`, each with its entry from `entries`: the residency check of
 * every other stack reads that output, so it moves with the tenant's
 * resources. Returns undefined when nothing changes (or the state has no root
 * stack and holds no tenant).
 */
export function withTenantOutputs(d: Deployment, held: readonly string[], entries: ReadonlyMap<string, unknown>): Deployment | undefined {
    const resources = (body(d).resources ?? []).map((r) => ({ ...r }));
    const root = resources.find((r) => r.type === rootPulumiStackTypeName && !r.parent);
    if (!root) return undefined;
    const outputs = { ...(root.outputs ?? {}) };
    const before = outputs.tenants !== null && typeof outputs.tenants === "object" ? (outputs.tenants as Record<string, unknown>) : {};
    const tenants = Object.fromEntries([...held].sort().map((id) => [id, before[id] ?? entries.get(id) ?? {}]));
    if (JSON.stringify(tenants) === JSON.stringify(before) && outputs.tenantCount === held.length) return undefined;
    outputs.tenants = tenants;
    outputs.tenantCount = held.length;
    root.outputs = outputs;
    return { ...d, deployment: { ...body(d), resources } };
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async () => {
        while (next < items.length) await fn(items[next++]);
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

function readYaml(file: string): Record<string, unknown> {
    if (!fs.existsSync(file)) return {};
    return ((parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as Record<string, unknown>) ?? {};
}

function secretsKeys(settings: Record<string, unknown>): Record<string, unknown> {
    return Object.fromEntries(SECRETS_KEYS.filter((k) => settings[k] !== undefined && settings[k] !== null).map((k) => [k, settings[k]]));
}

/** The `secure:` entries of a settings file's config. */
function secureEntries(settings: Record<string, unknown>): Record<string, unknown> {
    const config = (settings.config ?? {}) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== null && typeof v === "object" && "secure" in v));
}

interface StackHandle {
    readonly name: string;
    /** The scratch workspace's directory. */
    readonly dir: string;
    /** The scratch workspace's Pulumi.<stack>.yaml: the stack's secrets-provider keys. */
    readonly settings: string;
    /** The generated settings every program run gets with --config-file. */
    readonly runFile: string;
    /** The stack over the scratch workspace: init, export, import, remove. */
    readonly scratch: Stack;
    /** The stack over the project directory: runs the program. */
    readonly program: Stack;
    /** Whether the region's `secure:` values are valid for this stack as they are. */
    readonly sharedKeys: boolean;
}

export class Region {
    readonly regionStack: string;
    readonly settingsFile: string;
    readonly projectDir: string;
    private workDirRef?: string;
    private readonly ownWorkDir: boolean;
    private readonly envVars: Record<string, string>;
    private readonly manifestOverride?: string;
    private configRef: StackConfig;
    private readonly handles = new Map<string, Promise<StackHandle>>();
    private regionSecrets?: Promise<ConfigMap>;

    constructor(opts: RegionOptions) {
        this.regionStack = opts.regionStack;
        this.projectDir = path.resolve(opts.projectDir ?? PROJECT_DIR);
        this.settingsFile = path.resolve(opts.settingsFile ?? stackFilePath(opts.regionStack, { projectDir: this.projectDir }));
        const role = stackRole(opts.regionStack, { projectDir: this.projectDir });
        if (role.kind === "shard") {
            throw new RegionError(
                `${opts.regionStack} is a shard stack of region ${role.regionStack}, not a region stack. Fix: use --region ${role.regionStack}`,
            );
        }
        this.configRef = this.readConfig();
        this.manifestOverride = opts.manifest === undefined ? undefined : path.resolve(opts.manifest);
        this.envVars = withEngineSettings(opts.envVars);
        this.ownWorkDir = opts.workDir === undefined;
        this.workDirRef = opts.workDir;
    }

    /** The scratch workspaces' parent directory, made on first use (reading the region's layout needs none). */
    get workDir(): string {
        this.workDirRef ??= fs.mkdtempSync(path.join(os.tmpdir(), `cv-region-${this.regionStack}-`));
        return this.workDirRef;
    }

    private readConfig(): StackConfig {
        return loadStackConfig(this.regionStack, { projectDir: this.projectDir, configFile: this.settingsFile });
    }

    /** The region's configuration, from its settings file. */
    get config(): StackConfig {
        return this.configRef;
    }

    /** The manifest the region's stacks deploy. */
    get manifestPath(): string {
        return this.manifestOverride ?? path.resolve(this.projectDir, this.config.manifest);
    }

    /** The stacks of the region under its current shard count: the region stack first. */
    stacks(shards = this.config.shards): string[] {
        return regionStacks(this.regionStack, shards);
    }

    /** The manifest's tenants of this region, in manifest order. */
    tenants(): TenantSpec[] {
        return loadManifest(this.manifestPath, { services: this.config.services }).tenants.filter((t) => t.region === this.config.region);
    }

    /** Removes the scratch workspaces (when this object made the work dir). */
    close(): void {
        if (this.ownWorkDir && this.workDirRef !== undefined) fs.rmSync(this.workDirRef, { recursive: true, force: true });
    }

    private handle(name: string): Promise<StackHandle> {
        let h = this.handles.get(name);
        if (!h) {
            h = this.openStack(name);
            h.catch(() => this.handles.delete(name));
            this.handles.set(name, h);
        }
        return h;
    }

    /** Selects the stack, creating it (in its scratch workspace) when the backend has none. */
    private async openStack(name: string): Promise<StackHandle> {
        const dir = path.join(this.workDir, "stacks", name);
        fs.mkdirSync(dir, { recursive: true });
        fs.copyFileSync(path.join(this.projectDir, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
        const settings = path.join(dir, `Pulumi.${name}.yaml`);
        const region = name === this.regionStack ? undefined : await this.handle(this.regionStack);
        const keys = secretsKeys(readYaml(region ? region.settings : this.settingsFile));
        if (!fs.existsSync(settings)) fs.writeFileSync(settings, Object.keys(keys).length > 0 ? stringifyYaml(keys) : "{}\n");
        const secretsProvider = typeof keys.secretsprovider === "string" ? keys.secretsprovider : undefined;
        const scratch = await LocalWorkspace.createOrSelectStack({ stackName: name, workDir: dir }, { envVars: this.envVars, secretsProvider });
        const program = await LocalWorkspace.selectStack({ stackName: name, workDir: this.projectDir }, { envVars: this.envVars });
        const own = secretsKeys(readYaml(settings));
        const sharedKeys = !region || (Object.keys(own).length > 0 && JSON.stringify(own) === JSON.stringify(secretsKeys(readYaml(region.settings))));
        const h: StackHandle = { name, dir, settings, runFile: path.join(this.workDir, `Pulumi.${name}.run.yaml`), scratch, program, sharedKeys };
        if (!sharedKeys && Object.keys(secureEntries(readYaml(this.settingsFile))).length > 0) {
            // Service-managed keys differ per stack: re-encrypt the region's secrets for this shard.
            await scratch.setAllConfig(await this.decryptedRegionSecrets(region));
        }
        return h;
    }

    /** The region's secret config values, decrypted through the region stack (only for shards that cannot share its keys). */
    private decryptedRegionSecrets(region: StackHandle): Promise<ConfigMap> {
        this.regionSecrets ??= (async () => {
            this.writeRunFile(region);
            const out = await this.pulumi(["config", "--json", "--show-secrets", "--stack", this.regionStack, "--config-file", region.runFile], region.dir);
            const all = JSON.parse(out) as Record<string, { value?: string; secret?: boolean }>;
            return Object.fromEntries(
                Object.entries(all)
                    .filter(([, v]) => v.secret && v.value !== undefined)
                    .map(([k, v]) => [k, { value: v.value!, secret: true }]),
            );
        })();
        return this.regionSecrets;
    }

    /**
     * Writes the stack's --config-file: the region's settings file (the one
     * description of the region: a shard takes every setting from it), with
     * this stack's secrets-provider keys, its re-encrypted secrets when it
     * cannot share the region's keys, and the manifest override.
     */
    private writeRunFile(h: StackHandle): void {
        const doc = parseDocument(fs.readFileSync(this.settingsFile, "utf8"));
        const own = readYaml(h.settings);
        for (const key of SECRETS_KEYS) {
            doc.delete(key);
            if (own[key] !== undefined && own[key] !== null) doc.set(key, own[key]);
        }
        if (!h.sharedKeys) {
            for (const key of Object.keys(secureEntries(readYaml(this.settingsFile)))) doc.deleteIn(["config", key]);
            for (const [key, value] of Object.entries(secureEntries(own))) doc.setIn(["config", key], value);
        }
        if (this.manifestOverride !== undefined) doc.setIn(["config", `${CONFIG_NAMESPACE}:manifest`], this.manifestOverride);
        fs.writeFileSync(h.runFile, doc.toString());
    }

    /** Runs the pulumi CLI (for what the Automation API has no method for: `state move`, `config --config-file`). */
    private pulumi(args: readonly string[], cwd: string): Promise<string> {
        return new Promise((resolve, reject) => {
            execFile(
                "pulumi",
                [...args, "--non-interactive", "--color", "never"],
                { cwd, env: { ...process.env, ...this.envVars }, maxBuffer: 256 * 1024 * 1024 },
                (err, stdout, stderr) => {
                    if (err) reject(new RegionError(`pulumi ${args.slice(0, 2).join(" ")} failed: ${failureReason(`${stdout}\n${stderr}`)}`));
                    else resolve(stdout);
                },
            );
        });
    }

    /**
     * The tenants a stack's last completed update declared: the keys of its
     * root `tenants` output (written when an update finishes, so a stack whose
     * update was interrupted lists only what it held before). Undefined for a
     * stack without state.
     */
    async completedTenants(stack: string): Promise<string[] | undefined> {
        if (!(await this.existingStacks()).has(stack)) return undefined;
        const resources = body(await (await this.handle(stack)).scratch.exportStack()).resources ?? [];
        const root = resources.find((r) => r.type === rootPulumiStackTypeName && !r.parent);
        const listed = root?.outputs?.tenants;
        return listed !== null && typeof listed === "object" ? Object.keys(listed).sort() : [];
    }

    /** The region's stacks that exist in the backend, with their resource counts. */
    async existingStacks(): Promise<Map<string, number | undefined>> {
        const region = await this.handle(this.regionStack);
        const all = await region.scratch.workspace.listStacks();
        const out = new Map<string, number | undefined>();
        for (const s of all) {
            const name = s.name.slice(s.name.lastIndexOf("/") + 1);
            if (isRegionStack(this.regionStack, name)) out.set(name, s.resourceCount);
        }
        return out;
    }

    /**
     * Runs `op` on every stack of the region (or `opts.stacks`): for `up`, the
     * region stack first (it holds the shared namespace), then the shards
     * `parallel` at a time; `preview` and `refresh` run them all in one pool.
     * A failed stack does not stop the others. Never throws for a stack's
     * failure: each outcome says how it went.
     */
    async run(op: RegionOp, opts: RunOptions = {}): Promise<StackOutcome[]> {
        const names = [...(opts.stacks ?? this.stacks())];
        const parallel = opts.parallel ?? os.availableParallelism();
        let totals = new Map<string, number | undefined>();
        try {
            totals = await this.existingStacks();
        } catch {
            // The counts are for the progress display only; the run reports the real failure.
        }
        for (const stack of names) opts.onProgress?.({ stack, state: "queued", done: 0, total: totals.get(stack) });
        const outcomes = new Map<string, StackOutcome>();
        const one = async (stack: string) => {
            outcomes.set(stack, await this.runStack(stack, op, totals.get(stack), opts.onProgress, opts.policyPacks, opts.engineParallel));
        };
        if (op === "up" && names[0] === this.regionStack && names.length > 1) {
            await one(this.regionStack);
            await pool(names.slice(1), parallel, one);
        } else {
            await pool(names, parallel, one);
        }
        return names.map((n) => outcomes.get(n)!);
    }

    private async runStack(
        stack: string,
        op: RegionOp,
        total: number | undefined,
        onProgress?: (p: StackProgress) => void,
        policyPacks?: readonly string[],
        engineParallel?: number,
    ): Promise<StackOutcome> {
        const started = Date.now();
        const done = new Set<string>();
        let changed: Record<string, string[]> = {};
        let errors: string[] = [];
        let pendingWarning = false;
        const recovered: string[] = [];
        let summary: Record<string, number> | undefined;
        const report = (state: StackProgress["state"], error?: string) => onProgress?.({ stack, state, done: done.size, total, error });
        const onEvent = (e: EngineEvent) => {
            const pre = e.resourcePreEvent?.metadata;
            // The engine registers the builtin `pulumi` default provider on a stack's first read of another stack (the residency check): it manages nothing.
            if (pre && !NO_CHANGE_OPS.has(pre.op) && pre.type !== rootPulumiStackTypeName && pre.type !== "pulumi:providers:pulumi")
                changed[pre.urn] = [...(changed[pre.urn] ?? []), pre.op];
            const post = e.resOutputsEvent?.metadata ?? e.resOpFailedEvent?.metadata;
            if (post) {
                done.add(post.urn);
                report("running");
            }
            if (e.diagnosticEvent?.severity === "error") errors.push(e.diagnosticEvent.message.trim());
            if (e.diagnosticEvent?.severity === "warning" && /pending operations from previous deployment/.test(e.diagnosticEvent.message))
                pendingWarning = true;
            if (e.summaryEvent) summary = { ...e.summaryEvent.resourceChanges };
        };
        const outcome = (result: StackOutcome["result"], error?: string): StackOutcome => ({
            stack,
            result,
            changes: Object.fromEntries(Object.entries(summary ?? {}).filter(([, n]) => n > 0)),
            seconds: (Date.now() - started) / 1000,
            error,
            changed,
            recovered,
        });
        try {
            report("running");
            const h = await this.handle(stack);
            this.writeRunFile(h);
            const common = { configFile: h.runFile, color: "never" as const, onEvent, ...(engineParallel !== undefined ? { parallel: engineParallel } : {}) };
            const attempt = async () => {
                done.clear();
                changed = {};
                errors = [];
                summary = undefined;
                const packs = policyPacks && policyPacks.length > 0 ? { policyPacks: policyPacks.map((p) => path.resolve(p)) } : {};
                if (op === "up") await h.program.up({ ...common, ...packs, showSecrets: false });
                else if (op === "preview") await h.program.preview({ ...common, ...packs });
                else await h.program.refresh({ ...common, showSecrets: false });
            };
            // A refresh settles pending operations first, the documented way (lib/crashRecovery.ts).
            if (op === "refresh") recovered.push(...(await this.repairPending(h)));
            try {
                await attempt();
            } catch (err) {
                // A lock left by a crashed update: removed with `pulumi cancel` when its process is gone, then the state is repaired and the operation run again.
                // A preview stays read-only: it reports the lock and the fix.
                const locks = staleLocks(err);
                if (op === "preview" || !locks) throw err;
                await this.pulumi(["cancel", "--yes", "--stack", stack], h.dir);
                recovered.push(lockRemovedLine(locks));
                recovered.push(...(await this.repairPending(h)));
                report("running");
                await attempt();
            }
            // An update that ran over pending operations (a lock removed by hand) keeps them in the state: settle them now.
            if (op === "up" && pendingWarning) recovered.push(...(await this.repairPending(h)));
            report("succeeded");
            return outcome("succeeded");
        } catch (err) {
            const text = err instanceof Error ? err.message : String(err);
            const locks = parseLocks(text);
            const lockFix =
                locks.length > 0
                    ? `\nThe stack is locked by ${locks.map((l) => `pid ${l.pid} on ${l.host}`).join(", ")}. ` +
                      (locks.every((l) => l.host === os.hostname() && !processAlive(l.pid))
                          ? `That process no longer runs. Fix: tenantctl up --region ${this.regionStack} (or refresh) removes the lock and repairs the state.`
                          : `Fix: wait for that update to finish; once you are sure no update runs, \`pulumi cancel --stack ${stack}\` then tenantctl refresh --region ${this.regionStack}.`)
                    : "";
            const why = (errors.length > 0 ? errors.join("\n") : failureReason(text)) + lockFix;
            report("failed", why);
            return outcome("failed", why);
        }
    }

    /**
     * Resolves the pending operations a crashed update left in the stack's
     * checkpoint, with the documented commands: `pulumi refresh
     * --import-pending-creates URN ID … [--clear-pending-creates]` (the plan of
     * lib/crashRecovery.ts), run over the project directory as the Automation
     * API runs its refresh. Whatever the refresh left pending (it reads every
     * resource, so their state is current) is removed from the checkpoint with
     * `pulumi stack export` / `import`. Returns what it did, one line each;
     * nothing when the checkpoint has no pending operation.
     */
    private async repairPending(h: StackHandle): Promise<string[]> {
        this.writeRunFile(h);
        return repairPendingOperations(h.scratch, (args) =>
            this.pulumi(["refresh", "--yes", "--skip-preview", "--stack", h.name, "--config-file", h.runFile, ...args], this.projectDir),
        );
    }

    /**
     * Moves every tenant of the region to its stack under `toShards` shards
     * and pins it there (`tenantctl reshard --yes`). The state is the truth of
     * where a tenant lives, and a tenant's target is a pure function of its id
     * and the new count, so every step is idempotent and a crashed run is
     * completed by running it again:
     *  1. create the target stacks that are missing;
     *  2. read every existing stack of the region: which tenants it holds;
     *  3. repair: a tenant recorded in two stacks (a `state move` saves the
     *     destination first, the source second) loses its extra record;
     *  4. `pulumi state move` each tenant's whole tree (Tenant component and
     *     every descendant), one call per (source, destination) pair, one
     *     pair at a time (a move rewrites both stacks' checkpoints);
     *  5. make every stack's `tenants` output list exactly what it holds, so
     *     the residency checks agree with the new layout;
     *  6. write the layout (shard count, pins) through `writeLayout`;
     *  7. remove the stacks beyond the new count, once they hold no resource
     *     but their root and providers;
     *  8. preview every stack of the region: each must show nothing to do.
     */
    async reshard(opts: ReshardOptions): Promise<ReshardResult> {
        const step = opts.onStep ?? (() => undefined);
        const parallel = opts.parallel ?? os.availableParallelism();
        const tenants = this.tenants();
        const { pins } = reshardPlan(this.regionStack, tenants, this.config.shards, opts.toShards);
        const targetOf = (id: string) => stackOfShard(this.regionStack, opts.toShards, pins.get(id)!);
        const targets = this.stacks(opts.toShards);
        const problems: string[] = [];

        step(`1/8 stacks of the new layout: ${targets.join(", ")}`);
        await this.handle(this.regionStack);
        await pool(targets, parallel, async (s) => {
            await this.handle(s);
        });
        const existing = [...(await this.existingStacks()).keys()].sort((a, b) =>
            a === this.regionStack ? -1 : b === this.regionStack ? 1 : a.localeCompare(b),
        );

        step(`2/8 reading the state of ${existing.join(", ")}`);
        const states = new Map<string, Deployment>();
        await pool(existing, parallel, async (s) => {
            states.set(s, await (await this.handle(s)).scratch.exportStack());
        });
        const holders = new Map<string, string[]>();
        const trees = new Map<string, Map<string, string[]>>();
        const entries = new Map<string, unknown>();
        for (const s of existing) {
            const resources = body(states.get(s)!).resources ?? [];
            const t = tenantTrees(resources);
            trees.set(s, t);
            for (const id of t.keys()) holders.set(id, [...(holders.get(id) ?? []), s]);
            const root = resources.find((r) => r.type === rootPulumiStackTypeName && !r.parent);
            const listed = root?.outputs?.tenants;
            if (listed !== null && typeof listed === "object") for (const [id, v] of Object.entries(listed)) if (!entries.has(id)) entries.set(id, v);
        }

        const repaired: { tenant: string; stack: string }[] = [];
        for (const [id, stacks] of holders) {
            if (stacks.length < 2) continue;
            const keep = pins.has(id) && stacks.includes(targetOf(id)) ? targetOf(id) : stacks[0];
            for (const s of stacks.filter((x) => x !== keep)) {
                step(`3/8 ${id} is recorded in ${stacks.join(" and ")} (an interrupted move): removing its record from ${s}`);
                states.set(s, withoutResources(states.get(s)!, trees.get(s)!.get(id)!));
                await (await this.handle(s)).scratch.importStack(states.get(s)!);
                repaired.push({ tenant: id, stack: s });
            }
            holders.set(id, [keep]);
        }

        const groups = new Map<string, { from: string; to: string; tenants: string[]; urns: string[] }>();
        for (const [id, [holder]] of holders) {
            if (!pins.has(id)) {
                problems.push(
                    `tenant "${id}" is deployed in stack ${holder} but is not a tenant of region ${this.config.region} in ${this.manifestPath}; it was left where it is`,
                );
                continue;
            }
            const to = targetOf(id);
            if (holder === to) continue;
            const key = `${holder}\u0000${to}`;
            const g = groups.get(key) ?? { from: holder, to, tenants: [], urns: [] };
            g.tenants.push(id);
            g.urns.push(...trees.get(holder)!.get(id)!);
            groups.set(key, g);
        }
        const moved: ShardMove[] = [];
        for (const g of [...groups.values()].sort((a, b) => `${a.from} ${a.to}`.localeCompare(`${b.from} ${b.to}`))) {
            step(`4/8 moving ${g.tenants.length} tenant(s), ${g.urns.length} resources, ${g.from} -> ${g.to}: ${g.tenants.join(", ")}`);
            const dest = await this.handle(g.to);
            // From the destination's scratch workspace: a destination without state gets its secrets manager from there, not from the repository.
            await this.pulumi(["state", "move", "--source", g.from, "--dest", g.to, "--yes", ...g.urns], dest.dir);
            for (const tenant of g.tenants) moved.push({ tenant, fromStack: g.from, toStack: g.to });
        }

        const all = [...new Set([...existing, ...targets])];
        step(`5/8 updating the tenants output of ${all.join(", ")}`);
        const after = new Map<string, Deployment>();
        await pool(all, parallel, async (s) => {
            const h = await this.handle(s);
            const d = await h.scratch.exportStack();
            after.set(s, d);
            const updated = withTenantOutputs(d, [...tenantTrees(body(d).resources ?? []).keys()], entries);
            if (updated) {
                await h.scratch.importStack(updated);
                after.set(s, updated);
            }
        });

        step(`6/8 writing the layout: ${opts.toShards} shard(s), ${pins.size} pin(s)`);
        await opts.writeLayout(opts.toShards, pins);
        this.configRef = this.readConfig();
        if (this.config.shards !== opts.toShards) problems.push(`${this.settingsFile} says ${this.config.shards} shard(s) after writing ${opts.toShards}`);

        const removedStacks: string[] = [];
        for (const s of existing.filter((x) => !targets.includes(x))) {
            const left = (body(after.get(s)!).resources ?? []).filter((r) => r.type !== rootPulumiStackTypeName && !r.type.startsWith("pulumi:providers:"));
            if (left.length > 0) {
                problems.push(`stack ${s} is beyond the new shard count but still holds ${left.length} resource(s), e.g. ${left[0].urn}; it was kept`);
                continue;
            }
            step(`7/8 removing the emptied stack ${s}`);
            await (await this.handle(s)).scratch.workspace.removeStack(s, { force: true });
            this.handles.delete(s);
            removedStacks.push(s);
        }

        step(`8/8 previewing ${targets.join(", ")}`);
        const previews = await this.run("preview", { parallel, stacks: targets, onProgress: opts.onProgress });
        for (const p of previews) {
            if (p.result === "failed") problems.push(`preview of ${p.stack} failed: ${p.error ?? "unknown error"}`);
            for (const [urn, ops] of Object.entries(p.changed)) problems.push(`preview of ${p.stack}: ${ops.join(", ")} ${urn}`);
        }
        return { moved, repaired, removedStacks, previews, problems };
    }

    /**
     * Tears down a scratch region (the engine tests, the engine bench; never a
     * real region): unprotects and destroys every stack of the region that
     * exists, shards first and the region stack last, then removes them.
     */
    async destroyAll(): Promise<StackOutcome[]> {
        const existing = [...(await this.existingStacks()).keys()].sort((a, b) =>
            a === this.regionStack ? 1 : b === this.regionStack ? -1 : a.localeCompare(b),
        );
        const outcomes: StackOutcome[] = [];
        for (const s of existing) {
            const started = Date.now();
            const h = await this.handle(s);
            try {
                const d = await h.scratch.exportStack();
                for (const r of body(d).resources ?? []) (r as { protect?: boolean }).protect = false;
                await h.scratch.importStack(d);
                this.writeRunFile(h);
                const result = await h.program.destroy({ configFile: h.runFile, color: "never", showSecrets: false });
                await h.scratch.workspace.removeStack(s, { force: true });
                this.handles.delete(s);
                outcomes.push({
                    stack: s,
                    result: "succeeded",
                    changes: { ...(result.summary.resourceChanges ?? {}) },
                    seconds: (Date.now() - started) / 1000,
                    changed: {},
                    recovered: [],
                });
            } catch (err) {
                outcomes.push({
                    stack: s,
                    result: "failed",
                    changes: {},
                    seconds: (Date.now() - started) / 1000,
                    error: failureReason(err instanceof Error ? err.message : String(err)),
                    changed: {},
                    recovered: [],
                });
            }
        }
        return outcomes;
    }
}
