/**
 * The stacks the preview workflow previews (lib/affectedStacks.ts): only the
 * ones whose tenants, settings or program a change touches.
 */
import { affectedMarkdown, affectedStacks, changedTenants, type LayoutJson } from "../../../lib/affectedStacks";

const EU: LayoutJson = {
    region: "eu-west",
    shards: [
        { stack: "eu-west-s00", tenants: ["nordic", "alpine"] },
        { stack: "eu-west-s01", tenants: ["baltic"] },
        { stack: "eu-west-s02", tenants: ["iberia", "celtic"] },
    ],
};
const US: LayoutJson = { region: "us-east", shards: [{ stack: "us-east", tenants: ["yankee", "dixie"] }] };
const AP: LayoutJson = { region: "apac", shards: [{ stack: "apac", tenants: ["sakura"] }] };

const manifest = (tenants: Record<string, unknown>[], extra = "") => `${extra}tenants:\n${tenants.map((t) => `  - ${JSON.stringify(t)}`).join("\n")}\n`;
const BASE = manifest([
    { id: "nordic", region: "eu-west", tier: "standard" },
    { id: "alpine", region: "eu-west", tier: "standard" },
    { id: "baltic", region: "eu-west", tier: "standard" },
    { id: "iberia", region: "eu-west", tier: "standard" },
    { id: "celtic", region: "eu-west", tier: "standard" },
    { id: "yankee", region: "us-east", tier: "premium" },
    { id: "dixie", region: "us-east", tier: "standard" },
    { id: "sakura", region: "apac", tier: "standard" },
]);

describe("changedTenants", () => {
    test("edited, added and removed entries; reordering tenants or keys is no change", () => {
        const head = manifest([
            { tier: "standard", region: "eu-west", id: "alpine" },
            { id: "nordic", region: "eu-west", tier: "premium" },
            { id: "baltic", region: "eu-west", tier: "standard" },
            { id: "iberia", region: "eu-west", tier: "standard" },
            { id: "yankee", region: "us-east", tier: "premium" },
            { id: "dixie", region: "us-east", tier: "standard" },
            { id: "sakura", region: "apac", tier: "standard" },
            { id: "kiwi", region: "apac", tier: "standard" },
        ]);
        expect(changedTenants(BASE, head)).toEqual({ tenants: ["celtic", "kiwi", "nordic"], otherKeys: false });
        expect(changedTenants(BASE, BASE)).toEqual({ tenants: [], otherKeys: false });
    });

    test("a key beside tenants (rotations, tombstones) is flagged; no base manifest makes every tenant new", () => {
        expect(changedTenants(BASE, manifest([], "rotations: {nordic: 2026-12-01}\n")).otherKeys).toBe(true);
        expect(changedTenants(undefined, manifest([{ id: "a" }, { id: "b" }]))).toEqual({ tenants: ["a", "b"], otherKeys: false });
    });
});

describe("changedTenants: what counts as an entry and as a change", () => {
    test("a tenants value that is not a list, and entries without a string id, hold no tenant", () => {
        expect(changedTenants("tenants: {abc: 1}\n", "tenants: {abc: 2}\n")).toEqual({ tenants: [], otherKeys: false });
        expect(changedTenants("tenants:\n  - {id: 7}\n  - null\n  - plain\n", "tenants:\n  - {id: 8}\n  - null\n  - other\n")).toEqual({
            tenants: [],
            otherKeys: false,
        });
        expect(changedTenants("tenants: []\n", "tenants:\n  - {id: 7}\n  - {id: a}\n")).toEqual({ tenants: ["a"], otherKeys: false });
    });

    test("nested values: a change inside a list or an object changes the entry, a reordered object does not, a reordered list does", () => {
        const entry = (rest: string) => `tenants:\n  - {id: a, ${rest}}\n`;
        const base = entry("customDomains: [x.com, y.com], labels: {team: a, cost: b}");
        expect(changedTenants(base, entry("labels: {cost: b, team: a}, customDomains: [x.com, y.com]")).tenants).toEqual([]);
        expect(changedTenants(base, entry("customDomains: [y.com, x.com], labels: {team: a, cost: b}")).tenants).toEqual(["a"]);
        expect(changedTenants(base, entry("customDomains: [x.com, y.com], labels: {team: a, cost: c}")).tenants).toEqual(["a"]);
        expect(changedTenants(base, entry("customDomains: [x.com], labels: {team: a, cost: b}")).tenants).toEqual(["a"]);
        // A value that becomes null, or a list that becomes an object of the same members.
        expect(changedTenants(entry("note: x"), entry("note: null")).tenants).toEqual(["a"]);
        expect(changedTenants(entry("v: [1, 2]"), entry('v: {"0": 1, "1": 2}')).tenants).toEqual(["a"]);
        expect(changedTenants(entry("v: []"), entry("v: {}")).tenants).toEqual(["a"]);
        expect(changedTenants(entry("v: [[1], 2]"), entry("v: [1, [2]]")).tenants).toEqual(["a"]);
    });
});

