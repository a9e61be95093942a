/**
 * `tenantctl purge`: the explicit, separate step that removes a cancelled
 * tenant's data after its grace period. It refuses to run unless:
 *   1. the tenant is `cancelled` in the manifest, in this stack's region;
 *   2. its deletion date (cancelledAt + 30 days) has passed;
 *   3. a final backup is recorded: the `final-backup` Job in its namespace
 *      succeeded, and the backup volume outlives the namespace (its
 *      PersistentVolume's reclaim policy is Retain).
 *   4. with buckets, the newest final backup in the archive holds every object
 *      the buckets hold now (core/purgeBuckets.ts).
 * Without --yes it only prints the plan. With --yes it empties the buckets,
 * unprotects the tenant's resources in the stack's state, turns the tenant's
 * entry into a tombstone (`status: deleted`, `deletedAt`; comments and order
 * kept) with its audit record (auditLogPath) in the same commit, and runs `up`, which deletes
 * them: a tombstone declares nothing. `--due` does this for every tenant of
 * the region past its deletion date.
 */
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import * as fs from "node:fs";
import * as path from "node:path";
import * as os from "node:os";
import { isMap, isScalar, isSeq, parseDocument } from "yaml";
import { CANCELLED_AT_ANNOTATION } from "../lib/labels";
import { removeTenantRotations } from "../lib/rotation";
import { deletionDate, formatIssues, tenantsDue, utcDate, validateManifest, type TenantSpec } from "../lib/manifest";
import { BACKUP_PVC, BUCKET_PURPOSES, bucketName, namespaceName } from "../lib/naming";
import { objectStoreEnv, s3Client } from "../core/objectStore";
import { coverageProblem, emptyBuckets, finalBackupCoverage, type BucketStores } from "../core/purgeBuckets";
import { KubeError, kubeAccess, kubeGet } from "../core/kube";
import { ManifestFile } from "../core/manifestFile";
import { ManifestRepo, openStackManifest, type ManifestRepoOptions } from "../core/manifestRepo";
import { PROJECT_DIR } from "../core/project";
import { loadStackConfig } from "../core/stackFile";

export interface PurgeOptions {
    readonly stack: string;
    readonly tenant: string;
    /** YYYY-MM-DD; default: today (UTC). */
    readonly today?: string;
    readonly yes?: boolean;
    readonly projectDir?: string;
    /** Stack settings file to use instead of Pulumi.<stack>.yaml (as `pulumi --config-file`). */
    readonly configFile?: string;
    readonly log?: (line: string) => void;
    /** Commit and push the manifest's change like the billing service does (core/manifestRepo.ts). Default: from TENANTCTL_GIT_* (gitOptionsFromEnv); unset: the file alone. */
    readonly git?: ManifestRepoOptions;
}

export class PurgeRefused extends Error {}

const TENANT_TYPE = "collectverything:tenant:Tenant";

/** The URNs of a tenant's component and everything under it, from a stack export. */
export function tenantUrns(resources: readonly { urn: string; type: string; parent?: string }[], tenantId: string): string[] {
    const root = resources.find((r) => r.type === TENANT_TYPE && r.urn.endsWith(`::${tenantId}`));
    if (!root) return [];
    const inside = new Set([root.urn]);
    let grew = true;
    while (grew) {
        grew = false;
        for (const r of resources) {
            if (r.parent && inside.has(r.parent) && !inside.has(r.urn)) {
                inside.add(r.urn);
                grew = true;
            }
        }
    }
    return resources.filter((r) => inside.has(r.urn)).map((r) => r.urn);
}

/** Removes one tenant entry from the manifest source, keeping comments and order. */
export function removeTenantFromSource(source: string, tenantId: string): string {
    const doc = parseDocument(source);
    const tenants = doc.get("tenants", true);
    if (!isSeq(tenants)) throw new Error("the manifest has no tenants list");
    const index = tenants.items.findIndex((item) => isMap(item) && isScalar(item.get("id", true)) && item.get("id") === tenantId);
    if (index < 0) throw new Error(`tenant "${tenantId}" is not in the manifest`);
    tenants.items.splice(index, 1);
    return doc.toString();
}

/**
 * Turns a tenant's entry into its tombstone (`status: deleted`, `deletedAt`),
 * keeping its other fields (they reserve the id, websiteId and domains,
 * lib/manifest.ts) and removing its credential rotation states (the accounts
 * are gone). Comments and order kept.
 */
