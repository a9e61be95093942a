/**
 * A tombstone (a purged tenant, `status: deleted`) through the real program:
 * it declares nothing, in the region stack or any shard, whatever `shard` pin
 * it kept, and the other tenants are exactly as without it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { manifestYaml, shippedEntries, tempDir, type RawTenant } from "../../support/manifests";
import { SYNTH_TIMEOUT_MS, synth, type SynthResult } from "../../support/synth";

const TOMBSTONE: RawTenant = {
    id: "gone",
    websiteId: 9999,
    name: "A purged shop",
    domain: "client-gone.collectverything.com",
    customDomains: [],
    tier: "standard",
    region: "eu-west",
    billingId: "sub_gone",
    costCenter: "CC-GONE",
    department: "retail",
    createdDate: "2025-01-15",
    status: "deleted",
    cancelledAt: "2025-06-01",
    deletedAt: "2025-07-05",
    shard: 1,
};

const dir = tempDir("tombstone");
const withTombstone = path.join(dir, "tenants.yaml");
fs.writeFileSync(withTombstone, manifestYaml([...shippedEntries(), TOMBSTONE]));
const SHARDS = { "tenant-platform:shards": "2" };

let plain: SynthResult;
let tombstoned: SynthResult;
let region: SynthResult;
const shards: SynthResult[] = [];

beforeAll(async () => {
    plain = await synth({ stack: "local" });
    tombstoned = await synth({ stack: "local", manifest: withTombstone });
    region = await synth({ stack: "local", manifest: withTombstone, configOverrides: SHARDS });
    for (const i of [0, 1]) shards.push(await synth({ stack: `local-s0${i}`, manifest: withTombstone, configOverrides: SHARDS }));
}, 4 * SYNTH_TIMEOUT_MS);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const urns = (r: SynthResult) => r.resources.map((x) => x.urn).sort();

test("one shard: the same resources as without the tombstone, none of the purged tenant's", () => {
    expect(tombstoned.resources.filter((r) => r.tenant === "gone")).toEqual([]);
    expect(urns(tombstoned)).toEqual(urns(plain));
});

test("two shards: the region stack declares no tenant, and no shard declares the tombstone despite its pin", () => {
    expect(region.resources.filter((r) => r.tenant !== undefined)).toEqual([]);
    for (const s of shards) expect(s.resources.filter((r) => r.tenant === "gone")).toEqual([]);
    const live = new Set(plain.resources.map((r) => r.tenant).filter((t) => t !== undefined));
    const sharded = new Set(shards.flatMap((s) => s.resources.map((r) => r.tenant)).filter((t) => t !== undefined));
    expect([...sharded].sort()).toEqual([...live].sort());
});
