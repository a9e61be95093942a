/**
 * Credential rotation: the pure rules (issue 12).
 *
 * Every credential of a tenant (one database account per service, the
 * RabbitMQ user, the object-store user) exists twice, in slots `a` and `b`.
 * The tenant's Secret names the active slot; the other slot is either still
 * live (the grace window after a switch, while pods started before it still
 * hold its password) or retired (its password replaced by one nobody knows).
 * MariaDB has no dual passwords, RabbitMQ and MinIO neither: two accounts
 * give the overlap a zero-downtime change needs.
 *
 * A rotation is two applies, each a change of the manifest's `rotations:`
 * block followed by `pulumi up`:
 *   1. switch: generation n -> n+1. The inactive slot gets a new password
 *      (its RandomPassword's keepers change) and becomes active; the Secret
 *      is updated only after that account has it (dependsOn). The old slot
 *      keeps its password: running clients are unaffected.
 *   2. retire: once the grace window has passed and no pod started before
 *      the switch is left, the old slot's password is replaced: the old
 *      password is refused from then on.
 * Generation 0 (no entry) is today's state: slot a active with the password
 * its RandomPassword has always had (no keepers), so adding slot b to an
 * existing tenant changes nothing that a client uses.
 *
 * The archive credential (`archive`) is the exception to "two accounts": its
 * two slots are two access keys of the tenant's one AWS IAM user, whose
 * secrets the server generates. A switch creates the inactive slot's key, a
 * retirement deletes the old one (archiveKeyExists).
 *
 * Pure: no I/O, no Pulumi SDK.
 */
import { isMap, isScalar, parseDocument, type Document, type YAMLMap } from "yaml";
import { archiveUserName } from "./archiveAccess";
import { ARCHIVE_CREDENTIALS_SECRET } from "./archiveLayout";
import { BUCKET_CREDENTIALS_SECRET, RABBITMQ_CREDENTIALS_SECRET, bucketUser, databaseUser, dbCredentialsSecretName, rabbitUser } from "./naming";

/** Days after which a credential is rotated again by `tenantctl rotate --due`. */
export const ROTATION_PERIOD_DAYS = 90;
/** Hours the previous slot stays live after a switch (pods restart within it; the aws backend's ExternalSecret refreshes hourly). */
export const ROTATION_GRACE_HOURS = 24;

/** The credential key of the tenant's RabbitMQ user (database credentials are keyed by service name). */
export const RABBITMQ_CREDENTIAL = "rabbitmq";
/** The credential key of the tenant's object-store (MinIO) user. */
export const STORAGE_CREDENTIAL = "storage";
/** The credential key of the tenant's archive identity (its AWS IAM user's access keys, features.archiveIdentity). */
export const ARCHIVE_CREDENTIAL = "archive";

export type Slot = "a" | "b";
export const SLOTS: readonly Slot[] = ["a", "b"];

export interface CredentialState {
    /** Rotations so far; the active slot is a when even, b when odd. */
    readonly generation: number;
    /** When the last switch was recorded (ISO 8601, UTC, seconds): the grace window and the next due date count from it. */
    readonly rotatedAt: string;
    /** Whether the previous slot's password has been replaced (step 2 done). */
    readonly retired: boolean;
}

/** Per credential key (a service name, `rabbitmq`, `storage`): its state. Missing keys are at generation 0. */
export type TenantRotations = Readonly<Record<string, CredentialState>>;
/** Per tenant id. */
export type Rotations = Readonly<Record<string, TenantRotations>>;

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

export function isTimestamp(value: string): boolean {
    if (!TIMESTAMP.test(value)) return false;
    const d = new Date(value);
    return !Number.isNaN(d.getTime()) && d.toISOString().replace(".000Z", "Z") === value;
}