export function tombstoneInSource(source: string, tenantId: string, deletedAt: string): string {
    const doc = parseDocument(source);
    const tenants = doc.get("tenants", true);
    if (!isSeq(tenants)) throw new Error("the manifest has no tenants list");
    const entry = tenants.items.find((item) => isMap(item) && isScalar(item.get("id", true)) && item.get("id") === tenantId);
    if (!isMap(entry)) throw new Error(`tenant "${tenantId}" is not in the manifest`);
    entry.set("status", "deleted");
    entry.set("deletedAt", deletedAt);
    return removeTenantRotations(doc.toString(), tenantId);
}

/** The append-only audit log of purges: `<manifest base name>.audit.jsonl` next to the manifest, to commit with it. */
export function auditLogPath(manifestPath: string): string {
    return path.join(path.dirname(manifestPath), `${path.basename(manifestPath).replace(/\.ya?ml$/, "")}.audit.jsonl`);
}

/** One line of the audit log: what was erased, when and by whom. Names and counts only, never a credential. */
export interface PurgeAuditRecord {
    readonly at: string;
    readonly by: string;
    readonly action: "purge.tombstoned" | "purge.deleted";
    readonly tenant: string;
    readonly stack: string;
    readonly region: string;
    readonly cancelledAt?: string;
    readonly deletedAt: string;
    readonly finalBackup?: string;
    /** The buckets emptied (their objects are in the final backup): versions deleted. */
    readonly buckets?: readonly { readonly bucket: string; readonly deletedVersions: number }[];
    readonly resources?: readonly string[];
    readonly changes?: Readonly<Record<string, number>>;
}

/**
 * The audit log with `record` appended, as a companion file of a manifest
 * change (core/manifestRepo.ts Change.companions): read when the change is
 * computed (with git: at the remote tip, again on a retry), so the line is
 * committed and pushed with the change, after every line already there.
 */
export function auditCompanion(manifestPath: string, record: PurgeAuditRecord): Record<string, string> {
    const file = auditLogPath(manifestPath);
    let current = "";
    try {
        current = fs.readFileSync(file, "utf8");
    } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    if (current !== "" && !current.endsWith("\n")) current += "\n";
    return { [path.basename(file)]: `${current}${JSON.stringify(record)}\n` };
}

/** Appends one audit record through the manifest's one commit path (with git: its own commit, pushed), the manifest unchanged. */
export async function recordAudit(manifestPath: string, record: PurgeAuditRecord, repo?: ManifestRepo): Promise<{ commit?: string }> {
    const file = new ManifestFile(manifestPath, { repo });
    const out = await file.withLock(() =>
        file.transact((current) => ({
            text: current,
            message: `tenantctl purge: audit ${record.action} ${record.tenant} (stack ${record.stack})`,
            result: undefined,
            companions: auditCompanion(manifestPath, record),
        })),
    );
    return { commit: out.commit };
}

/** Who runs the purge: TENANTCTL_ACTOR, else the local user at the host. */
export function actor(env: NodeJS.ProcessEnv = process.env): string {
    return env.TENANTCTL_ACTOR || `${os.userInfo().username}@${os.hostname()}`;
}

/** Reads one Kubernetes object by API path; rejects with a KubeError (404 when absent). */
export type KubeGetter = <T>(apiPath: string) => Promise<T>;

interface FinalBackupJob {
    metadata?: { annotations?: Record<string, string> };
    status?: { succeeded?: number; completionTime?: string };
}

/**
 * Why no final backup is recorded in namespace `ns` for the cancellation of
 * `cancelledAt` (empty when one is): the `final-backup` Job must have been
 * created for that cancellation (its CANCELLED_AT_ANNOTATION; the program
 * deletes the Job on a reactivation and creates a new one on the next
 * cancellation) and have succeeded, completing on or after that day; and the
 * backup PVC must be bound to a PersistentVolume whose reclaim policy is Retain.
 */
