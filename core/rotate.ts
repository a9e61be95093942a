/**
 * `tenantctl rotate`: credential rotation (lib/rotation.ts) on a region stack.
 *
 *   rotate --tenant ID [--service S]            switch: the inactive slot gets a new password and becomes active
 *   rotate --tenant ID [--service S] --retire   retire: the old slot's password is replaced (refused while a pod may hold it)
 *   rotate --due                                every retirement and every 90-day switch due in the stack's region
 *
 * The archive credential (`--service archive`, with features.archiveIdentity)
 * is two access keys of one AWS IAM user: the switch creates the inactive
 * slot's key, the retirement deletes the old one (lib/rotation.ts).
 *
 * Each run records the new states in the manifest's `rotations:` block
 * through the manifest lock (re-checked there: a concurrent rotation wins
 * and this one is refused), then runs `up`, which changes exactly the
 * accounts and Secrets of those states, then (after a switch) restarts the
 * tenant's Deployments and StatefulSets so that their pods read the new
 * Secret within the grace window. Without --yes it prints the plan only.
 * Passwords never appear: they are Pulumi secrets from RandomPassword.
 */
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import * as path from "node:path";
import { formatIssues, validateManifest, type TenantSpec } from "../lib/manifest";
import { namespaceName } from "../lib/naming";
import { assignShards } from "../lib/shards";
import {
    applySteps,
    credentialKeys,
    dueSteps,
    retireProblems,
    retireStep,
    RotationRefused,
    stateOf,
    switchStep,
    credentialAccount,
    activeSlot,
    archiveKeyIdInState,
    ARCHIVE_CREDENTIAL,
    type StateResource,
    type CredentialFeatures,
    type RetireEvidence,
    type RotationStep,
} from "../lib/rotation";
import { KubeError, kubeAccess, kubeGet, kubeRequest, type KubeAccess } from "./kube";
import { ManifestFile } from "./manifestFile";
import { ManifestRepo, openStackManifest, type ManifestRepoOptions } from "./manifestRepo";
import { PROJECT_DIR } from "./project";
import { stackRole, type StackRole } from "./stackFile";

export interface RotateOptions {
    readonly stack: string;
    readonly tenant?: string;
    /** A service name (its database account), `rabbitmq`, `storage` or `archive`; default: every credential of the tenant. */
    readonly service?: string;
    readonly due?: boolean;
    readonly retire?: boolean;
    /** Retire although pods may still hold the old password (a leaked credential: accept their reconnect failures). */
    readonly force?: boolean;
    readonly yes?: boolean;
    readonly now?: Date;
    readonly projectDir?: string;
    readonly configFile?: string;
    readonly log?: (line: string) => void;
    /** Commit and push the manifest's change, as purge and the billing service do (core/manifestRepo.ts). Default: from TENANTCTL_GIT_*; unset: the file alone. */
    readonly git?: ManifestRepoOptions;
}

export { RotationRefused };

/** The steps a run asks for, from the manifest as it is (pure but for the clock). */
export function plannedSteps(
    tenants: readonly TenantSpec[],
    rotations: Parameters<typeof dueSteps>[1],
    services: readonly string[],
    opts: Pick<RotateOptions, "tenant" | "service" | "due" | "retire">,
    now: Date,
    features?: CredentialFeatures,
): RotationStep[] {
    if (opts.due) return dueSteps(tenants, rotations, services, now, features);
    const tenant = tenants.find((t) => t.id === opts.tenant);
    if (!tenant) throw new RotationRefused(`tenant "${opts.tenant}" is not a live tenant of this stack's region. Fix: check the id and --stack`);
    const keys = credentialKeys(services, features);
    if (opts.service !== undefined && !keys.includes(opts.service)) {
        throw new RotationRefused(`--service ${opts.service}: not a credential of tenant "${tenant.id}". Allowed: ${keys.join(", ")}`);
    }
    const chosen = opts.service !== undefined ? [opts.service] : keys;
    return chosen.map((c) => {
        const state = stateOf(rotations, tenant, c);
        return opts.retire ? retireStep(tenant.id, c, state, now) : switchStep(tenant.id, c, state, now);
    });
}

/**
 * The tenants whose resources the stack holds (its `up` applies their
 * states): the region's with one shard; with more, the shard's own, and none
 * for the region stack (it then says where they are).
 */
export function stackHeldTenants(tenants: readonly TenantSpec[], shards: number, role: StackRole): TenantSpec[] {
    if (shards === 1) return [...tenants];
    if (role.kind === "region") {
        throw new RotationRefused(
            `stack ${role.stack} has ${shards} shards and holds no tenant itself. Fix: rotate on its shard stacks (tenantctl shards --stack ${role.stack} lists them)`,
        );
    }
    const own = new Set(assignShards(tenants, shards)[role.index]);
    return tenants.filter((t) => own.has(t.id));
}

