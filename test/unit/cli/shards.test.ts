/**
 * The pure parts of `tenantctl shards`, `reshard` and the region commands:
 * the layout and its JSON, the edits of the manifest and the region's
 * settings file (comments and layout kept), the plan, the summary table.
 */
import { changesText, progressText, summaryTable } from "../../../cli/regionReport";
import { layoutJson, layoutTable, planText, shardLayout, withPins, withShardCount } from "../../../cli/shardsLayout";

const pinned = [
    { id: "abc", shard: 1 },
    { id: "nordic", shard: 0 },
    { id: "lumiere", shard: 1 },
];

describe("shardLayout / layoutJson / layoutTable", () => {
    test("one shard: the region stack holds every tenant, in manifest order", () => {
        expect(shardLayout("eu-west", [{ id: "abc" }, { id: "nordic" }], 1)).toEqual([{ stack: "eu-west", tenants: ["abc", "nordic"] }]);
    });

    test("K shards: -s00 … -s(K-1), pins kept, empty shards listed", () => {
        expect(shardLayout("eu-west", pinned, 3)).toEqual([
            { stack: "eu-west-s00", tenants: ["nordic"] },
            { stack: "eu-west-s01", tenants: ["abc", "lumiere"] },
            { stack: "eu-west-s02", tenants: [] },
        ]);
    });

    test("a pin beyond the count is a RangeError naming the tenant", () => {
        expect(() => shardLayout("eu-west", [{ id: "abc", shard: 4 }], 2)).toThrow(/tenant "abc" is pinned to shard 4, but the region has 2 shard/);
    });

    test("JSON is exactly {region, shards: [{stack, tenants}]}", () => {
        expect(JSON.parse(layoutJson("local", shardLayout("local", pinned, 2)))).toEqual({
            region: "local",
            shards: [
                { stack: "local-s00", tenants: ["nordic"] },
                { stack: "local-s01", tenants: ["abc", "lumiere"] },
            ],
        });
    });

    test("the table: a header with counts and balance, one row per stack", () => {
        expect(layoutTable("local", "eu-west", shardLayout("local", pinned, 2)).split("\n")).toEqual([
            "region stack local (region eu-west): 2 shard(s), 3 tenant(s), largest shard 1.33 x the mean",
            "",
            "stack      tenants  ids",
            "---------  -------  ---",
            "local-s00        1  nordic",
            "local-s01        2  abc, lumiere",
        ]);
    });
});

const MANIFEST = `# The tenants.
tenants:
  # first
  - id: abc
    tier: premium
    customDomains: [shop.client-abc.com]

  - id: nordic
    tier: standard # the small one
    shard: 0

  - id: xyz
    region: us-east
`;

describe("withPins", () => {
    test("sets every pinned tenant's shard, keeps comments, blank lines and flow lists, leaves other tenants alone", () => {
        expect(
            withPins(
                MANIFEST,
                new Map([
                    ["abc", 2],
                    ["nordic", 1],
                ]),
            ),
        ).toBe(`# The tenants.
tenants:
  # first
  - id: abc
    tier: premium
    customDomains: [shop.client-abc.com]
    shard: 2

  - id: nordic
    tier: standard # the small one
    shard: 1

  - id: xyz
    region: us-east
`);
    });

    test("pins equal to what is there: the text is unchanged", () => {
        const once = withPins(MANIFEST, new Map([["nordic", 0]]));
        expect(withPins(once, new Map([["nordic", 0]]))).toBe(once);
    });

    test("a file without a tenants list is refused", () => {
        expect(() => withPins("foo: 1\n", new Map())).toThrow("the manifest has no tenants list");
    });
});

describe("withShardCount", () => {
    const SETTINGS = `# Region local.
config:
  tenant-platform:region: eu-west # the region
  tenant-platform:features:
    databases: false
encryptionsalt: v1:abc
`;

    test("sets tenant-platform:shards in the config, comments kept", () => {
        expect(withShardCount(SETTINGS, 3)).toBe(`# Region local.
config:
  tenant-platform:region: eu-west # the region
  tenant-platform:features:
    databases: false
  tenant-platform:shards: 3
encryptionsalt: v1:abc
`);
    });

    test("back to 1: the key is removed (1 is the default) and the file is as before", () => {
        expect(withShardCount(withShardCount(SETTINGS, 3), 1)).toBe(SETTINGS);
    });
});

describe("planText", () => {
    test("lists each move under a header with the counts", () => {
        expect(
            planText(
                "local",
                1,
                2,
                [
                    { tenant: "abc", fromStack: "local", toStack: "local-s01" },
                    { tenant: "lumiere", fromStack: "local", toStack: "local-s00" },
                ],
                3,
            ).split("\n"),
        ).toEqual([
            "reshard local: 1 -> 2 shard(s); 2 of 3 tenant(s) move, every tenant is pinned to its shard",
            "",
            "tenant   from   to",
            "abc      local  local-s01",
            "lumiere  local  local-s00",
        ]);
    });
});

describe("region progress and summary", () => {
    test.each([
        [{ stack: "s", state: "queued", done: 0, total: 52 }, "queued (52 resources)"],
        [{ stack: "s", state: "queued", done: 0 }, "queued"],
        [{ stack: "s", state: "running", done: 34, total: 52 }, "running 34/52 resources"],
        [{ stack: "s", state: "running", done: 60, total: 52 }, "running 60 resources"],
        [{ stack: "s", state: "succeeded", done: 52, total: 52 }, "succeeded 52/52 resources"],
        [{ stack: "s", state: "failed", done: 3 }, "failed after 3 resources"],
    ] as const)("progressText(%j) is %s", (p, text) => {
        expect(progressText(p)).toBe(text);
    });

    test("changesText: operations by name, same last, zeroes dropped", () => {
        expect(changesText({ same: 30, update: 2, create: 1, delete: 0 })).toBe("create 1, update 2, same 30");
        expect(changesText({})).toBe("-");
    });

    test("summaryTable: one row per stack, the count of successes, what was recovered, and each failure's reason", () => {
        const table = summaryTable([
            { stack: "local", result: "succeeded", changes: { same: 3 }, seconds: 2.04, changed: {}, recovered: [] },
            {
                stack: "local-s00",
                result: "succeeded",
                changes: { create: 17, same: 120 },
                seconds: 31.25,
                changed: {},
                recovered: ["removed the lock of pid 41", "imported 2 pending create(s): a, b/c (pulumi refresh)"],
            },
            { stack: "local-s01", result: "failed", changes: { create: 1 }, seconds: 9, error: "namespace refused\nsecond line", changed: {}, recovered: [] },
        ]);
        expect(table.split("\n")).toEqual([
            "stack      result     changes              seconds",
            "---------  ---------  -------------------  -------",
            "local      succeeded  same 3                   2.0",
            "local-s00  succeeded  create 17, same 120     31.3",
            "local-s01  failed     create 1                 9.0",
            "",
            "2 of 3 stack(s) succeeded",
            "",
            "local-s00 recovered from a crashed update:",
            "  removed the lock of pid 41",
            "  imported 2 pending create(s): a, b/c (pulumi refresh)",
            "",
            "local-s01 failed:",
            "  namespace refused",
            "  second line",
        ]);
    });
});