export async function finalBackupProblems(get: KubeGetter, ns: string, cancelledAt: string): Promise<string[]> {
    const problems: string[] = [];
    try {
        const job = await get<FinalBackupJob>(`/apis/batch/v1/namespaces/${ns}/jobs/final-backup`);
        const forCancellation = job.metadata?.annotations?.[CANCELLED_AT_ANNOTATION];
        const completed = job.status?.completionTime;
        if (forCancellation !== cancelledAt) {
            problems.push(
                `the final-backup Job in ${ns} was taken for ${forCancellation ? `the cancellation of ${forCancellation}` : `an earlier cancellation (it has no ${CANCELLED_AT_ANNOTATION} annotation)`}, not the last one (${cancelledAt}). ` +
                    `Fix: delete it (kubectl -n ${ns} delete job final-backup) and run \`pulumi up\`, which takes a new final backup`,
            );
        } else if ((job.status?.succeeded ?? 0) < 1) {
            problems.push(`the final-backup Job in ${ns} has not succeeded yet; wait for it (kubectl -n ${ns} get job final-backup) or investigate its pods`);
        } else if (!completed || completed < `${cancelledAt}T00:00:00Z`) {
            problems.push(
                `the final-backup Job in ${ns} completed ${completed ? `at ${completed}, before` : "at no recorded time, not after"} the cancellation of ${cancelledAt}. ` +
                    `Fix: delete it (kubectl -n ${ns} delete job final-backup) and run \`pulumi up\`, which takes a new final backup`,
            );
        }
    } catch (err) {
        if (err instanceof KubeError && err.status === 404) problems.push(`no final-backup Job in ${ns}: run \`pulumi up\` with the tenant cancelled first`);
        else throw err;
    }
    try {
        const pvc = await get<{ spec?: { volumeName?: string } }>(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${BACKUP_PVC}`);
        const volume = pvc.spec?.volumeName;
        if (!volume) {
            problems.push(`${BACKUP_PVC} in ${ns} is not bound to a volume, so it holds no backup`);
        } else {
            const pv = await get<{ spec?: { persistentVolumeReclaimPolicy?: string } }>(`/api/v1/persistentvolumes/${volume}`);
            const policy = pv.spec?.persistentVolumeReclaimPolicy;
            if (policy !== "Retain") {
                problems.push(
                    `the backup volume ${volume} has reclaim policy ${policy}: deleting the namespace would delete the final backup. ` +
                        `Fix: kubectl patch pv ${volume} -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}' (or archive the dumps elsewhere first)`,
                );
            }
        }
    } catch (err) {
        if (err instanceof KubeError && err.status === 404) problems.push(`no ${BACKUP_PVC} in ${ns}`);
        else throw err;
    }
    return problems;
}

/** Where purge stands in the manifest: the stack it runs on and the day it runs. */
export interface PurgeGateContext {
    readonly tenantId: string;
    readonly stack: string;
    /** The stack's region. */
    readonly region: string;
    /** YYYY-MM-DD. */
    readonly today: string;
    /** For messages. */
    readonly manifestPath: string;
}

/**
 * The manifest's conditions of a purge: the tenant is in the manifest, in the
 * stack's region, cancelled, and its deletion date (cancelledAt + 30 days) is
 * today or earlier. Returns the tenant and that date; throws PurgeRefused otherwise.
 */
export function purgeGate(
    tenants: readonly TenantSpec[],
    ctx: PurgeGateContext,
    tombstones: readonly TenantSpec[] = [],
): { tenant: TenantSpec; deleteAfter: string; cancelledAt: string } {
    const tomb = tombstones.find((t) => t.id === ctx.tenantId);
    if (tomb) throw new PurgeRefused(`tenant "${tomb.id}" was already purged on ${tomb.deletedAt ?? "?"}: its entry is a tombstone (status: deleted)`);
    const tenant = tenants.find((t) => t.id === ctx.tenantId);
    if (!tenant) throw new PurgeRefused(`tenant "${ctx.tenantId}" is not in ${ctx.manifestPath}`);
    if (tenant.region !== ctx.region) throw new PurgeRefused(`tenant "${tenant.id}" is in region ${tenant.region}, not ${ctx.region} (stack ${ctx.stack})`);
    if (tenant.status !== "cancelled" || !tenant.cancelledAt) {
        throw new PurgeRefused(`tenant "${tenant.id}" is ${tenant.status}: only a cancelled tenant's data can be removed, after its grace period`);
    }
    const deleteAfter = deletionDate(tenant.cancelledAt);
    if (ctx.today < deleteAfter) {
        throw new PurgeRefused(
            `tenant "${tenant.id}" is in its grace period until ${deleteAfter} (cancelled ${tenant.cancelledAt}); it can still be reactivated`,
        );
    }
    return { tenant, deleteAfter, cancelledAt: tenant.cancelledAt };
}

/**
 * Removes the tenant from the manifest through the one writer of the
 * manifest (core/manifestFile.ts, the lock the service takes too): under
 * the lock the file is read again, the purge's conditions are checked again
 * on that text (a webhook may have reactivated the tenant since purge first
 * read it), and the entry is removed from it, so a change committed in
 * between is kept. `audit`, the purge's record, is appended to the audit log
 * in the same write (with git: the same commit, pushed with the tombstone).
 * Throws PurgeRefused when the conditions no longer hold.
 */