/**
 * What the cluster says about a retirement: the Secret's account and last
 * change, the namespace's pods; for the archive credential, `stateResources`
 * (the stack's state) gives the active slot's access key id, which the
 * server generated and the Secret must name.
 */
export async function retireEvidence(
    access: KubeAccess,
    tenantId: string,
    step: RotationStep,
    stateResources?: readonly StateResource[],
): Promise<RetireEvidence> {
    const ns = namespaceName(tenantId);
    const account = credentialAccount(tenantId, step.credential, activeSlot(step.from));
    let secretUser: string | undefined;
    let secretChangedAt: string | undefined;
    try {
        const secret = await kubeGet<{ data?: Record<string, string>; metadata?: { managedFields?: { time?: string }[]; creationTimestamp?: string } }>(
            access,
            `/api/v1/namespaces/${ns}/secrets/${account.secret}`,
        );
        // Only the account name is read; the password key is never decoded.
        const encoded = secret.data?.[account.usernameKey];
        secretUser = encoded === undefined ? undefined : Buffer.from(encoded, "base64").toString("utf8");
        const times = (secret.metadata?.managedFields ?? []).map((f) => f.time).filter((t): t is string => typeof t === "string");
        secretChangedAt = times.sort().at(-1) ?? secret.metadata?.creationTimestamp;
    } catch (err) {
        if (!(err instanceof KubeError && err.status === 404)) throw err;
    }
    const pods = await kubeGet<{ items?: { metadata?: { name?: string }; status?: { phase?: string; startTime?: string } }[] }>(
        access,
        `/api/v1/namespaces/${ns}/pods`,
    );
    const running = (pods.items ?? []).filter((p) => p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed");
    const activeKeyId =
        step.credential === ARCHIVE_CREDENTIAL && stateResources ? archiveKeyIdInState(stateResources, tenantId, activeSlot(step.from)) : undefined;
    return {
        secretUser,
        secretChangedAt,
        pods: running.map((p) => ({ name: p.metadata?.name ?? "?", startTime: p.status?.startTime })),
        ...(activeKeyId !== undefined ? { activeKeyId } : {}),
    };
}

/** Restarts the namespace's Deployments and StatefulSets (as `kubectl rollout restart`): their new pods read the new Secret. */
export async function restartWorkloads(access: KubeAccess, namespace: string, at: string): Promise<string[]> {
    const restarted: string[] = [];
    for (const kind of ["deployments", "statefulsets"]) {
        const list = await kubeGet<{ items?: { metadata?: { name?: string } }[] }>(access, `/apis/apps/v1/namespaces/${namespace}/${kind}`);
        for (const item of list.items ?? []) {
            const name = item.metadata?.name;
            if (!name) continue;
            await kubeRequest(
                access,
                "PATCH",
                `/apis/apps/v1/namespaces/${namespace}/${kind}/${name}`,
                { spec: { template: { metadata: { annotations: { "collectverything.com/credentials-rotated-at": at } } } } },
                "application/merge-patch+json",
            );
            restarted.push(`${kind}/${name}`);
        }
    }
    return restarted;
}

const describe = (s: RotationStep) =>
    s.kind === "switch"
        ? `${s.tenant} ${s.credential}: switch generation ${s.from.generation} -> ${s.to.generation}, slot ${activeSlot(s.from)} -> ${activeSlot(s.to)} (${s.reason})`
        : `${s.tenant} ${s.credential}: retire slot ${activeSlot(s.from) === "a" ? "b" : "a"} of generation ${s.from.generation} (${s.reason})`;

/**
 * Records the steps' new states in the manifest through its lock: the file is
 * read again there, and each step must still start from the state it was
 * planned from (a rotation that ran in between wins: RotationRefused).
 */
export async function recordSteps(
    manifestPath: string,
    steps: readonly RotationStep[],
    services: readonly string[],
    repo?: ManifestRepo,
): Promise<{ commit?: string }> {
    // With a repository, `current` is the remote tip's text, again on every retry after a refused push.
    const { commit } = await new ManifestFile(manifestPath, { repo }).update(
        (current) => {
            const checked = validateManifest(current, manifestPath, { services });
            if (!checked.ok) throw new RotationRefused(formatIssues(checked.issues));
            for (const s of steps) {
                const tenant = checked.manifest.tenants.find((t) => t.id === s.tenant);
                const state = tenant ? stateOf(checked.manifest.rotations, tenant, s.credential) : undefined;
                if (JSON.stringify(state) !== JSON.stringify(s.from)) {
                    throw new RotationRefused(
                        `${s.tenant} ${s.credential}: its rotation state changed since this run read it (another rotation ran). Fix: run tenantctl rotate again`,
                    );
                }
            }
            const next = applySteps(current, steps);
            const after = validateManifest(next, manifestPath, { services });
            if (!after.ok) throw new RotationRefused(formatIssues(after.issues));
            return next;
        },
        `tenantctl rotate: ${steps.map((s) => `${s.kind} ${s.tenant} ${s.credential} (generation ${s.to.generation})`).join(", ")}`,
    );
    return { commit };
}

export async function rotate(opts: RotateOptions): Promise<{ steps: RotationStep[]; refused: string[]; applied: boolean }> {
    const log = opts.log ?? ((line: string) => process.stdout.write(`${line}\n`));
    const now = opts.now ?? new Date();
    const projectDir = opts.projectDir ?? PROJECT_DIR;
    // The plan is made on the remote tip; the record re-reads it under the lock.
    const { config, manifestPath, repo, source } = await openStackManifest(opts.stack, { projectDir, configFile: opts.configFile, git: opts.git });
    const result = validateManifest(source, manifestPath, { services: config.services });
    if (!result.ok) throw new RotationRefused(formatIssues(result.issues));
    const tenants = stackHeldTenants(
        result.manifest.tenants.filter((t) => t.region === config.region),
        config.shards,
        stackRole(opts.stack, { projectDir, configFile: opts.configFile }),
    );
    const planned = plannedSteps(tenants, result.manifest.rotations, config.services, opts, now, config.features);

    const kubeconfig = config.kubernetes.kubeconfig
        ? path.resolve(projectDir, config.kubernetes.kubeconfig)
        : (process.env.KUBECONFIG ?? path.join(process.env.HOME ?? "", ".kube", "config"));
    // The cluster is read for retirements and written for the restart after a switch, not for a dry-run switch.
    let cached: KubeAccess | undefined;
    const access = () => (cached ??= kubeAccess(kubeconfig, config.kubernetes.context));
    // The archive keys' ids are in the stack's state only (the server generates them): read once, for archive retirements.
    let state: Promise<StateResource[]> | undefined;
    const stateResources = () =>
        (state ??= LocalWorkspace.selectStack({ stackName: opts.stack, workDir: projectDir })
            .then((s) => s.exportStack())
            .then((d) => (d.deployment as { resources?: StateResource[] } | undefined)?.resources ?? []));
    const steps: RotationStep[] = [];
    const refused: string[] = [];
    for (const step of planned) {
        if (step.kind === "retire" && !opts.force) {
            const resources = step.credential === ARCHIVE_CREDENTIAL ? await stateResources() : undefined;
            const problems = retireProblems(step.tenant, namespaceName(step.tenant), step, await retireEvidence(access(), step.tenant, step, resources));
            if (problems.length > 0) {
                refused.push(`${step.tenant} ${step.credential}: ${problems.join("; ")}`);
                continue;
            }
        }
        steps.push(step);
    }
    log(`rotation on stack ${opts.stack} at ${now.toISOString()}: ${steps.length} step(s)${refused.length ? `, ${refused.length} refused` : ""}`);
    for (const s of steps) log(`  - ${describe(s)}`);
    for (const r of refused) log(`  ! refused: ${r}`);
    if (steps.length === 0) return { steps, refused, applied: false };
    if (!opts.yes) {
        log("dry run: nothing changed. Re-run with --yes to record the new states in the manifest and run up.");
        return { steps, refused, applied: false };
    }

    const { commit } = await recordSteps(manifestPath, steps, config.services, repo);
    log(`recorded in ${manifestPath}${commit ? `, pushed ${commit.slice(0, 12)} to ${repo!.remote}/${repo!.branch}` : ""}; running up`);
    const stack = await LocalWorkspace.selectStack({ stackName: opts.stack, workDir: projectDir });
    const up = await stack.up({ onOutput: (o) => process.stdout.write(o), configFile: opts.configFile });
    log(`up done: ${JSON.stringify(up.summary.resourceChanges ?? {})}`);
    for (const tenant of new Set(steps.filter((s) => s.kind === "switch").map((s) => s.tenant))) {
        const restarted = await restartWorkloads(access(), namespaceName(tenant), now.toISOString());
        log(`  ${namespaceName(tenant)}: restarted ${restarted.length ? restarted.join(", ") : "nothing (no Deployment or StatefulSet)"}`);
    }
    return { steps, refused, applied: true };
}
