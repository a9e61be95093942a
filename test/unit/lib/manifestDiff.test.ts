/**
 * The pull-request gate (lib/manifestDiff.ts): what a reviewer is told a
 * manifest change does, and which changes are refused. Expectations are
 * written out by hand from the README's "Reviews" rules: a tenant never
 * changes region, a protected data resource is never deleted by an update.
 */
import type { TenantSpec } from "../../../lib/manifest";
import { tenantSpec } from "../../support/manifests";
import { diffResources, inputDifferences, isUnsafe, markdown, movesTouching, regionMoves, type DiffResource, type StackDiff } from "../../../lib/manifestDiff";

const ns = (tenant: string, labels: Record<string, string> = {}): DiffResource => ({
    type: "kubernetes:core/v1:Namespace",
    name: `${tenant}-ns`,
    urn: `urn:pulumi:eu-west::tenant-platform::kubernetes:core/v1:Namespace::${tenant}-ns`,
    tenant,
    protect: false,
    inputs: { metadata: { name: `e-commerce-client-${tenant}`, labels } },
});
const db = (tenant: string): DiffResource => ({
    type: "mysql:index/database:Database",
    name: `${tenant}-auth-db`,
    urn: `urn:pulumi:eu-west::tenant-platform::mysql:index/database:Database::${tenant}-auth-db`,
    tenant,
    protect: true,
    inputs: { name: `client_${tenant}_auth` },
});
const shared: DiffResource = { type: "kubernetes:core/v1:Namespace", name: "shared", tenant: null, inputs: { metadata: { name: "e-commerce-shared" } } };

const tenant = (id: string, region: TenantSpec["region"]): TenantSpec => tenantSpec(id, { region });

describe("inputDifferences", () => {
    test("leaf paths with old and new values, keys in sorted order; equal trees give nothing", () => {
        expect(inputDifferences({ a: 1, b: { c: [1, 2], d: "x" } }, { a: 1, b: { c: [1, 3], e: true } })).toEqual([
            { path: "b.c", before: [1, 2], after: [1, 3] },
            { path: "b.d", before: "x", after: undefined },
            { path: "b.e", before: undefined, after: true },
        ]);
        expect(inputDifferences({ a: { b: 1 } }, { a: { b: 1 } })).toEqual([]);
        expect(inputDifferences(1, 2)).toEqual([{ path: "(value)", before: 1, after: 2 }]);
    });
});

describe("diffResources", () => {
    // Within a tenant and kind, changes are ordered by type, then name.
    test("an added tenant: every resource of it is an add, nothing else changes", () => {
        const changes = diffResources([shared, ns("abc")], [shared, ns("abc"), ns("new"), db("new")]);
        expect(changes.map((c) => [c.kind, c.tenant, c.name, c.blocked])).toEqual([
            ["add", "new", "new-ns", undefined],
            ["add", "new", "new-auth-db", undefined],
        ]);
    });

    test("an update names the changed input paths", () => {
        const [change] = diffResources([ns("abc", { tier: "standard" })], [ns("abc", { tier: "premium" })]);
        expect(change).toEqual({
            kind: "update",
            type: "kubernetes:core/v1:Namespace",
            name: "abc-ns",
            tenant: "abc",
            fields: [{ path: "metadata.labels.tier", before: "standard", after: "premium" }],
        });
    });

    test("removing a protected data resource is blocked; an unprotected one is not", () => {
        const changes = diffResources([ns("gone"), db("gone")], []);
        expect(changes.map((c) => [c.kind, c.name, c.blocked === undefined])).toEqual([
            ["remove", "gone-ns", true],
            ["remove", "gone-auth-db", false],
        ]);
        expect(changes[1].blocked).toMatch(/^protected data resource/);
    });

    test("shared resources are grouped as (shared); order: tenant, then remove < update < add, then type and name", () => {
        const changes = diffResources([shared, ns("b"), db("a")], [{ ...shared, inputs: { metadata: { name: "x" } } }, ns("a"), ns("b", { l: "1" })]);
        expect(changes.map((c) => `${c.tenant}:${c.kind}:${c.name}`)).toEqual(["(shared):update:shared", "a:remove:a-auth-db", "a:add:a-ns", "b:update:b-ns"]);
    });
});

describe("region moves", () => {
    const base = [tenant("abc", "eu-west"), tenant("xyz", "us-east"), tenant("stay", "apac")];
    const next = [tenant("abc", "apac"), tenant("xyz", "us-east"), tenant("stay", "apac"), tenant("brand-new", "eu-west")];

    test("only a tenant present in both manifests with another region moves", () => {
        expect(regionMoves(base, next).map((m) => [m.tenant, m.from, m.to])).toEqual([["abc", "eu-west", "apac"]]);
        expect(regionMoves(base, next)[0].message).toBe(
            'tenant "abc" moves from eu-west to apac: refused, data never leaves its region. To move a client, onboard it under a new id in apac, migrate its data, then cancel "abc".',
        );
    });

    test("a move is reported on the stack it leaves and the stack it enters, never on a third", () => {
        const moves = regionMoves(base, next);
        expect(movesTouching(moves, "eu-west")).toHaveLength(1);
        expect(movesTouching(moves, "apac")).toHaveLength(1);
        expect(movesTouching(moves, "us-east")).toEqual([]);
    });

    test("region names that contain each other's text do not match by substring", () => {
        const moves = [{ tenant: "t", from: "eu-west", to: "us-east", message: "moves from eu-west to us-east:" }] as const;
        expect(movesTouching(moves, "west")).toEqual([]);
        expect(movesTouching(moves, "east")).toEqual([]);
    });
});

describe("isUnsafe and the markdown", () => {
    const safe: StackDiff = { stack: "eu-west", region: "eu-west", changes: diffResources([], [ns("new")]), findings: [] };
    const blocked: StackDiff = { stack: "us-east", region: "us-east", changes: diffResources([db("gone")], []), findings: [] };
    const refused: StackDiff = { stack: "apac", region: "apac", changes: [], findings: ['tenant "abc" moves from eu-west to apac: refused'] };

    test("unsafe exactly when a stack has a finding or a blocked change", () => {
        expect(isUnsafe([safe])).toBe(false);
        expect(isUnsafe([safe, blocked])).toBe(true);
        expect(isUnsafe([refused])).toBe(true);
        expect(isUnsafe([])).toBe(false);
    });

    test("one heading per stack with its counts; refusals and blocked removals are shown", () => {
        const text = markdown([safe, blocked, refused]);
        expect(text).toContain("### Region `eu-west` (stack `eu-west`): 1 to add, 0 to change, 0 to remove");
        expect(text).toContain("### Region `us-east` (stack `us-east`): 0 to add, 0 to change, 1 to remove");
        expect(text).toContain('> **Refused:** tenant "abc" moves from eu-west to apac: refused');
        expect(text).toContain("| - | `mysql:index/database:Database` | `gone-auth-db` | ⛔ protected data resource");
        expect(text).toContain("<details open><summary>tenant <code>gone</code>: 1 change ⛔</summary>");
        expect(text).toContain("No resource changes.");
    });
});