export async function removeTenantFromManifest(
    manifestPath: string,
    ctx: PurgeGateContext,
    services?: readonly string[],
    repo?: ManifestRepo,
    audit?: PurgeAuditRecord,
): Promise<{ commit?: string }> {
    const file = new ManifestFile(manifestPath, { repo });
    const message = `tenantctl purge: tombstone ${ctx.tenantId} (data erased; stack ${ctx.stack}, grace period over on ${ctx.today})`;
    // With a repository, `current` is the remote tip's text, again on every retry after a refused push.
    const tombstone = (current: string): string => {
        const result = validateManifest(current, manifestPath, { services });
        if (!result.ok) throw new PurgeRefused(formatIssues(result.issues));
        const { tenant } = purgeGate(result.manifest.tenants, ctx, result.manifest.tombstones);
        // The day the data is erased (the real one, whatever date the grace period was evaluated at), never before the cancellation.
        const erased = utcDate();
        const next = tombstoneInSource(current, ctx.tenantId, tenant.cancelledAt && tenant.cancelledAt > erased ? tenant.cancelledAt : erased);
        const checked = validateManifest(next, manifestPath, { services });
        if (!checked.ok) throw new PurgeRefused(formatIssues(checked.issues));
        return next;
    };
    const out = await file.withLock(() =>
        file.transact((current) => ({
            text: tombstone(current),
            message,
            result: undefined,
            companions: audit ? auditCompanion(manifestPath, audit) : undefined,
        })),
    );
    return { commit: out.commit };
}

/** Sets `protect: false` on exactly the resources whose URN is in `urns`; every other resource keeps its flag. */
export function unprotect(resources: readonly { urn: string; protect?: boolean }[], urns: readonly string[]): void {
    const inside = new Set(urns);
    for (const r of resources) if (inside.has(r.urn)) r.protect = false;
}

/**
 * `tenantctl purge --due`: every cancelled tenant of the stack's region whose
 * deletion date has passed, purged one after the other (each with all of
 * purge's checks). A refusal (no final backup yet) is reported and the others
 * go on; the result lists both.
 */
export async function purgeDue(opts: Omit<PurgeOptions, "tenant">): Promise<{ purged: string[]; refused: { tenant: string; reason: string }[] }> {
    const log = opts.log ?? ((line: string) => process.stdout.write(`${line}\n`));
    const projectDir = opts.projectDir ?? PROJECT_DIR;
    const config = loadStackConfig(opts.stack, { projectDir, configFile: opts.configFile });
    const manifestPath = path.resolve(projectDir, config.manifest);
    const result = validateManifest(fs.readFileSync(manifestPath, "utf8"), manifestPath, { services: config.services });
    if (!result.ok) throw new PurgeRefused(formatIssues(result.issues));
    const today = opts.today ?? new Date().toISOString().slice(0, 10);
    const due = tenantsDue(
        result.manifest.tenants.filter((t) => t.region === config.region),
        today,
    );
    log(
        `${due.length} tenant(s) of region ${config.region} past their deletion date on ${today}${due.length ? `: ${due.map((d) => d.tenant.id).join(", ")}` : ""}`,
    );
    const purged: string[] = [];
    const refused: { tenant: string; reason: string }[] = [];
    for (const { tenant } of due) {
        try {
            const r = await purge({ ...opts, tenant: tenant.id, today });
            if (r.applied) purged.push(tenant.id);
        } catch (err) {
            if (!(err instanceof PurgeRefused)) throw err;
            refused.push({ tenant: tenant.id, reason: err.message });
            log(`purge of "${tenant.id}" refused: ${err.message}`);
        }
    }
    return { purged, refused };
}

