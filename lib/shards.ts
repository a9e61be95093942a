/**
 * Region shards. A region stays the unit of data residency; within it, the
 * tenants are spread over shard stacks `<region stack>-sNN`, each small enough
 * that its engine cost does not depend on the region's size. Pure.
 *
 * A tenant's shard is its pinned `shard` (written by `tenantctl reshard`), else
 * a stable hash of its id modulo the region's shard count: adding, removing,
 * reordering or editing other tenants never changes it.
 */

/** The most shards a region can have: two-digit stack suffixes. */
export const MAX_SHARDS = 100;

const SHARD_SUFFIX = /^(.+)-s(\d{2})$/;

/** The stack of shard `index` of the region stack `regionStack`: `eu-west-s03`. */
export function shardStackName(regionStack: string, index: number): string {
    if (!Number.isInteger(index) || index < 0 || index >= MAX_SHARDS) throw new RangeError(`shard index ${index} is not within 0..${MAX_SHARDS - 1}`);
    return `${regionStack}-s${String(index).padStart(2, "0")}`;
}

/**
 * The stack that holds shard `index` of a region with `shards` shards: the
 * region stack itself when the region is not sharded (one shard), else
 * `<region stack>-sNN`.
 */
export function stackOfShard(regionStack: string, shards: number, index: number): string {
    return shards === 1 ? regionStack : shardStackName(regionStack, index);
}

/** The region stack and index of a shard stack's name, or undefined when the name is not a shard's. */
export function parseShardStack(stack: string): { regionStack: string; index: number } | undefined {
    const m = SHARD_SUFFIX.exec(stack);
    return m ? { regionStack: m[1], index: Number(m[2]) } : undefined;
}

/** 32-bit FNV-1a of a string's UTF-16 code units: stable across processes, platforms and Node versions. */
export function stableHash(text: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
        h ^= text.charCodeAt(i);
        h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h >>> 0;
}

/** The shard a tenant without a pin belongs to, for `shards` shards. */
export function hashedShard(tenantId: string, shards: number): number {
    if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) throw new RangeError(`shard count ${shards} is not within 1..${MAX_SHARDS}`);
    return stableHash(tenantId) % shards;
}

/** What the assignment needs of a tenant. */
export interface ShardedTenant {
    readonly id: string;
    readonly shard?: number;
}

/** A tenant's shard: its pin, else its hash. */
export function shardOf(tenant: ShardedTenant, shards: number): number {
    return tenant.shard ?? hashedShard(tenant.id, shards);
}

/** The tenant ids of each shard, in manifest order; index i is shard i. */
export function assignShards(tenants: readonly ShardedTenant[], shards: number): string[][] {
    const out: string[][] = Array.from({ length: shards }, () => []);
    for (const t of tenants) {
        const s = shardOf(t, shards);
        if (s >= shards) throw new RangeError(`tenant "${t.id}" is pinned to shard ${s}, but the region has ${shards} shard(s)`);
        out[s].push(t.id);
    }
    return out;
}

/** The largest shard relative to the mean: 1 is perfect balance; the platform keeps it at most 2. */
export function imbalance(assignment: readonly (readonly string[])[]): number {
    const total = assignment.reduce((n, s) => n + s.length, 0);
    if (total === 0) return 1;
    const mean = total / assignment.length;
    return Math.max(...assignment.map((s) => s.length)) / mean;
}

/** One tenant's move of a reshard, between two stacks of its region. */
export interface ShardMove {
    readonly tenant: string;
    readonly fromStack: string;
    readonly toStack: string;
}

/**
 * The plan of `tenantctl reshard` from `fromShards` to `toShards`: every
 * tenant goes to its hashed shard under the new count (which keeps the shards
 * balanced), and is pinned there. Returns the moves between stacks and the
 * pins to write into the manifest.
 */
export function reshardPlan(
    regionStack: string,
    tenants: readonly ShardedTenant[],
    fromShards: number,
    toShards: number,
): { moves: ShardMove[]; pins: Map<string, number> } {
    const moves: ShardMove[] = [];
    const pins = new Map<string, number>();
    for (const t of tenants) {
        const fromStack = stackOfShard(regionStack, fromShards, shardOf(t, fromShards));
        const to = hashedShard(t.id, toShards);
        const toStack = stackOfShard(regionStack, toShards, to);
        pins.set(t.id, to);
        if (fromStack !== toStack) moves.push({ tenant: t.id, fromStack, toStack });
    }
    return { moves, pins };
}
