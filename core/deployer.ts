/**
 * Deployers run one region stack's update. The real one drives the project
 * directory (the same program `pulumi up` and the CLI use) through
 * LocalWorkspace; service/fakeDeployer.ts stands in where the engine is not
 * the point.
 */
import { ConcurrentUpdateError, LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseDocument } from "yaml";
import { lockRemovedLine, repairPendingOperations, runPulumi, staleLocks } from "./crashRepair";
import { withEngineSettings } from "./engineSettings";
import { settingsStack, stackFilePath } from "./stackFile";
import { parseShardStack } from "../lib/shards";
import { TENANT_TYPE } from "../lib/tokens";
import { CONFIG_NAMESPACE } from "../stacks/config";

export interface DeployRequest {
    readonly jobId: string;
    readonly region: string;
    readonly stack: string;
    /** The tenants whose manifest entries changed; a targeted update touches only them. */
    readonly tenants: readonly string[];
    readonly signal: AbortSignal;
    readonly onOutput: (line: string) => void;
}

export interface DeployResult {
    /** Whether the update was limited to the tenants' resources. */
    readonly targeted: boolean;
    /** Resource counts by operation, as the engine reports them. */
    readonly changes: Readonly<Record<string, number>>;
    /** The stack's outputs after the update (secret ones masked), e.g. `tenants.<id>.awsSecretArns`. */
    readonly outputs?: Readonly<Record<string, unknown>>;
}

export interface Deployer {
    deploy(req: DeployRequest): Promise<DeployResult>;
}

/** The stack lock is held by someone else (a human's `pulumi up`, another replica): wait and retry. */
export function isConcurrentUpdate(err: unknown): boolean {
    if (err instanceof ConcurrentUpdateError) return true;
    const text = err instanceof Error ? err.message : String(err);
    return /\[409\] Conflict|conflict: Another update is currently in progress|the stack is currently locked/i.test(text);
}

export type TargetMode = "never" | "existing" | "always";

export interface PulumiDeployerOptions {
    /** The Pulumi project directory (holding Pulumi.yaml and index.ts). */
    readonly projectDir: string;
    /** Absolute manifest path, passed to the program as `tenant-platform:manifest`. */
    readonly manifestPath?: string;
    /** Where the per-stack config files with the manifest override are written. */
    readonly stateDir: string;
    /** Environment for the pulumi CLI (backend URL, passphrase, KUBECONFIG...). */
    readonly envVars?: Record<string, string>;
    /**
     * When to limit the update to the changed tenants' Tenant components (their
     * children and dependents included): "never", "existing" (only when the
     * stack already holds resources, the default; see the README, "Targeted updates")
     * or "always".
     */
    readonly targetMode?: TargetMode;
    /**
     * The settings file of the region every stack this deployer runs belongs
     * to, instead of `<projectDir>/Pulumi.<stack>.yaml` (a shard stack's:
     * its region's). The benches and tests point it at a copy.
     */
    readonly settingsFile?: string;
    /**
     * Per region stack, its settings file instead of `<projectDir>/Pulumi.<stack>.yaml`
     * (a shard stack uses its region's; `tenantctl serve --settings-file`). `settingsFile` wins.
     */
    readonly settingsFiles?: Readonly<Record<string, string>>;
}

/** The URN of a tenant's Tenant component in a stack. */
export function tenantUrn(stack: string, project: string, tenantId: string): string {
    return `urn:pulumi:${stack}::${project}::${TENANT_TYPE}::${tenantId}`;
}

/** The keys of a stack settings file that belong to its secrets provider (written by `pulumi stack init`). */
const SECRETS_KEYS = ["secretsprovider", "encryptedkey", "encryptionsalt"] as const;

/**
 * The stack's settings for the service's runs, written next to the service
 * state (the repository's Pulumi.<stack>.yaml is never modified): the
 * repository's file with `tenant-platform:manifest` set to the service's
 * manifest, and the secrets-provider keys of `secretsFrom` (the scratch
 * workspace's settings file, where `stack init` wrote them). Returns its path,
 * for `--config-file`.
 */