describe("affectedStacks: which files are the program", () => {
    const run = (changedFiles: string[]) =>
        affectedStacks({ base: [US], head: [US], baseManifest: BASE, headManifest: BASE, changedFiles }).include.map((a) => a.reasons);
    test("only whole names and top-level folders are outside the program", () => {
        // Markdown anywhere, the listed folders at the top only, the listed files by their whole name.
        expect(run(["docs/guide.md", "components/README.md", "cli/x.ts", "tools/a/b.go", ".ci/run", "Makefile", ".gitignore"])).toEqual([]);
        expect(run(["components/md.ts"])).toEqual([["program components/md.ts"]]);
        expect(run(["lib/cli/x.ts"])).toEqual([["program lib/cli/x.ts"]]);
        expect(run(["components/Makefile.ts"])).toEqual([["program components/Makefile.ts"]]);
        expect(run(["a/tenantctl"])).toEqual([["program a/tenantctl"]]);
        expect(run(["notes.mdx"])).toEqual([["program notes.mdx"]]);
    });

    test("a stack settings file is Pulumi.<stack>.yaml at the top only; the project file is the program", () => {
        expect(run(["Pulumi.us-east.yaml"])).toEqual([["settings Pulumi.us-east.yaml"]]);
        expect(run(["Pulumi.eu-west.yaml"])).toEqual([]);
        expect(run(["Pulumi.yaml"])).toEqual([["program Pulumi.yaml"]]);
        expect(run(["policy/Pulumi.us-east.yaml"])).toEqual([["program policy/Pulumi.us-east.yaml"]]);
        expect(run(["Pulumi.us-east.yaml.bak"])).toEqual([["program Pulumi.us-east.yaml.bak"]]);
    });

    test("one program file is named alone, several by the first and a count", () => {
        expect(run(["index.ts"])).toEqual([["program index.ts"]]);
        expect(run(["index.ts", "lib/a.ts", "lib/b.ts"])).toEqual([["program index.ts (+2 more)"]]);
    });
});

describe("affectedMarkdown", () => {
    test("each stack with its reasons; the not-previewed line only when some stack is not previewed", () => {
        const all = affectedStacks({ base: [US], head: [US], baseManifest: BASE, headManifest: BASE, changedFiles: ["index.ts", "Pulumi.us-east.yaml"] });
        expect(affectedMarkdown(all)).toBe("**Stacks previewed:** `us-east` (program index.ts; settings Pulumi.us-east.yaml)\n");
        const none = affectedStacks({ base: [US], head: [US], baseManifest: BASE, headManifest: BASE, changedFiles: [] });
        expect(affectedMarkdown(none)).toBe(
            "**Stacks previewed:** none: no tenant, settings or program change\n\n**Not previewed** (no tenant, settings or program change; their plan is the base branch's): `us-east`\n",
        );
        expect(affectedMarkdown({ include: [], unaffected: [] })).toBe("**Stacks previewed:** none: no tenant, settings or program change\n");
    });
});

