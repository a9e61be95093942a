/**
 * Region shards through the real program (synth): with K > 1 shards the region
 * stack declares only the shared resources and each shard stack `<region
 * stack>-sNN` exactly its own tenants; every region tenant is in exactly one
 * shard; a shard's settings come from its region's file.
 */
import { hashedShard } from "../../../lib/shards";
import { shardConfig } from "../../../stacks/program";
import { loadManifest } from "../../../core/manifestSource";
import { SHIPPED_MANIFEST } from "../../support/manifests";
import { SYNTH_TIMEOUT_MS, T, synth, type SynthResult } from "../../support/synth";

const SHARDS = { "tenant-platform:shards": "3" };
// The local stack acts as eu-west: these are its tenants, in manifest order.
const EU_WEST = loadManifest(SHIPPED_MANIFEST)
    .tenants.filter((t) => t.region === "eu-west")
    .map((t) => t.id);

let region: SynthResult;
const shards: SynthResult[] = [];
let unsharded: SynthResult;

beforeAll(async () => {
    unsharded = await synth({ stack: "local" });
    region = await synth({ stack: "local", configOverrides: SHARDS });
    for (const i of [0, 1, 2]) shards.push(await synth({ stack: `local-s0${i}`, configOverrides: SHARDS }));
}, 3 * SYNTH_TIMEOUT_MS);

const tenantsOf = (r: SynthResult) => [...new Set(r.resources.map((x) => x.tenant).filter((t): t is string => t !== undefined))];

test("the shipped local stack is one shard: the region stack declares every eu-west tenant and the shared resources", () => {
    expect(tenantsOf(unsharded).sort()).toEqual([...EU_WEST].sort());
    expect(unsharded.resources.filter((r) => r.type === T.SharedRegion)).toHaveLength(1);
});

test("with 3 shards the region stack declares only the shared resources, exactly as before", () => {
    expect(tenantsOf(region)).toEqual([]);
    const shared = (r: SynthResult) => r.resources.filter((x) => x.tenant === undefined).map((x) => `${x.type}::${x.name}`);
    expect(shared(region)).toEqual(shared(unsharded));
});

test("each shard stack declares exactly the tenants hashed to it, and no shared resource", () => {
    for (const [i, s] of shards.entries()) {
        expect(tenantsOf(s).sort()).toEqual(EU_WEST.filter((id) => hashedShard(id, 3) === i).sort());
        expect(s.resources.filter((r) => r.type === T.SharedRegion || (r.type === T.Namespace && r.tenant === undefined))).toEqual([]);
        expect(s.resources.every((r) => r.urn.startsWith(`urn:pulumi:local-s0${i}::tenant-platform::`))).toBe(true);
    }
});

test("every region tenant is in exactly one shard, with the same resources as unsharded", () => {
    const all = shards.flatMap(tenantsOf);
    expect(all.sort()).toEqual([...EU_WEST].sort());
    const shape = (r: SynthResult, id: string) =>
        r.resources
            .filter((x) => x.tenant === id)
            .map((x) => `${x.type}::${x.name}::${JSON.stringify(x.inputs)}`)
            .sort();
    for (const id of EU_WEST) {
        const s = shards.find((r) => tenantsOf(r).includes(id))!;
        expect(shape(s, id)).toEqual(shape(unsharded, id));
    }
});

describe("a shard's settings", () => {
    const role = { kind: "shard", stack: "eu-west-s03", regionStack: "eu-west", index: 3 } as const;

    test("come from the region's file, under the run's config (secrets, overrides)", () => {
        expect(shardConfig(role, { region: "eu-west", shards: 4 }, {}, { mysqlPassword: "x", manifest: "/tmp/m.yaml" })).toEqual({
            region: "eu-west",
            shards: 4,
            mysqlPassword: "x",
            manifest: "/tmp/m.yaml",
        });
    });

    test("a value in the shard's own file that differs from the region's is refused with the fix", () => {
        expect(() =>
            shardConfig(role, { region: "eu-west", environment: "production" }, { environment: "staging", region: "eu-west", manifest: "m.yaml" }, {}),
        ).toThrow(
            'tenant-platform:environment is set in Pulumi.eu-west-s03.yaml ("staging") but differs from Pulumi.eu-west.yaml ("production"). Fix: a shard takes its settings from its region\'s file; remove it from the shard (pulumi config rm --stack eu-west-s03 tenant-platform:environment) and set it in Pulumi.eu-west.yaml',
        );
    });
});

test(
    "a shard beyond the count, and a shard of an unsharded region, are refused naming the stacks",
    async () => {
        await expect(synth({ stack: "local-s03", configOverrides: SHARDS })).rejects.toThrow(
            "stack local-s03 is not a shard of local: tenant-platform:shards is 3 in Pulumi.local.yaml, so its shard stacks are local-s00 … local-s02.",
        );
    },
    SYNTH_TIMEOUT_MS,
);