export function writeStackConfigFile(
    projectDir: string,
    stack: string,
    stateDir: string,
    manifestPath: string | undefined,
    secretsFrom?: string,
    settingsFile?: string,
): string {
    // A shard stack has no file of its own: its region's describes it (README, "Region shards").
    const source = settingsFile ?? stackFilePath(settingsStack(stack, { projectDir }), { projectDir });
    const doc = fs.existsSync(source) ? parseDocument(fs.readFileSync(source, "utf8")) : parseDocument("config: {}\n");
    if (manifestPath !== undefined) doc.setIn(["config", `${CONFIG_NAMESPACE}:manifest`], path.resolve(manifestPath));
    if (secretsFrom !== undefined && fs.existsSync(secretsFrom)) {
        const secrets = parseDocument(fs.readFileSync(secretsFrom, "utf8"));
        for (const key of SECRETS_KEYS) {
            const v: unknown = secrets.get(key);
            if (v !== undefined && v !== null) doc.set(key, v);
        }
    }
    // Relative paths in the stack's config are resolved by the program against the project directory, as before.
    fs.mkdirSync(stateDir, { recursive: true });
    const out = path.join(stateDir, `Pulumi.${stack}.service.yaml`);
    fs.writeFileSync(out, doc.toString());
    return out;
}