/** `now` as the block writes it: ISO 8601 to the second, UTC. */
export function timestamp(now: Date): string {
    return now.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Which data components a stack deploys (stacks/config.ts features): a credential exists only where its component does. */
export interface CredentialFeatures {
    readonly databases: boolean;
    readonly vhosts: boolean;
    readonly buckets: boolean;
    /** The archive identity (an AWS IAM user per tenant); absent: off, as in stacks/config.ts. */
    readonly archiveIdentity?: boolean;
}

/** Every credential key of a tenant under the stack's services (and, given, its features; without them, every key a manifest may hold). */
export function credentialKeys(services: readonly string[], features?: CredentialFeatures): string[] {
    if (!features) return [...services, RABBITMQ_CREDENTIAL, STORAGE_CREDENTIAL, ARCHIVE_CREDENTIAL];
    return [
        ...(features.databases ? services : []),
        ...(features.vhosts ? [RABBITMQ_CREDENTIAL] : []),
        ...(features.buckets ? [STORAGE_CREDENTIAL] : []),
        ...(features.archiveIdentity ? [ARCHIVE_CREDENTIAL] : []),
    ];
}

/** The state of a credential never rotated: slot a active since the tenant was created. */
export function initialState(createdDate: string): CredentialState {
    return { generation: 0, rotatedAt: `${createdDate}T00:00:00Z`, retired: true };
}

export function activeSlot(state: CredentialState | undefined): Slot {
    return (state?.generation ?? 0) % 2 === 0 ? "a" : "b";
}

/**
 * The keepers of a slot's RandomPassword: a change of keepers is a new
 * password. Each step changes exactly one slot's keepers: a switch the newly
 * active slot's, a retirement the previous slot's. Generation 0 yields none,
 * the inputs every tenant had before rotation existed.
 */
export function passwordKeepers(state: CredentialState | undefined, slot: Slot): Record<string, string> | undefined {
    const n = state?.generation ?? 0;
    if (n === 0) return undefined;
    if (slot === activeSlot(state)) return { generation: String(n) };
    // The previous slot: its own generation's password while live, a fresh one once retired.
    if (!state?.retired) return n - 1 === 0 ? undefined : { generation: String(n - 1) };
    return { retired: String(n) };
}

/**
 * One slot of the archive credential: an access key of the tenant's one AWS
 * IAM user (AWS allows two per user). The server generates the secret, so a
 * slot is re-keyed by creating its key anew, and retired by deleting it:
 *   - the active slot's key exists (generation 0: slot a's key, the one every
 *     tenant always had);
 *   - the previous slot's key exists while its grace window lasts and is
 *     deleted by the retirement (generation 0 has no previous slot: slot b
 *     has no key until the first switch);
 *   - a switch creates the inactive slot's key: that slot was retired, so it
 *     has none, and the user has at most two keys at any time.
 */
export function archiveKeyExists(state: CredentialState | undefined, slot: Slot): boolean {
    if (slot === activeSlot(state)) return true;
    return (state?.generation ?? 0) > 0 && !state!.retired;
}

/** The Pulumi name of a slot's access key: slot a keeps the name the tenant's one key always had. */
export function archiveKeyResourceName(tenantId: string, slot: Slot): string {
    return `${tenantId}-archive-key${slot === "a" ? "" : "-b"}`;
}

/** A resource of a stack's state (`pulumi stack export`): the fields the archive key lookup reads. */
export interface StateResource {
    readonly urn: string;
    readonly type: string;
    readonly id?: string;
}

/** The access key id (the resource's id) of a slot's archive key in a stack's state; undefined when the state has no such key. */
export function archiveKeyIdInState(resources: readonly StateResource[], tenantId: string, slot: Slot): string | undefined {
    const suffix = `collectverything:tenant:TenantArchiveAccess$aws:iam/accessKey:AccessKey::${archiveKeyResourceName(tenantId, slot)}`;
    const found = resources.filter((r) => r.type === "aws:iam/accessKey:AccessKey" && r.urn.endsWith(suffix));
    return found.length === 1 && found[0].id ? found[0].id : undefined;
}

/** A refused rotation step: the message names the credential and the fix. */
export class RotationRefused extends Error {}

export type StepKind = "switch" | "retire";

export interface RotationStep {
    readonly kind: StepKind;
    readonly tenant: string;
    readonly credential: string;
    readonly from: CredentialState;
    readonly to: CredentialState;
    /** Why it is due, for the plan. */
    readonly reason: string;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** When the previous slot may be retired. */
export function retireAfter(state: CredentialState): Date {
    return new Date(new Date(state.rotatedAt).getTime() + ROTATION_GRACE_HOURS * HOUR);
}

/** When the next scheduled switch is due. */
export function nextRotation(state: CredentialState): Date {
    return new Date(new Date(state.rotatedAt).getTime() + ROTATION_PERIOD_DAYS * DAY);
}

/**
 * Step 1 for one credential. Refused while the previous switch's old slot is
 * still live: rotating again would change the password of the slot that pods
 * started before the previous switch may still use.
 */
export function switchStep(tenant: string, credential: string, state: CredentialState, now: Date, reason = "on demand"): RotationStep {
    if (!state.retired) {
        throw new RotationRefused(
            `tenant "${tenant}" credential "${credential}": the previous rotation (generation ${state.generation}, ${state.rotatedAt}) is in its grace window; its old slot is still live. ` +
                `Fix: retire it first (tenantctl rotate --tenant ${tenant} --service ${credential} --retire, possible from ${timestamp(retireAfter(state))}), then rotate again`,
        );
    }
    return { kind: "switch", tenant, credential, from: state, to: { generation: state.generation + 1, rotatedAt: timestamp(now), retired: false }, reason };
}

/** Step 2 for one credential; refused before the grace window ends, or when there is nothing to retire. */
export function retireStep(tenant: string, credential: string, state: CredentialState, now: Date): RotationStep {
    if (state.retired) {
        throw new RotationRefused(`tenant "${tenant}" credential "${credential}": nothing to retire (generation ${state.generation} has no live old slot)`);
    }
    const after = retireAfter(state);
    if (now < after) {
        throw new RotationRefused(
            `tenant "${tenant}" credential "${credential}": the grace window of the switch at ${state.rotatedAt} ends at ${timestamp(after)} (${ROTATION_GRACE_HOURS} h). Fix: retire after that time`,
        );
    }
    return { kind: "retire", tenant, credential, from: state, to: { ...state, retired: true }, reason: `grace window ended ${timestamp(after)}` };
}

/** The state of one credential: its recorded entry, or generation 0 since the tenant's creation. */
export function stateOf(rotations: Rotations | undefined, tenant: { readonly id: string; readonly createdDate: string }, credential: string): CredentialState {
    return rotations?.[tenant.id]?.[credential] ?? initialState(tenant.createdDate);
}

/**
 * What `tenantctl rotate --due` does at `now`: retire every old slot whose
 * grace window ended, and switch every credential whose last switch is
 * ROTATION_PERIOD_DAYS old (never both for one credential in one run).
 */
export function dueSteps(
    tenants: readonly { readonly id: string; readonly createdDate: string }[],
    rotations: Rotations | undefined,
    services: readonly string[],
    now: Date,
    features?: CredentialFeatures,
): RotationStep[] {
    const steps: RotationStep[] = [];
    for (const t of tenants) {
        for (const credential of credentialKeys(services, features)) {
            const state = stateOf(rotations, t, credential);
            if (!state.retired) {
                if (now >= retireAfter(state)) steps.push(retireStep(t.id, credential, state, now));
            } else if (now >= nextRotation(state)) {
                steps.push(switchStep(t.id, credential, state, now, `last switch ${state.rotatedAt}, ${ROTATION_PERIOD_DAYS} days ago or more`));
            }
        }
    }
    return steps;
}

function rotationsMap(doc: Document): YAMLMap {
    const node = doc.get("rotations", true);
    if (isMap(node)) return node;
    const created = doc.createNode({});
    doc.set("rotations", created);
    return created;
}

/** Writes the steps' new states into a manifest source (the `rotations:` block), keeping comments and order. */
export function applySteps(source: string, steps: readonly RotationStep[]): string {
    if (steps.length === 0) return source;
    const doc = parseDocument(source);
    const block = rotationsMap(doc);
    for (const step of steps) {
        const found: unknown = block.get(step.tenant, true);
        let tenant: YAMLMap;
        if (isMap(found)) {
            tenant = found;
        } else {
            tenant = doc.createNode({});
            block.set(step.tenant, tenant);
        }
        const entry = doc.createNode({ generation: step.to.generation, rotatedAt: step.to.rotatedAt, retired: step.to.retired }) as YAMLMap;
        entry.flow = true;
        // Quoted: a YAML 1.1 reader would take an unquoted ISO instant for a timestamp.
        const when = entry.get("rotatedAt", true);
        if (isScalar(when)) when.type = "QUOTE_DOUBLE";
        tenant.set(step.credential, entry);
    }
    return doc.toString({ flowCollectionPadding: false });
}

/** Removes a tenant's rotation states (its purge: the accounts are gone). */
export function removeTenantRotations(source: string, tenantId: string): string {
    const doc = parseDocument(source);
    const block = doc.get("rotations", true);
    if (!isMap(block) || !block.has(tenantId)) return source;
    block.delete(tenantId);
    if (block.items.length === 0) doc.delete("rotations");
    return doc.toString({ flowCollectionPadding: false });
}

/** One problem in the `rotations:` block, located by its path in the document; lib/manifest.ts adds file and line. */
export interface RotationIssue {
    readonly path: readonly (string | number)[];
    readonly tenant?: string;
    readonly field: string;
    readonly value?: unknown;
    readonly problem: string;
    readonly allowed: string;
    readonly fix: string;
}

/**
 * Checks the `rotations:` block: a map of live tenant ids to maps of
 * credential keys to `{generation, rotatedAt, retired}`. Returns the parsed
 * block and its problems.
 */
export function parseRotations(
    raw: unknown,
    ctx: { readonly live: ReadonlySet<string>; readonly deleted: ReadonlySet<string>; readonly credentials: readonly string[] },
): { rotations: Rotations; issues: RotationIssue[] } {
    const issues: RotationIssue[] = [];
    const rotations: Record<string, Record<string, CredentialState>> = {};
    if (raw === undefined || raw === null) return { rotations, issues };
    const fix = "let `tenantctl rotate` write this block; do not edit it by hand";
    if (typeof raw !== "object" || Array.isArray(raw)) {
        issues.push({
            path: ["rotations"],
            field: "rotations",
            value: raw,
            problem: "rotations is not a map",
            allowed: "a map of tenant ids to credential states",
            fix,
        });
        return { rotations, issues };
    }
    for (const [tenant, creds] of Object.entries(raw as Record<string, unknown>)) {
        if (!ctx.live.has(tenant)) {
            issues.push({
                path: ["rotations", tenant],
                tenant,
                field: "rotations",
                problem: ctx.deleted.has(tenant)
                    ? "rotation state of a deleted tenant (its accounts were purged)"
                    : "rotation state of a tenant that is not in the manifest",
                allowed: "ids of live tenants",
                fix: `remove rotations.${tenant}`,
            });
            continue;
        }
        if (creds === null || typeof creds !== "object" || Array.isArray(creds)) {
            issues.push({
                path: ["rotations", tenant],
                tenant,
                field: `rotations.${tenant}`,
                value: creds,
                problem: "not a map of credentials",
                allowed: ctx.credentials.join(", "),
                fix,
            });
            continue;
        }
        for (const [credential, state] of Object.entries(creds as Record<string, unknown>)) {
            const field = `rotations.${tenant}.${credential}`;
            const path = ["rotations", tenant, credential];
            if (!ctx.credentials.includes(credential)) {
                issues.push({ path, tenant, field, problem: "unknown credential", allowed: ctx.credentials.join(", "), fix: `remove ${field}` });
                continue;
            }
            const s = state as Record<string, unknown> | null;
            const ok =
                s !== null &&
                typeof s === "object" &&
                !Array.isArray(s) &&
                Object.keys(s).every((k) => k === "generation" || k === "rotatedAt" || k === "retired") &&
                typeof s.generation === "number" &&
                Number.isInteger(s.generation) &&
                s.generation >= 1 &&
                typeof s.rotatedAt === "string" &&
                isTimestamp(s.rotatedAt) &&
                typeof s.retired === "boolean";
            if (!ok) {
                issues.push({
                    path,
                    tenant,
                    field,
                    value: state,
                    problem: "invalid credential state",
                    allowed: "{generation: <integer from 1>, rotatedAt: <YYYY-MM-DDThh:mm:ssZ>, retired: <true|false>}",
                    fix,
                });
                continue;
            }
            (rotations[tenant] ??= {})[credential] = { generation: s.generation as number, rotatedAt: s.rotatedAt as string, retired: s.retired as boolean };
        }
    }
    return { rotations, issues };
}

/** Where the tenant's namespace receives a credential, and the account a slot of it names. */
export interface CredentialAccount {
    /** The Secret in the tenant's namespace. */
    readonly secret: string;
    /** Its key holding the account name. */
    readonly usernameKey: string;
    /** The account of the slot. */
    readonly user: string;
}

export function credentialAccount(tenantId: string, credential: string, slot: Slot): CredentialAccount {
    if (credential === RABBITMQ_CREDENTIAL) return { secret: RABBITMQ_CREDENTIALS_SECRET, usernameKey: "AMQP_USERNAME", user: rabbitUser(tenantId, slot) };
    if (credential === STORAGE_CREDENTIAL) return { secret: BUCKET_CREDENTIALS_SECRET, usernameKey: "S3_ACCESS_KEY_ID", user: bucketUser(tenantId, slot) };
    // The Secret names an access key id the server generated: the key of the slot, `activeKeyId` in the retirement evidence.
    if (credential === ARCHIVE_CREDENTIAL) return { secret: ARCHIVE_CREDENTIALS_SECRET, usernameKey: "AWS_ACCESS_KEY_ID", user: archiveUserName(tenantId) };
    return { secret: dbCredentialsSecretName(credential), usernameKey: "DB_USERNAME", user: databaseUser(tenantId, credential, slot) };
}

/** What the cluster says about a credential before its old slot is retired. */
export interface RetireEvidence {
    /** The account the namespace's Secret names now (undefined: no such Secret). */
    readonly secretUser?: string;
    /** The last change of that Secret (ISO 8601): its newest managedFields time. */
    readonly secretChangedAt?: string;
    /** The namespace's running pods and when they started (ISO 8601). */
    readonly pods: readonly { readonly name: string; readonly startTime?: string }[];
    /** The archive credential only: the access key id of the active slot, from the stack's state (undefined: not found there). */
    readonly activeKeyId?: string;
}

/**
 * Why the old slot of `step` cannot be retired yet (empty: it can): the
 * namespace's Secret must already name the active slot's account (with the
 * aws-secrets-manager backend, external-secrets has synced it), and no pod may
 * have started before that Secret changed (it would still hold the old
 * password, and lose it at the retirement).
 */
export function retireProblems(tenantId: string, namespace: string, step: RotationStep, evidence: RetireEvidence): string[] {
    const slot = activeSlot(step.from);
    const account = credentialAccount(tenantId, step.credential, slot);
    const where = `${namespace}/${account.secret}`;
    let expected = account.user;
    let what = `the active account ${account.user}`;
    if (step.credential === ARCHIVE_CREDENTIAL) {
        if (evidence.activeKeyId === undefined) {
            return [
                `the stack's state has no access key ${archiveKeyResourceName(tenantId, slot)} (slot ${slot} of ${account.user}). Fix: run up (the switch creates it), then retry`,
            ];
        }
        expected = evidence.activeKeyId;
        what = `the active slot ${slot}'s access key ${evidence.activeKeyId}`;
    }
    if (evidence.secretUser === undefined) return [`the Secret ${where} is missing or has no ${account.usernameKey}`];
    if (evidence.secretUser !== expected) {
        return [
            `the Secret ${where} still names ${evidence.secretUser}, not ${what}. Fix: wait for the Secret to be updated (aws-secrets-manager: external-secrets refreshes it), then retry`,
        ];
    }
    const changed = evidence.secretChangedAt ?? step.from.rotatedAt;
    // A pod not started yet (no startTime: unscheduled, pulling) reads the Secret as it is when it starts.
    const stale = evidence.pods.filter((p) => p.startTime !== undefined && p.startTime < changed);
    if (stale.length === 0) return [];
    return [
        `${stale.length} pod(s) in ${namespace} started before the Secret changed (${changed}) and may hold the old password: ${stale
            .map((p) => p.name)
            .slice(0, 10)
            .join(", ")}. Fix: kubectl -n ${namespace} rollout restart deployment (tenantctl rotate does it after a switch), then retry`,
    ];
}
