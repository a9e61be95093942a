/**
 * Shard assignment (lib/shards.ts): deterministic, stable under every
 * manifest edit that is not an explicit reshard, balanced.
 */
import fc from "fast-check";
import { assignShards, hashedShard, imbalance, parseShardStack, reshardPlan, shardOf, shardStackName, stableHash, stackOfShard } from "../../../lib/shards";

const tenantId = fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/);
const ids = fc.uniqueArray(tenantId, { minLength: 0, maxLength: 60 });
const shardCount = fc.integer({ min: 1, max: 16 });

describe("names", () => {
    test("shard stacks are <region stack>-sNN, and parse back", () => {
        expect(shardStackName("eu-west", 3)).toBe("eu-west-s03");
        expect(shardStackName("local", 0)).toBe("local-s00");
        expect(shardStackName("eu-west", 99)).toBe("eu-west-s99");
        expect(parseShardStack("eu-west-s03")).toEqual({ regionStack: "eu-west", index: 3 });
        expect(parseShardStack("org/tenant-platform/us-east-s12")).toEqual({ regionStack: "org/tenant-platform/us-east", index: 12 });
        expect(parseShardStack("eu-west")).toBeUndefined();
        expect(parseShardStack("eu-west-s3")).toBeUndefined();
        expect(() => shardStackName("eu-west", 100)).toThrow(RangeError);
        expect(() => shardStackName("eu-west", -1)).toThrow(RangeError);
    });

    test("one shard is the region stack itself", () => {
        expect(stackOfShard("eu-west", 1, 0)).toBe("eu-west");
        expect(stackOfShard("eu-west", 4, 0)).toBe("eu-west-s00");
    });
});

describe("the hash", () => {
    test("FNV-1a 32-bit, known vectors", () => {
        // Reference values of FNV-1a 32 (offset basis 2166136261, prime 16777619).
        expect(stableHash("")).toBe(2166136261);
        expect(stableHash("a")).toBe(0xe40c292c);
        expect(stableHash("foobar")).toBe(0xbf9cf968);
    });

    test("a tenant without a pin: hash modulo the shard count; a pin wins", () => {
        expect(hashedShard("abc", 1)).toBe(0);
        expect(shardOf({ id: "abc" }, 7)).toBe(stableHash("abc") % 7);
        expect(shardOf({ id: "abc", shard: 5 }, 7)).toBe(5);
        expect(() => hashedShard("abc", 0)).toThrow(RangeError);
        expect(() => hashedShard("abc", 101)).toThrow(RangeError);
    });
});

describe("assignment is stable", () => {
    test("adding, removing and reordering tenants moves no other tenant", () => {
        fc.assert(
            fc.property(ids, ids, shardCount, fc.integer(), (kept, extra, k, seed) => {
                const before = assignShards(
                    kept.map((id) => ({ id })),
                    k,
                );
                const shardBefore = new Map(before.flatMap((s, i) => s.map((id) => [id, i] as const)));
                const others = extra.filter((id) => !shardBefore.has(id));
                // Remove every third kept tenant, add the others, shuffle.
                const after = [...kept.filter((_, i) => i % 3 !== 0), ...others]
                    .map((id, i) => ({ id, key: (i * 2654435761 + seed) >>> 0 }))
                    .sort((a, b) => a.key - b.key)
                    .map(({ id }) => ({ id }));
                const assigned = assignShards(after, k);
                for (const [i, shard] of assigned.entries()) for (const id of shard) if (shardBefore.has(id)) expect(shardBefore.get(id)).toBe(i);
            }),
        );
    });

    test("every tenant is in exactly one shard, in manifest order", () => {
        fc.assert(
            fc.property(ids, shardCount, (list, k) => {
                const assigned = assignShards(
                    list.map((id) => ({ id })),
                    k,
                );
                expect(assigned).toHaveLength(k);
                expect(assigned.flat().sort()).toEqual([...list].sort());
                for (const shard of assigned) expect(shard).toEqual(list.filter((id) => shard.includes(id)));
            }),
        );
    });

    test("a pin beyond the shard count is refused, naming the tenant", () => {
        expect(() => assignShards([{ id: "abc", shard: 3 }], 3)).toThrow('tenant "abc" is pinned to shard 3, but the region has 3 shard(s)');
    });

    test("balanced: 1,000 synthetic tenants over 16 shards, the largest at most twice the mean", () => {
        const tenants = Array.from({ length: 1000 }, (_, i) => ({ id: `t${String(i).padStart(6, "0")}` }));
        for (const k of [2, 3, 4, 8, 16]) expect(imbalance(assignShards(tenants, k))).toBeLessThanOrEqual(2);
        expect(
            imbalance([
                ["a", "b"],
                ["c", "d"],
            ]),
        ).toBe(1);
        expect(imbalance([["a", "b", "c", "d"], []])).toBe(2);
    });
});

describe("reshard plan", () => {
    const twelve = Array.from({ length: 12 }, (_, i) => ({ id: `r${i}` }));

    test("1 → 3: every tenant leaves the region stack for its hashed shard, and is pinned there", () => {
        const { moves, pins } = reshardPlan("local", twelve, 1, 3);
        expect(moves).toHaveLength(12);
        for (const m of moves) {
            expect(m.fromStack).toBe("local");
            expect(m.toStack).toBe(`local-s0${stableHash(m.tenant) % 3}`);
            expect(pins.get(m.tenant)).toBe(stableHash(m.tenant) % 3);
        }
    });

    test("3 → 2 moves exactly the tenants whose stack changes; 2 → 2 moves nothing", () => {
        const pinned = twelve.map((t) => ({ ...t, shard: stableHash(t.id) % 3 }));
        const { moves } = reshardPlan("local", pinned, 3, 2);
        const expected = pinned.filter((t) => t.shard !== stableHash(t.id) % 2).map((t) => t.id);
        expect(moves.map((m) => m.tenant)).toEqual(expected);
        const again = pinned.map((t) => ({ id: t.id, shard: stableHash(t.id) % 2 }));
        expect(reshardPlan("local", again, 2, 2).moves).toEqual([]);
    });

    test("back to 1 shard: every tenant returns to the region stack", () => {
        const pinned = twelve.map((t) => ({ ...t, shard: stableHash(t.id) % 2 }));
        const { moves, pins } = reshardPlan("eu-west", pinned, 2, 1);
        expect(moves.every((m) => m.toStack === "eu-west" && /^eu-west-s0[01]$/.test(m.fromStack))).toBe(true);
        expect(moves).toHaveLength(12);
        expect([...pins.values()].every((p) => p === 0)).toBe(true);
    });
});