function projectName(projectDir: string): string {
    const doc = parseDocument(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8"));
    return String(doc.get("name"));
}

interface StackHandle {
    /** The stack over the project directory: runs the program. */
    readonly stack: Stack;
    /** The same stack over the scratch workspace: init and history. */
    readonly scratch: Stack;
    readonly configFile: string;
}

export class PulumiDeployer implements Deployer {
    private readonly project: string;
    private readonly handles = new Map<string, Promise<StackHandle>>();

    constructor(private readonly opts: PulumiDeployerOptions) {
        this.project = projectName(opts.projectDir);
    }

    /**
     * Selects (creating it when the backend has none) the stack, without ever
     * writing into the project directory: `stack init` runs in a scratch
     * workspace under the state dir (a copy of Pulumi.yaml and of the stack's
     * settings), so the passphrase salt it writes lands there; the program
     * runs over the project directory with `--config-file`; and the stack's
     * history, whose `--show-secrets` would write the salt back into the
     * project's Pulumi.<stack>.yaml, is read from the scratch workspace (or,
     * after `up`, without secrets).
     */
    private handle(stackName: string): Promise<StackHandle> {
        let h = this.handles.get(stackName);
        if (!h) {
            h = this.openStack(stackName);
            h.catch(() => this.handles.delete(stackName));
            this.handles.set(stackName, h);
        }
        return h;
    }

    /** The settings file given for the stack (its region's, for a shard), if any. */
    private settingsOf(stackName: string): string | undefined {
        if (this.opts.settingsFile !== undefined) return this.opts.settingsFile;
        const files = this.opts.settingsFiles ?? {};
        const region = parseShardStack(stackName)?.regionStack;
        return files[stackName] ?? (region !== undefined ? files[region] : undefined);
    }

    private scratchDir(stackName: string): string {
        return path.join(this.opts.stateDir, "workspaces", stackName);
    }

    /** Rewrites the --config-file: the repository's stack settings may have changed since the last run. */
    private refreshConfig(stackName: string): void {
        writeStackConfigFile(
            this.opts.projectDir,
            stackName,
            this.opts.stateDir,
            this.opts.manifestPath,
            path.join(this.scratchDir(stackName), `Pulumi.${stackName}.yaml`),
            this.settingsOf(stackName),
        );
    }

    private async openStack(stackName: string): Promise<StackHandle> {
        const envVars = withEngineSettings(this.opts.envVars);
        const scratchDir = this.scratchDir(stackName);
        fs.mkdirSync(scratchDir, { recursive: true });
        fs.copyFileSync(path.join(this.opts.projectDir, "Pulumi.yaml"), path.join(scratchDir, "Pulumi.yaml"));
        const scratchSettings = path.join(scratchDir, `Pulumi.${stackName}.yaml`);
        // A shard is created with its region's secrets-provider keys, as core/region.ts does: the region's `secure:` values stay valid for it.
        const repoSettings =
            this.settingsOf(stackName) ?? stackFilePath(settingsStack(stackName, { projectDir: this.opts.projectDir }), { projectDir: this.opts.projectDir });
        if (!fs.existsSync(scratchSettings)) {
            // Only the secrets-provider keys matter there; a salt committed in the repository is reused.
            const doc = fs.existsSync(repoSettings) ? parseDocument(fs.readFileSync(repoSettings, "utf8")) : parseDocument("{}");
            const keep = parseDocument("{}");
            for (const key of SECRETS_KEYS) if (doc.get(key) !== undefined) keep.set(key, doc.get(key));
            fs.writeFileSync(scratchSettings, keep.toString());
        }
        const scratch = await LocalWorkspace.createOrSelectStack({ stackName, workDir: scratchDir }, { envVars });
        const configFile = writeStackConfigFile(
            this.opts.projectDir,
            stackName,
            this.opts.stateDir,
            this.opts.manifestPath,
            scratchSettings,
            this.settingsOf(stackName),
        );
        const stack = await LocalWorkspace.selectStack({ stackName, workDir: this.opts.projectDir }, { envVars });
        return { stack, scratch, configFile };
    }

    async deploy(req: DeployRequest): Promise<DeployResult> {
        const h = await this.handle(req.stack);
        this.refreshConfig(req.stack);
        const mode = this.opts.targetMode ?? "existing";
        let targeted = false;
        if (mode === "always") targeted = true;
        else if (mode === "existing") {
            const info = await h.scratch.info();
            targeted = info?.result === "succeeded";
        }
        const target = targeted ? req.tenants.map((t) => tenantUrn(req.stack, this.project, t)) : undefined;
        // After the update, up() reads the stack's outputs (from the state: nothing is written) and its last
        // history entry, here without secrets: `stack history --show-secrets` would save the salt into the project.
        const up = () =>
            h.stack.up({
                configFile: h.configFile,
                showSecrets: false,
                target,
                targetDependents: targeted ? true : undefined,
                color: "never",
                suppressProgress: true,
                signal: req.signal,
                onOutput: (out) => {
                    for (const line of out.split("\n")) if (line.trim() !== "") req.onOutput(line);
                },
            });
        let result: Awaited<ReturnType<typeof up>>;
        try {
            result = await up();
        } catch (err) {
            // A lock left by a crashed update (this host, its process gone: a replica killed mid-update) is removed and the
            // state repaired, as the region runner does (README, "After a crash"); any other lock is the caller's retry.
            const locks = staleLocks(err);
            if (!locks) throw err;
            const envVars = withEngineSettings(this.opts.envVars);
            await runPulumi(["cancel", "--yes", "--stack", req.stack], this.scratchDir(req.stack), envVars);
            req.onOutput(`recovered: ${lockRemovedLine(locks)}`);
            const repaired = await repairPendingOperations(h.scratch, (args) =>
                runPulumi(["refresh", "--yes", "--skip-preview", "--stack", req.stack, "--config-file", h.configFile, ...args], this.opts.projectDir, envVars),
            );
            for (const line of repaired) req.onOutput(`recovered: ${line}`);
            result = await up();
        }
        const outputs = Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, v.secret ? "[secret]" : (v.value as unknown)]));
        return { targeted, changes: { ...(result.summary.resourceChanges ?? {}) }, outputs };
    }

    /** A full preview of the stack with the service's manifest: the resource counts by operation ("same" included). */
    async preview(stackName: string): Promise<Record<string, number>> {
        const h = await this.handle(stackName);
        this.refreshConfig(stackName);
        const result = await h.stack.preview({ configFile: h.configFile, color: "never", suppressProgress: true });
        return { ...result.changeSummary };
    }
}