export async function purge(opts: PurgeOptions): Promise<{ urns: string[]; applied: boolean }> {
    const log = opts.log ?? ((line: string) => process.stdout.write(`${line}\n`));
    const projectDir = opts.projectDir ?? PROJECT_DIR;
    // The plan is made on the remote tip; the write re-reads it under the lock.
    const { config, manifestPath, repo, source } = await openStackManifest(opts.stack, { projectDir, configFile: opts.configFile, git: opts.git });
    const result = validateManifest(source, manifestPath, { services: config.services });
    if (!result.ok) throw new PurgeRefused(formatIssues(result.issues));
    const today = opts.today ?? new Date().toISOString().slice(0, 10);
    const gate: PurgeGateContext = { tenantId: opts.tenant, stack: opts.stack, region: config.region, today, manifestPath };
    const { tenant, deleteAfter, cancelledAt } = purgeGate(result.manifest.tenants, gate, result.manifest.tombstones);
    const kubeconfig = config.kubernetes.kubeconfig
        ? path.resolve(projectDir, config.kubernetes.kubeconfig)
        : (process.env.KUBECONFIG ?? path.join(process.env.HOME ?? "", ".kube", "config"));
    const access = kubeAccess(kubeconfig, config.kubernetes.context);
    const problems = await finalBackupProblems((apiPath) => kubeGet(access, apiPath), namespaceName(tenant.id), cancelledAt);
    if (problems.length > 0) throw new PurgeRefused(`no final backup is recorded for tenant "${tenant.id}":\n${problems.map((p) => `  - ${p}`).join("\n")}`);

    const stack: Stack = await LocalWorkspace.selectStack({ stackName: opts.stack, workDir: projectDir });
    const state = await stack.exportStack();
    const deployment = state.deployment as { resources?: { urn: string; type: string; parent?: string; protect?: boolean }[] };
    const resources = deployment.resources ?? [];
    const urns = tenantUrns(resources, tenant.id);
    log(`purge of tenant "${tenant.id}" (stack ${opts.stack}): ${urns.length} resources, final backup recorded, grace period ended ${deleteAfter}`);
    for (const urn of urns) log(`  - ${urn}`);
    const buckets = config.features.buckets ? BUCKET_PURPOSES.map((p) => bucketName(tenant.id, p)) : [];
    let stores: BucketStores | undefined;
    if (buckets.length > 0) {
        // The objects must be in the archive first: the newest final backup holds each one as it is now.
        const env = objectStoreEnv(process.env);
        stores = { buckets: s3Client(env.buckets), archive: s3Client(env.archive), archiveBucket: env.archiveBucket };
        const coverage = await finalBackupCoverage(stores, tenant.id, buckets);
        const problem = coverageProblem(tenant.id, coverage);
        if (problem) throw new PurgeRefused(problem);
        log(
            `buckets ${buckets.join(", ")}: ${coverage.objects} object(s), ${coverage.bytes} bytes, all in the final backup ${coverage.stamp ?? "(none needed: empty)"} in s3://${env.archiveBucket}; they are emptied, then deleted by up`,
        );
    }
    if (!opts.yes) {
        log(
            "dry run: nothing changed. Re-run with --yes to empty the buckets, unprotect these resources, tombstone the tenant in the manifest and delete them.",
        );
        return { urns, applied: false };
    }
    const by = actor();
    let emptied: { bucket: string; deleted: number }[] | undefined;
    if (stores) emptied = await emptyBuckets(stores.buckets, buckets);
    unprotect(resources, urns);
    await stack.importStack(state);
    const audit = {
        by,
        tenant: tenant.id,
        stack: opts.stack,
        region: config.region,
        cancelledAt: tenant.cancelledAt,
        deletedAt: today,
        finalBackup: `the final-backup Job of ${namespaceName(tenant.id)} and the tenant's final backup in the archive`,
        ...(emptied ? { buckets: emptied.map(({ bucket, deleted }) => ({ bucket, deletedVersions: deleted })) } : {}),
    };
    try {
        // The tombstone and its audit record: one write, with git one commit, pushed.
        const tombstoned: PurgeAuditRecord = { at: new Date().toISOString(), action: "purge.tombstoned", ...audit, resources: urns };
        const { commit } = await removeTenantFromManifest(manifestPath, gate, config.services, repo, tombstoned);
        if (commit) log(`pushed ${commit.slice(0, 12)} (tombstone and audit record) to ${repo!.remote}/${repo!.branch}`);
    } catch (err) {
        if (err instanceof PurgeRefused) {
            throw new PurgeRefused(
                `${err.message}\n(the manifest changed since purge read it; nothing was removed. The resources were unprotected in the state: the next \`pulumi up\` protects them again)`,
            );
        }
        throw err;
    }
    log(`tombstoned "${tenant.id}" in ${manifestPath} (status: deleted, deletedAt: ${today}); audit in ${auditLogPath(manifestPath)}; running up`);
    const up = await stack.up({ onOutput: (o) => process.stdout.write(o), configFile: opts.configFile });
    const deleted = await recordAudit(
        manifestPath,
        { at: new Date().toISOString(), action: "purge.deleted", ...audit, changes: { ...(up.summary.resourceChanges ?? {}) } },
        repo,
    );
    if (deleted.commit) log(`pushed ${deleted.commit.slice(0, 12)} (audit record purge.deleted) to ${repo!.remote}/${repo!.branch}`);
    log(`purge of "${tenant.id}" done: ${JSON.stringify(up.summary.resourceChanges ?? {})}`);
    return { urns, applied: true };
}