describe("affectedStacks", () => {
    test("one tenant edited in a sharded region: only its shard stack", () => {
        const head = BASE.replace('{"id":"baltic","region":"eu-west","tier":"standard"}', '{"id":"baltic","region":"eu-west","tier":"premium"}');
        const result = affectedStacks({ base: [EU, US, AP], head: [EU, US, AP], baseManifest: BASE, headManifest: head, changedFiles: ["tenants.yaml"] });
        expect(result).toEqual({
            include: [{ region: "eu-west", stack: "eu-west-s01", reasons: ["tenant baltic"] }],
            unaffected: ["eu-west", "eu-west-s00", "eu-west-s02", "us-east", "apac"],
        });
        expect(affectedMarkdown(result)).toBe(
            "**Stacks previewed:** `eu-west-s01` (tenant baltic)\n\n" +
                "**Not previewed** (no tenant, settings or program change; their plan is the base branch's): `eu-west`, `eu-west-s00`, `eu-west-s02`, `us-east`, `apac`\n",
        );
    });

    test("a tenant added to an unsharded region, one removed from a shard: the region stack and the shard that held it", () => {
        const head = manifest([
            { id: "nordic", region: "eu-west", tier: "standard" },
            { id: "alpine", region: "eu-west", tier: "standard" },
            { id: "baltic", region: "eu-west", tier: "standard" },
            { id: "iberia", region: "eu-west", tier: "standard" },
            { id: "yankee", region: "us-east", tier: "premium" },
            { id: "dixie", region: "us-east", tier: "standard" },
            { id: "sakura", region: "apac", tier: "standard" },
            { id: "kiwi", region: "apac", tier: "standard" },
        ]);
        const euHead: LayoutJson = { ...EU, shards: [EU.shards[0], EU.shards[1], { stack: "eu-west-s02", tenants: ["iberia"] }] };
        const apHead: LayoutJson = { region: "apac", shards: [{ stack: "apac", tenants: ["sakura", "kiwi"] }] };
        expect(
            affectedStacks({ base: [EU, US, AP], head: [euHead, US, apHead], baseManifest: BASE, headManifest: head, changedFiles: ["tenants.yaml"] }).include,
        ).toEqual([
            { region: "eu-west", stack: "eu-west-s02", reasons: ["tenant celtic"] },
            { region: "apac", stack: "apac", reasons: ["tenant kiwi"] },
        ]);
    });

    test("a region's settings file: every stack of that region, the region stack first", () => {
        const result = affectedStacks({
            base: [EU, US, AP],
            head: [EU, US, AP],
            baseManifest: BASE,
            headManifest: BASE,
            changedFiles: ["Pulumi.eu-west.yaml"],
        });
        expect(result.include.map((a) => [a.stack, a.reasons])).toEqual([
            ["eu-west", ["settings Pulumi.eu-west.yaml"]],
            ["eu-west-s00", ["settings Pulumi.eu-west.yaml"]],
            ["eu-west-s01", ["settings Pulumi.eu-west.yaml"]],
            ["eu-west-s02", ["settings Pulumi.eu-west.yaml"]],
        ]);
        expect(result.unaffected).toEqual(["us-east", "apac"]);
    });

    test("the program (a component) changes: every stack of every region; docs, tests, CLI and workflows do not count", () => {
        const result = affectedStacks({
            base: [EU, US, AP],
            head: [EU, US, AP],
            baseManifest: BASE,
            headManifest: BASE,
            changedFiles: ["README.md", "test/unit/x.test.ts", "cli/shards.ts", ".github/workflows/preview.yml", "components/tenant.ts", "lib/labels.ts"],
        });
        expect(result.include.map((a) => a.stack)).toEqual(["eu-west", "eu-west-s00", "eu-west-s01", "eu-west-s02", "us-east", "apac"]);
        expect(result.include[0].reasons).toEqual(["program components/tenant.ts (+1 more)"]);
        expect(result.unaffected).toEqual([]);
        const docsOnly = affectedStacks({
            base: [EU, US, AP],
            head: [EU, US, AP],
            baseManifest: BASE,
            headManifest: BASE,
            changedFiles: ["README.md", "service/app.ts", "scripts/local-up.sh", "bench/engine.ts", "tenantctl"],
        });
        expect(docsOnly).toEqual({ include: [], unaffected: ["eu-west", "eu-west-s00", "eu-west-s01", "eu-west-s02", "us-east", "apac"] });
        expect(affectedMarkdown(docsOnly)).toMatch(/^\*\*Stacks previewed:\*\* none: no tenant, settings or program change\n/);
    });

    test("a tenant resharded by reshard (its pin moved it): both its old and its new shard; a key beside tenants: every stack", () => {
        const pinned = BASE.replace('{"id":"nordic","region":"eu-west","tier":"standard"}', '{"id":"nordic","region":"eu-west","tier":"standard","shard":1}');
        const euHead: LayoutJson = {
            region: "eu-west",
            shards: [{ stack: "eu-west-s00", tenants: ["alpine"] }, { stack: "eu-west-s01", tenants: ["nordic", "baltic"] }, EU.shards[2]],
        };
        expect(
            affectedStacks({ base: [EU, US, AP], head: [euHead, US, AP], baseManifest: BASE, headManifest: pinned, changedFiles: ["tenants.yaml"] }).include,
        ).toEqual([
            { region: "eu-west", stack: "eu-west-s00", reasons: ["tenant nordic"] },
            { region: "eu-west", stack: "eu-west-s01", reasons: ["tenant nordic"] },
        ]);
        const rotated = affectedStacks({
            base: [US],
            head: [US],
            baseManifest: BASE,
            headManifest: `rotations: {yankee: "2026-12-01"}\n${BASE}`,
            changedFiles: ["tenants.yaml"],
        });
        expect(rotated.include).toEqual([{ region: "us-east", stack: "us-east", reasons: ["tenants.yaml outside tenants"] }]);
    });
});
