/**
 * What a crashed update leaves in a self-managed (DIY) backend, and the
 * documented Pulumi commands that repair it (README, "Region shards",
 * "After a crash"). Pure: the region runner (core/region.ts) reads the lock
 * message and the checkpoint, and runs the commands this module plans.
 *
 * A `pulumi up` killed with SIGKILL (or an OOM kill, a reboot) leaves two
 * things behind:
 *  1. its lock file: the next update fails with "the stack is currently
 *     locked by 1 lock(s) … created by user@host (pid N) at T". When that
 *     process is gone, `pulumi cancel --yes` (supported by the DIY backends
 *     since pulumi/pulumi#9100) removes the lock;
 *  2. the checkpoint's `pending_operations`: the steps that had started and
 *     not finished. A non-interactive `pulumi up` only warns about them,
 *     creates those resources again, and keeps the pending operations in the
 *     state. `pulumi refresh` resolves them: `--import-pending-creates URN ID`
 *     adopts a pending create whose provider ID is known (the refresh reads
 *     it: an object that exists is kept with its UID, one that was never
 *     created is dropped), `--clear-pending-creates` drops the other pending
 *     creates, and the refresh itself settles pending updates and deletes.
 */

/** One lock of a DIY stack, as the CLI's "currently locked" error lists it. */
export interface StackLock {
    readonly user: string;
    readonly host: string;
    readonly pid: number;
    readonly at: string;
}

const LOCK_LINE = /created by ([^@\s]+)@(\S+) \(pid (\d+)\) at (\S+)/g;

/** The locks a DIY backend's "the stack is currently locked by N lock(s)" error names; empty for any other text. */
export function parseLocks(message: string): StackLock[] {
    if (!message.includes("the stack is currently locked by")) return [];
    // The CLI's output may be quoted more than once in an error (stdout and stderr): each lock once.
    const seen = new Set<string>();
    const locks: StackLock[] = [];
    for (const m of message.matchAll(LOCK_LINE)) {
        if (seen.has(m[0])) continue;
        seen.add(m[0]);
        locks.push({ user: m[1], host: m[2], pid: Number(m[3]), at: m[4] });
    }
    return locks;
}

/**
 * Whether every lock was left by a process that no longer runs: taken on
 * this host by a pid that is not alive. A lock of another host (a CI runner,
 * a colleague) is never judged stale: its owner may still be updating.
 */
export function allStale(locks: readonly StackLock[], hostname: string, isAlive: (pid: number) => boolean): boolean {
    return locks.length > 0 && locks.every((l) => l.host === hostname && !isAlive(l.pid));
}

/** A pending operation of a checkpoint (`pending_operations[]`), as far as the repair reads it. */
export interface PendingOperation {
    readonly type: string;
    readonly resource: {
        readonly urn: string;
        readonly type: string;
        readonly custom?: boolean;
        readonly id?: string;
        readonly inputs?: Record<string, unknown>;
    };
}

/** Kubernetes kinds that are not namespaced: their provider ID is the bare name. */
const CLUSTER_SCOPED_KINDS = new Set([
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "RuntimeClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ClusterIssuer",
    "ClusterSecretStore",
    "ClusterExternalSecret",
]);

/**
 * The provider ID of a pending Kubernetes create, from the inputs the engine
 * recorded before the create started (the provider's checked inputs, the
 * auto-named `metadata.name` included): `namespace/name`, or `name` for a
 * cluster-scoped kind. Undefined when it cannot be known: not a Kubernetes
 * resource, a Patch (it owns no object), no name, or a namespaced kind
 * without an explicit namespace (the provider would use its context's).
 */
export function kubernetesId(type: string, inputs: Readonly<Record<string, unknown>> | undefined): string | undefined {
    const m = /^kubernetes:[^:]+:([A-Za-z0-9]+)$/.exec(type);
    if (!m || m[1].endsWith("Patch")) return undefined;
    const meta = inputs?.metadata;
    if (meta === null || typeof meta !== "object") return undefined;
    const { name, namespace } = meta as { name?: unknown; namespace?: unknown };
    if (typeof name !== "string" || name === "") return undefined;
    if (CLUSTER_SCOPED_KINDS.has(m[1])) return name;
    return typeof namespace === "string" && namespace !== "" ? `${namespace}/${name}` : undefined;
}

/** How the region runner resolves a checkpoint's pending operations. */
export interface PendingRepair {
    /** Pending creates to adopt with `--import-pending-creates URN ID`. */
    readonly imports: readonly { readonly urn: string; readonly id: string }[];
    /**
     * Pending creates to drop with `--clear-pending-creates`: `in-state` when
     * a later update already recorded the resource (a stale record: importing
     * it would record it twice), `no-id` when its provider ID cannot be known
     * (the next `up` creates it again).
     */
    readonly cleared: readonly { readonly urn: string; readonly reason: "in-state" | "no-id" }[];
    /** Pending updates, deletes, reads…: the refresh reads those resources and settles them. */
    readonly others: readonly { readonly urn: string; readonly type: string }[];
}

/** The repair of `pending` for a state that already records the resources `stateUrns`. */
export function pendingRepair(pending: readonly PendingOperation[], stateUrns: ReadonlySet<string>): PendingRepair {
    const imports: { urn: string; id: string }[] = [];
    const cleared: { urn: string; reason: "in-state" | "no-id" }[] = [];
    const others: { urn: string; type: string }[] = [];
    const seen = new Set<string>();
    for (const op of pending) {
        const urn = op.resource.urn;
        if (op.type !== "creating") {
            others.push({ urn, type: op.type });
            continue;
        }
        if (stateUrns.has(urn) || seen.has(urn)) {
            cleared.push({ urn, reason: "in-state" });
            continue;
        }
        const id = op.resource.custom === false ? undefined : kubernetesId(op.resource.type, op.resource.inputs);
        if (id === undefined) cleared.push({ urn, reason: "no-id" });
        else {
            imports.push({ urn, id });
            seen.add(urn);
        }
    }
    return { imports, cleared, others };
}

/** Whether the repair has anything to do. */
export function needsRepair(r: PendingRepair): boolean {
    return r.imports.length + r.cleared.length + r.others.length > 0;
}

/** The `pulumi refresh` flags of a repair (after `--yes --skip-preview`): one `--import-pending-creates` per URN and per ID, in pairs. */
export function refreshRepairArgs(r: PendingRepair): string[] {
    const args = r.imports.flatMap((i) => ["--import-pending-creates", i.urn, "--import-pending-creates", i.id]);
    if (r.cleared.length > 0) args.push("--clear-pending-creates");
    return args;
}

/** One line per action of a repair, for the run's report. */
export function repairLines(r: PendingRepair): string[] {
    return [
        ...(r.imports.length > 0 ? [`imported ${r.imports.length} pending create(s): ${r.imports.map((i) => i.id).join(", ")}`] : []),
        ...(r.cleared.some((c) => c.reason === "in-state")
            ? [`cleared ${r.cleared.filter((c) => c.reason === "in-state").length} stale pending create(s) already in the state`]
            : []),
        ...(r.cleared.some((c) => c.reason === "no-id")
            ? [
                  `cleared ${r.cleared.filter((c) => c.reason === "no-id").length} pending create(s) without a known ID (created again by the update): ${r.cleared
                      .filter((c) => c.reason === "no-id")
                      .map((c) => c.urn)
                      .join(", ")}`,
              ]
            : []),
        ...(r.others.length > 0 ? [`refreshed ${r.others.length} pending ${[...new Set(r.others.map((o) => o.type))].sort().join("/")} operation(s)`] : []),
    ];
}
