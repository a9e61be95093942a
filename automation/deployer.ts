/**
 * Deployers run one region stack's update. The real one drives the project
 * directory (the same program `pulumi up` and the CLI use) through
 * LocalWorkspace; tests use a fake one where the engine is not the point.
 */
import { ConcurrentUpdateError, LocalWorkspace, StackNotFoundError } from "@pulumi/pulumi/automation";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseDocument } from "yaml";
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

export function isStackNotFound(err: unknown): boolean {
    return err instanceof StackNotFoundError;
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
     * stack already holds resources, the default; see automation/README.md)
     * or "always".
     */
    readonly targetMode?: TargetMode;
}

/** The URN of a tenant's Tenant component in a stack. */
export function tenantUrn(stack: string, project: string, tenantId: string): string {
    return `urn:pulumi:${stack}::${project}::collectverything:tenant:Tenant::${tenantId}`;
}

/**
 * Writes the stack's config file with `tenant-platform:manifest` set to the
 * service's manifest, next to the service state: the repository's
 * Pulumi.<stack>.yaml is never modified.
 */
export function writeStackConfigFile(projectDir: string, stack: string, stateDir: string, manifestPath: string | undefined): string | undefined {
    if (manifestPath === undefined) return undefined;
    const source = path.join(projectDir, `Pulumi.${stack}.yaml`);
    const doc = fs.existsSync(source) ? parseDocument(fs.readFileSync(source, "utf8")) : parseDocument("config: {}\n");
    doc.setIn(["config", `${CONFIG_NAMESPACE}:manifest`], path.resolve(manifestPath));
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

export class PulumiDeployer implements Deployer {
    private readonly project: string;

    constructor(private readonly opts: PulumiDeployerOptions) {
        this.project = projectName(opts.projectDir);
    }

    async deploy(req: DeployRequest): Promise<DeployResult> {
        const envVars = { ...this.opts.envVars };
        const stack = await LocalWorkspace.createOrSelectStack({ stackName: req.stack, workDir: this.opts.projectDir }, { envVars });
        const configFile = writeStackConfigFile(this.opts.projectDir, req.stack, this.opts.stateDir, this.opts.manifestPath);
        const mode = this.opts.targetMode ?? "existing";
        let targeted = false;
        if (mode === "always") targeted = true;
        else if (mode === "existing") {
            const info = await stack.info();
            targeted = info?.result === "succeeded";
        }
        const target = targeted ? req.tenants.map((t) => tenantUrn(req.stack, this.project, t)) : undefined;
        const result = await stack.up({
            configFile,
            target,
            targetDependents: targeted ? true : undefined,
            color: "never",
            suppressProgress: true,
            signal: req.signal,
            onOutput: (out) => {
                for (const line of out.split("\n")) if (line.trim() !== "") req.onOutput(line);
            },
        });
        return { targeted, changes: { ...(result.summary.resourceChanges ?? {}) } };
    }
}

/** A deployer for tests and benchmarks: records calls, takes `delayMs`, fails as told. */
export class FakeDeployer implements Deployer {
    readonly calls: DeployRequest[] = [];
    readonly completed: { jobId: string; stack: string; tenants: readonly string[] }[] = [];
    active = 0;
    maxActivePerStack = 0;
    private readonly activeByStack = new Map<string, number>();

    constructor(
        private readonly opts: { delayMs?: number; failures?: (req: DeployRequest, call: number) => Error | undefined } = {},
    ) {}

    async deploy(req: DeployRequest): Promise<DeployResult> {
        this.calls.push(req);
        const n = (this.activeByStack.get(req.stack) ?? 0) + 1;
        this.activeByStack.set(req.stack, n);
        this.maxActivePerStack = Math.max(this.maxActivePerStack, n);
        try {
            const err = this.opts.failures?.(req, this.calls.length);
            if (err) throw err;
            req.onOutput(`Updating (${req.stack}) for ${req.tenants.join(", ")}`);
            await new Promise<void>((resolve, reject) => {
                const timer = setTimeout(resolve, this.opts.delayMs ?? 0);
                req.signal.addEventListener("abort", () => {
                    clearTimeout(timer);
                    reject(new Error("update cancelled"));
                });
            });
            this.completed.push({ jobId: req.jobId, stack: req.stack, tenants: req.tenants });
            return { targeted: false, changes: { update: req.tenants.length } };
        } finally {
            this.activeByStack.set(req.stack, (this.activeByStack.get(req.stack) ?? 1) - 1);
        }
    }
}
