/**
 * lib/manifest.ts: the shipped manifest, a table of bad manifests with the
 * exact issues each must produce, and properties of validation.
 */
import fc from "fast-check";
import * as fs from "node:fs";
import * as path from "node:path";
import { SHIPPED_MANIFEST, manifestYaml, shippedEntries, tempDir } from "../../support/manifests";
import { ManifestError, deletionDate, formatIssue, formatIssues, isCalendarDate, isDnsName, validateManifest, type ManifestIssue } from "../../../lib/manifest";
import { loadManifest } from "../../../core/manifestSource";
import { REGIONS } from "../../../lib/regions";
import { TIERS } from "../../../lib/tiers";

describe("the shipped tenants.yaml", () => {
    const manifest = loadManifest(SHIPPED_MANIFEST);
    const byId = new Map(manifest.tenants.map((t) => [t.id, t]));

    test("is valid and has at least 6 tenants", () => {
        expect(validateManifest(fs.readFileSync(SHIPPED_MANIFEST, "utf8")).ok).toBe(true);
        expect(manifest.tenants.length).toBeGreaterThanOrEqual(6);
    });

    test("covers every region and every tier", () => {
        expect(new Set(manifest.tenants.map((t) => t.region))).toEqual(new Set(REGIONS));
        expect(new Set(manifest.tenants.map((t) => t.tier))).toEqual(new Set(TIERS));
    });

    test("holds the seed's tenants: abc (premium, eu-west) and xyz (us-east)", () => {
        expect(byId.get("abc")).toMatchObject({
            region: "eu-west",
            tier: "premium",
            domain: "client-abc.collectverything.com",
            billingId: "sub_abc123",
            costCenter: "CC-ABC-001",
            department: "retail",
            createdDate: "2025-01-15",
            websiteId: 123,
            status: "active",
        });
        expect(byId.get("xyz")).toMatchObject({ region: "us-east", domain: "client-xyz.collectverything.com" });
    });
});

// ---------------------------------------------------------------------------
// The table of bad manifests.

/** Field values as written in YAML, in the order they are emitted. `null` leaves a field out. */
type Fields = Record<string, string | null>;

const ABC: Fields = {
    id: "abc",
    websiteId: "123",
    name: "ABC Retail",
    domain: "client-abc.collectverything.com",
    customDomains: "[shop.client-abc.com]",
    tier: "premium",
    region: "eu-west",
    billingId: "sub_abc123",
    costCenter: "CC-ABC-001",
    department: "retail",
    createdDate: "2025-01-15",
    status: "active",
};
const XYZ: Fields = {
    id: "xyz",
    websiteId: "124",
    name: "XYZ Outdoor Supply",
    domain: "client-xyz.collectverything.com",
    customDomains: "[store.xyz-outdoor.com]",
    tier: "business",
    region: "us-east",
    billingId: "sub_xyz456",
    costCenter: "CC-XYZ-001",
    department: "sporting-goods",
    createdDate: "2025-02-03",
    status: "active",
};
const NORDIC: Fields = {
    ...ABC,
    id: "nordic",
    websiteId: "131",
    name: "Nordic Home",
    domain: "client-nordic.collectverything.com",
    customDomains: "[]",
    tier: "standard",
};

/** One `- id: ...` entry; `changes` override fields, extra keys are appended. */
function entry(base: Fields, changes: Fields = {}): string {
    const fields = { ...base, ...changes };
    return Object.entries(fields)
        .filter(([, v]) => v !== null)
        .map(([k, v], i) => `${i === 0 ? "  - " : "    "}${k}: ${v}`)
        .join("\n");
}

function file(...entries: string[]): string {
    return `# test manifest\ntenants:\n${entries.join("\n\n")}\n`;
}

/** The 1-based line of the `nth` occurrence of `needle` in `source`. */
function lineOf(source: string, needle: string, nth = 1): number {
    const lines = source.split("\n");
    let seen = 0;
    for (let i = 0; i < lines.length; i++) {
        if (lines[i].includes(needle) && ++seen === nth) return i + 1;
    }
    throw new Error(`"${needle}" does not occur ${nth} time(s) in the fixture`);
}

interface Expected {
    readonly line: number;
    readonly tenant?: string;
    readonly field?: string;
    /** The bad value as rendered (JSON), e.g. `"gold"` or `0`. */
    readonly value?: string;
    /** A piece of the problem statement. */
    readonly problem: string;
    /**
     * The exact "what is allowed" text. Left out where the validator gives
     * none today (duplicates, cancelledAt against status or createdDate, an
     * entry that is not a map), although STYLE.md and the README say every
     * error names what is allowed.
     */
    readonly allowed?: string;
}

interface BadCase {
    readonly title: string;
    readonly source: string;
    readonly issues: readonly Expected[];
}

function bad(title: string, source: string, issues: (src: string) => Expected[]): BadCase {
    return { title, source, issues: issues(source) };
}

/**
 * Malformed YAML: the parser may report several errors for one defect (the
 * lines after it no longer parse); the first must be at the defect's line.
 */
interface MalformedCase {
    readonly title: string;
    readonly source: string;
    readonly line: number;
    readonly problem: string;
}

function malformed(title: string, source: string, needle: string, problem: string): MalformedCase {
    return { title, source, line: lineOf(source, needle), problem };
}

const DNS_ALLOWED = "a lowercase DNS name of at least two labels (a-z, 0-9, inner hyphens), at most 253 characters";
const ID_ALLOWED = "a lowercase slug: a-z, 0-9 and single inner hyphens, starting with a letter, at most 11 characters";
const DATE_ALLOWED = "a calendar date written YYYY-MM-DD";
const WEBSITE_ALLOWED = "a positive integer";

/** `yaml` is the domain as written in the file, `domain` the string it parses to. */
const badDomain = (title: string, domain: string, yaml = domain): BadCase =>
    bad(`invalid DNS name: ${title}`, file(entry(ABC, { domain: yaml })), (s) => [
        { line: lineOf(s, "domain:"), tenant: "abc", field: "domain", value: JSON.stringify(domain), problem: "invalid value", allowed: DNS_ALLOWED },
    ]);

const badId = (title: string, id: string): BadCase =>
    bad(`id not a slug: ${title}`, file(entry(ABC, { id })), (s) => [
        { line: lineOf(s, `- id: ${id}`), tenant: id, field: "id", value: JSON.stringify(id), problem: "invalid value", allowed: ID_ALLOWED },
    ]);

const badWebsiteId = (title: string, websiteId: string, rendered: string): BadCase =>
    bad(`websiteId not a positive integer: ${title}`, file(entry(ABC, { websiteId })), (s) => [
        { line: lineOf(s, "websiteId:"), tenant: "abc", field: "websiteId", value: rendered, problem: "invalid value", allowed: WEBSITE_ALLOWED },
    ]);

const CASES: BadCase[] = [
    bad("duplicate id", file(entry(ABC), entry(XYZ, { id: "abc" })), (s) => [
        {
            line: lineOf(s, "- id: abc", 2),
            tenant: "abc",
            field: "id",
            value: '"abc"',
            problem: `duplicate id: already used by the tenant at line ${lineOf(s, "- id: abc")}`,
        },
    ]),
    bad("duplicate websiteId", file(entry(ABC), entry(XYZ, { websiteId: "123" })), (s) => [
        { line: lineOf(s, "websiteId: 123", 2), tenant: "xyz", field: "websiteId", value: "123", problem: 'duplicate websiteId: already used by tenant "abc"' },
    ]),
    bad("duplicate primary domain across tenants", file(entry(ABC), entry(XYZ, { domain: "client-abc.collectverything.com" })), (s) => [
        {
            line: lineOf(s, "domain: client-abc.collectverything.com", 2),
            tenant: "xyz",
            field: "domain",
            value: '"client-abc.collectverything.com"',
            problem: 'duplicate domain: already served for tenant "abc"',
        },
    ]),
    bad(
        "a custom domain equal to another tenant's primary domain",
        file(entry(ABC), entry(XYZ, { customDomains: "[client-abc.collectverything.com]" })),
        (s) => [
            {
                line: lineOf(s, "customDomains: [client-abc.collectverything.com]"),
                tenant: "xyz",
                field: "customDomains[0]",
                value: '"client-abc.collectverything.com"',
                problem: 'duplicate domain: already served for tenant "abc"',
            },
        ],
    ),
    bad("a primary domain equal to an earlier tenant's custom domain", file(entry(ABC), entry(XYZ, { domain: "shop.client-abc.com" })), (s) => [
        {
            line: lineOf(s, "domain: shop.client-abc.com"),
            tenant: "xyz",
            field: "domain",
            value: '"shop.client-abc.com"',
            problem: 'duplicate domain: already served for tenant "abc"',
        },
    ]),
    bad(
        "the primary domain listed again as a custom domain of the same tenant",
        file(entry(ABC, { customDomains: "[client-abc.collectverything.com]" })),
        (s) => [
            {
                line: lineOf(s, "customDomains:"),
                tenant: "abc",
                field: "customDomains[0]",
                value: '"client-abc.collectverything.com"',
                problem: "domain listed twice for this tenant",
            },
        ],
    ),
    bad(
        "a custom domain listed twice in one tenant",
        file(entry(ABC, { customDomains: "\n      - shop.client-abc.com\n      - www.client-abc.com\n      - shop.client-abc.com" })),
        (s) => [
            {
                line: lineOf(s, "- shop.client-abc.com", 2),
                tenant: "abc",
                field: "customDomains[2]",
                value: '"shop.client-abc.com"',
                problem: "domain listed twice for this tenant",
            },
        ],
    ),
    bad("unknown tier", file(entry(ABC, { tier: "gold" })), (s) => [
        { line: lineOf(s, "tier: gold"), tenant: "abc", field: "tier", value: '"gold"', problem: "invalid value", allowed: "standard, premium, business" },
    ]),
    bad("unknown region", file(entry(ABC, { region: "eu-central" })), (s) => [
        {
            line: lineOf(s, "region: eu-central"),
            tenant: "abc",
            field: "region",
            value: '"eu-central"',
            problem: "invalid value",
            allowed: "eu-west, us-east, apac",
        },
    ]),
    bad("unknown status", file(entry(ABC, { status: "gone" })), (s) => [
        {
            line: lineOf(s, "status: gone"),
            tenant: "abc",
            field: "status",
            value: '"gone"',
            problem: "invalid value",
            allowed: "active, suspended, cancelled, deleted",
        },
    ]),
    badDomain("uppercase", "Client-ABC.collectverything.com"),
    badDomain("underscore", "client_abc.collectverything.com"),
    badDomain("trailing dot", "client-abc.collectverything.com."),
    badDomain("single label", "localhost"),
    badDomain("a label of 64 characters", `${"a".repeat(64)}.com`),
    badDomain("scheme", "https://x.com"),
    badDomain("wildcard", "*.collectverything.com", '"*.collectverything.com"'),
    bad("invalid DNS name in customDomains", file(entry(ABC, { customDomains: "[shop.client-abc.com, Shop_2.client-abc.com]" })), (s) => [
        {
            line: lineOf(s, "customDomains:"),
            tenant: "abc",
            field: "customDomains[1]",
            value: '"Shop_2.client-abc.com"',
            problem: "invalid value",
            allowed: "a list of DNS names, e.g. [shop.client-abc.com]",
        },
    ]),
    badId("uppercase", "Abc"),
    badId("underscore", "a_bc"),
    badId("leading digit", "1abc"),
    badId("trailing hyphen", "abc-"),
    badId("double hyphen", "a--bc"),
    bad("id too long: 12 characters make the products MySQL user 33 characters", file(entry(ABC, { id: "abcdefghijkl" })), (s) => [
        {
            line: lineOf(s, "- id: abcdefghijkl"),
            tenant: "abcdefghijkl",
            field: "id",
            value: '"abcdefghijkl"',
            problem: 'id is too long: the derived mysqlUser name "client_abcdefghijkl_products_user" has 33 characters, over the limit of 32',
            allowed: "ids of at most 11 characters",
        },
    ]),
    bad("status cancelled without cancelledAt", file(entry(ABC, { status: "cancelled" })), (s) => [
        {
            line: lineOf(s, "status: cancelled"),
            tenant: "abc",
            field: "cancelledAt",
            problem: "status is cancelled but cancelledAt is missing",
            allowed: DATE_ALLOWED,
        },
    ]),
    bad("cancelledAt with status active", file(entry(ABC, { cancelledAt: "2026-11-10" })), (s) => [
        { line: lineOf(s, "cancelledAt:"), tenant: "abc", field: "cancelledAt", value: '"2026-11-10"', problem: "cancelledAt is set but status is active" },
    ]),
    bad("cancelledAt with status suspended", file(entry(ABC, { status: "suspended", cancelledAt: "2026-11-10" })), (s) => [
        { line: lineOf(s, "cancelledAt:"), tenant: "abc", field: "cancelledAt", value: '"2026-11-10"', problem: "cancelledAt is set but status is suspended" },
    ]),
    bad("cancelledAt before createdDate", file(entry(ABC, { status: "cancelled", cancelledAt: "2025-01-14" })), (s) => [
        {
            line: lineOf(s, "cancelledAt:"),
            tenant: "abc",
            field: "cancelledAt",
            value: '"2025-01-14"',
            problem: "cancelledAt is before createdDate 2025-01-15",
        },
    ]),
    bad("invalid calendar date 2025-02-30", file(entry(ABC, { createdDate: "2025-02-30" })), (s) => [
        { line: lineOf(s, "createdDate:"), tenant: "abc", field: "createdDate", value: '"2025-02-30"', problem: "invalid value", allowed: DATE_ALLOWED },
    ]),
    bad("a date not written YYYY-MM-DD", file(entry(ABC, { status: "cancelled", cancelledAt: "10/11/2026" })), (s) => [
        { line: lineOf(s, "cancelledAt:"), tenant: "abc", field: "cancelledAt", value: '"10/11/2026"', problem: "invalid value", allowed: DATE_ALLOWED },
    ]),
    badWebsiteId("zero", "0", "0"),
    badWebsiteId("negative", "-5", "-5"),
    badWebsiteId("fraction", "1.5", "1.5"),
    badWebsiteId("a string", '"123"', '"123"'),
    bad("label-valued field with a space", file(entry(ABC, { costCenter: "CC ABC 001" })), (s) => [
        {
            line: lineOf(s, "costCenter:"),
            tenant: "abc",
            field: "costCenter",
            value: '"CC ABC 001"',
            problem: "invalid value",
            allowed: "1-63 characters of A-Z a-z 0-9 . _ -, starting and ending with a letter or digit (it becomes a Kubernetes label)",
        },
    ]),
    bad("empty display name", file(entry(ABC, { name: '"  "' })), (s) => [
        {
            line: lineOf(s, "name:"),
            tenant: "abc",
            field: "name",
            value: '"  "',
            problem: "invalid value",
            allowed: "a non-empty display name of at most 200 characters",
        },
    ]),
    bad("customDomains not a list", file(entry(ABC, { customDomains: "shop.client-abc.com" })), (s) => [
        {
            line: lineOf(s, "customDomains:"),
            tenant: "abc",
            field: "customDomains",
            value: '"shop.client-abc.com"',
            problem: "invalid value",
            allowed: "a list of DNS names, e.g. [shop.client-abc.com]",
        },
    ]),
    bad('unknown field: the typo "teir" (and so tier is missing)', file(entry(ABC, { tier: null, teir: "premium" })), (s) => [
        { line: lineOf(s, "- id: abc"), tenant: "abc", field: "tier", problem: "required field is missing", allowed: "standard, premium, business" },
        {
            line: lineOf(s, "teir: premium"),
            tenant: "abc",
            field: "teir",
            problem: "unknown field",
            allowed:
                "the fields id, websiteId, name, domain, customDomains, tier, region, billingId, costCenter, department, createdDate, status, cancelledAt, deletedAt, shard",
        },
    ]),
    bad("a shard pin that is not a shard index", file(entry(ABC, { shard: "-1" }), entry(XYZ, { shard: "two" })), (s) => [
        {
            line: lineOf(s, "shard: -1"),
            tenant: "abc",
            field: "shard",
            value: "-1",
            problem: "invalid value",
            allowed: "an integer from 0 to 99, below the region's shard count",
        },
        {
            line: lineOf(s, "shard: two"),
            tenant: "xyz",
            field: "shard",
            value: '"two"',
            problem: "invalid value",
            allowed: "an integer from 0 to 99, below the region's shard count",
        },
    ]),
    bad("missing required field", file(entry(ABC), entry(XYZ, { billingId: null })), (s) => [
        {
            line: lineOf(s, "- id: xyz"),
            tenant: "xyz",
            field: "billingId",
            problem: "required field is missing",
            allowed: "1-63 characters of A-Z a-z 0-9 . _ -, starting and ending with a letter or digit (it becomes a Kubernetes label)",
        },
    ]),
    bad("a tenant without an id is named by its position", file(entry(ABC), entry(XYZ, { id: null })), (s) => [
        { line: lineOf(s, "websiteId: 124"), tenant: "#2", field: "id", problem: "required field is missing", allowed: ID_ALLOWED },
    ]),
    bad("a tenant entry that is not a map", file(entry(ABC), "  - just-a-string"), (s) => [
        { line: lineOf(s, "- just-a-string"), tenant: "#2", value: '"just-a-string"', problem: "a tenant entry must be a map of fields" },
    ]),
    bad("unknown top-level key", `version: 2\n${file(entry(ABC))}`, (s) => [
        { line: lineOf(s, "version: 2"), field: "version", problem: "unknown top-level field", allowed: "tenants, rotations" },
    ]),
    bad("tenants is not a list", "# test manifest\ntenants: abc\n", (s) => [
        { line: lineOf(s, "tenants: abc"), field: "tenants", problem: "tenants is not a list", allowed: "a list of tenant entries" },
    ]),
    bad("tenants is a map", "# test manifest\ntenants:\n  abc:\n    tier: premium\n", (s) => [
        { line: lineOf(s, "abc:"), field: "tenants", problem: "tenants is not a list", allowed: "a list of tenant entries" },
    ]),
    bad("the file is a list, not a map", "- id: abc\n", () => [
        { line: 1, problem: "the file is not a map with a `tenants` list", allowed: "a list of tenant entries" },
    ]),
];

const MALFORMED: MalformedCase[] = [
    malformed(
        "a nested mapping on one line",
        file(entry(ABC), entry(XYZ, { name: "XYZ: Outdoor: Supply" })),
        "name: XYZ: Outdoor: Supply",
        "malformed YAML: Nested mappings are not allowed in compact mappings",
    ),
    malformed("bad indentation", file(entry(ABC)).replace("    tier: premium", "   tier: premium"), "   tier: premium", "malformed YAML: "),
    malformed("a key given twice", file(entry(ABC, { region: "eu-west\n    tier: business" })), "tier: business", "malformed YAML: Map keys must be unique"),
    malformed(
        "a tab as indentation",
        file(entry(ABC)).replace("    tier: premium", "\ttier: premium"),
        "\ttier: premium",
        "malformed YAML: Tabs are not allowed as indentation",
    ),
];

describe("bad manifests: every problem found, with its line, tenant, field, value, what is allowed and the fix", () => {
    test("the table has at least 25 cases", () => {
        expect(CASES.length + MALFORMED.length).toBeGreaterThanOrEqual(25);
    });

    test.each(CASES.map((c) => [c.title, c] as const))("%s", (_title, c) => {
        const result = validateManifest(c.source, "tenants.yaml");
        expect(result.ok).toBe(false);
        const issues = result.ok ? [] : result.issues;
        expect(issues.map((i) => ({ line: i.line, tenant: i.tenant, field: i.field, value: i.value }))).toEqual(
            c.issues.map((e) => ({ line: e.line, tenant: e.tenant, field: e.field, value: e.value })),
        );
        issues.forEach((issue, k) => {
            const expected = c.issues[k];
            expect(issue.file).toBe("tenants.yaml");
            expect(issue.problem).toContain(expected.problem);
            if (expected.allowed !== undefined) expect(issue.allowed).toBe(expected.allowed);
            const message = formatIssue(issue);
            expect(message.startsWith(`tenants.yaml:${expected.line}: `)).toBe(true);
            if (expected.tenant !== undefined) expect(message).toContain(`tenant "${expected.tenant}"`);
            if (expected.field !== undefined) expect(message).toContain(`field "${expected.field}"`);
            if (expected.value !== undefined) expect(message).toContain(`(got ${expected.value})`);
            if (expected.allowed !== undefined) expect(message).toContain(`Allowed: ${expected.allowed}.`);
            expect(message).toContain(`Fix: ${issue.fix}.`);
            expect(issue.fix.length).toBeGreaterThan(10);
        });
    });

    test.each(MALFORMED.map((c) => [c.title, c] as const))("malformed YAML: %s is reported at its line", (_title, c) => {
        const result = validateManifest(c.source, "tenants.yaml");
        expect(result.ok).toBe(false);
        const issues = result.ok ? [] : result.issues;
        expect(issues.length).toBeGreaterThanOrEqual(1);
        expect(issues[0].line).toBe(c.line);
        expect(issues[0].problem.startsWith(c.problem)).toBe(true);
        for (const issue of issues) {
            expect(issue.problem.startsWith("malformed YAML: ")).toBe(true);
            expect(issue.line).toBeGreaterThanOrEqual(c.line);
            expect(issue.tenant).toBeUndefined();
            expect(formatIssue(issue)).toContain(`tenants.yaml:${issue.line}: malformed YAML: `);
            expect(formatIssue(issue)).toContain("Fix: correct the YAML syntax at that line");
        }
    });

    test("several errors in one file are all reported in one result, sorted by line", () => {
        // The duplicate websiteId is found by the cross-entry pass that runs
        // after the per-entry checks, yet must be reported in file order.
        const source = file(
            entry(ABC, { tier: "gold" }),
            entry(XYZ, { websiteId: "123", region: "mars" }),
            entry(NORDIC, { createdDate: "2025-02-30", teir: "standard" }),
            "  - just-a-string",
        );
        const result = validateManifest(source, "tenants.yaml");
        expect(result.ok).toBe(false);
        const issues = result.ok ? [] : result.issues;
        expect(issues.map((i) => [i.line, i.tenant, i.field])).toEqual([
            [lineOf(source, "tier: gold"), "abc", "tier"],
            [lineOf(source, "websiteId: 123", 2), "xyz", "websiteId"],
            [lineOf(source, "region: mars"), "xyz", "region"],
            [lineOf(source, "createdDate: 2025-02-30"), "nordic", "createdDate"],
            [lineOf(source, "teir: standard"), "nordic", "teir"],
            [lineOf(source, "- just-a-string"), "#4", undefined],
        ]);
        const lines = issues.map((i) => i.line as number);
        expect(lines).toEqual([...lines].sort((a, b) => a - b));

        const text = formatIssues(issues);
        expect(text.split("\n")[0]).toBe("6 problems in tenants.yaml; nothing was applied:");
        for (const issue of issues) expect(text).toContain(`  - ${formatIssue(issue)}`);
    });

    test("the issue list reaches ManifestError unchanged", () => {
        const dir = tempDir("manifest");
        try {
            const f = path.join(dir, "tenants.yaml");
            fs.writeFileSync(f, file(entry(ABC, { tier: "gold", region: "mars" })));
            let error: unknown;
            try {
                loadManifest(f);
            } catch (err) {
                error = err;
            }
            expect(error).toBeInstanceOf(ManifestError);
            const issues = (error as ManifestError).issues;
            expect(issues.map((i) => i.field)).toEqual(["tier", "region"]);
            expect((error as ManifestError).message).toBe(formatIssues(issues));
            expect((error as ManifestError).message).toContain(`${f}:`);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("edge cases of the file", () => {
    test.each([
        ["an empty file", ""],
        ["only comments", "# nothing here yet\n"],
        ["a bare document start", "---\n"],
        ["an empty list", "tenants: []\n"],
    ])("%s is valid with zero tenants", (_what, source) => {
        expect(validateManifest(source)).toEqual({ ok: true, manifest: { tenants: [] } });
    });

    test("loadManifest on a missing file throws a ManifestError naming the file", () => {
        const dir = tempDir("missing");
        const missing = path.join(dir, "nope", "tenants.yaml");
        let error: unknown;
        try {
            loadManifest(missing);
        } catch (err) {
            error = err;
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        expect(error).toBeInstanceOf(ManifestError);
        const issues: readonly ManifestIssue[] = (error as ManifestError).issues;
        expect(issues).toHaveLength(1);
        expect(issues[0].file).toBe(missing);
        expect(issues[0].problem).toBe("cannot read the manifest: ENOENT");
        expect((error as ManifestError).message).toContain(`${missing}: cannot read the manifest: ENOENT.`);
        expect((error as ManifestError).message).toContain("Fix: check the path");
    });

    test("the file name given is the one reported", () => {
        const result = validateManifest(file(entry(ABC, { tier: "gold" })), "regions/eu/tenants.yaml");
        expect(result.ok).toBe(false);
        if (!result.ok) expect(formatIssue(result.issues[0])).toMatch(/^regions\/eu\/tenants\.yaml:\d+: tenant "abc"/);
    });

    test("customDomains defaults to [] and a quoted date is the same date", () => {
        const result = validateManifest(file(entry(ABC, { customDomains: null, createdDate: '"2025-01-15"' })));
        expect(result.ok).toBe(true);
        if (result.ok) expect(result.manifest.tenants[0]).toMatchObject({ customDomains: [], createdDate: "2025-01-15" });
    });
});

describe("dates within bounds (issue 10, 4.3): from 2000-01-01 to a year after today", () => {
    const today = "2026-06-01";
    const ALLOWED = "a calendar date written YYYY-MM-DD, from 2000-01-01 to 2027-06-01 (a year after today)";
    const cancelled = (cancelledAt: string, createdDate = "2025-01-15") => file(entry(ABC, { createdDate, status: "cancelled", cancelledAt }));
    const problems = (source: string) => {
        const r = validateManifest(source, "tenants.yaml", { today });
        return r.ok ? [] : r.issues.map((i) => ({ field: i.field, value: i.value, problem: i.problem, allowed: i.allowed, line: i.line }));
    };

    test("cancelledAt 9999-12-31 is refused (its deletion-date label would be +010000-01-30), naming the field, the bound and the fix", () => {
        const s = cancelled("9999-12-31");
        expect(problems(s)).toEqual([
            {
                field: "cancelledAt",
                value: '"9999-12-31"',
                problem: "cancelledAt is out of bounds: 9999-12-31 is more than a year after today (2026-06-01)",
                allowed: ALLOWED,
                line: lineOf(s, "cancelledAt: 9999"),
            },
        ]);
        const r = validateManifest(s, "tenants.yaml", { today });
        expect(r.ok ? "" : formatIssue(r.issues[0])).toBe(
            `tenants.yaml:${lineOf(s, "cancelledAt: 9999")}: tenant "abc": field "cancelledAt": cancelledAt is out of bounds: 9999-12-31 is more than a year after today (2026-06-01) (got "9999-12-31"). ` +
                `Allowed: ${ALLOWED}. Fix: write the day the subscription was cancelled (the grace period is counted from it), e.g. 2025-06-01.`,
        );
    });

    test("a createdDate in the far future (which would block every cancellation) or before 2000 is refused", () => {
        expect(problems(file(entry(ABC, { createdDate: "2999-01-01" })))).toEqual([
            expect.objectContaining({
                field: "createdDate",
                problem: "createdDate is out of bounds: 2999-01-01 is more than a year after today (2026-06-01)",
                allowed: ALLOWED,
            }),
        ]);
        expect(problems(file(entry(ABC, { createdDate: "1999-12-31" })))).toEqual([
            expect.objectContaining({ field: "createdDate", problem: "createdDate is out of bounds: 1999-12-31 is before 2000-01-01", allowed: ALLOWED }),
        ]);
    });

    test("the bounds themselves are accepted: 2000-01-01 and exactly a year after today", () => {
        expect(problems(file(entry(ABC, { createdDate: "2000-01-01" })))).toEqual([]);
        expect(problems(cancelled("2027-06-01"))).toEqual([]);
        expect(problems(cancelled("2027-06-02"))).toHaveLength(1);
    });

    test("the upper bound follows the day: a date refused today is accepted a few days later", () => {
        expect(validateManifest(cancelled("2027-06-10"), "tenants.yaml", { today }).ok).toBe(false);
        expect(validateManifest(cancelled("2027-06-10"), "tenants.yaml", { today: "2026-06-10" }).ok).toBe(true);
    });
});

describe("name without control characters (issue 10, 4.11)", () => {
    test.each([
        ["NUL", '"Shop\\0"'],
        ["ESC", '"Shop \\e[31mred"'],
        ["a newline", '"Shop\\nTwo"'],
        ["a trailing newline", '"Shop\\n"'],
        ["a carriage return", '"Shop\\r"'],
        ["a tab", '"Shop\\tTab"'],
        ["DEL", '"Shop\\x7f"'],
        ["a C1 control (CSI)", '"Shop\\x9b"'],
        ["a line separator", '"Shop\\u2028"'],
        ["a right-to-left override", '"Shop\\u202e"'],
    ])("%s in name is refused, naming the field and what is allowed", (_what, yamlValue) => {
        const r = validateManifest(file(entry(ABC, { name: yamlValue })));
        expect(r.ok).toBe(false);
        if (r.ok) return;
        expect(r.issues.map((i) => [i.field, i.problem, i.fix])).toEqual([
            ["name", "invalid value", "give the shop's display name, on one line and without control characters (NUL, ESC, tab, line breaks)"],
        ]);
    });

    test("accents, apostrophes, emoji and non-Latin scripts are fine", () => {
        for (const name of ["Boulangerie L'Étoile", "Café 😀", "東京ストア", "Ünïcödé & Co."])
            expect(validateManifest(file(entry(ABC, { name: JSON.stringify(name) }))).ok).toBe(true);
    });
});

describe("helpers of the validator", () => {
    test.each([
        ["client-abc.collectverything.com", true],
        ["shop.client-abc.com", true],
        ["xn--lumire-6ua.fr", true],
        ["a.b", false], // the top-level label must have 2-63 letters
        ["x.123", false],
        [`${"a".repeat(63)}.com`, true],
        [`${"a".repeat(64)}.com`, false],
        [`${Array.from({ length: 50 }, () => "abcd").join(".")}.com`, true], // 253 characters
        [`${Array.from({ length: 51 }, () => "abcd").join(".")}.com`, false], // 258 characters
        ["-abc.com", false],
        ["abc-.com", false],
    ])("isDnsName(%j) = %s", (name, expected) => {
        expect(isDnsName(name)).toBe(expected);
    });

    test.each([
        ["2025-01-15", true],
        ["2024-02-29", true],
        ["2025-02-29", false],
        ["2025-02-30", false],
        ["2025-13-01", false],
        ["2025-1-15", false],
        ["20250115", false],
    ])("isCalendarDate(%j) = %s", (value, expected) => {
        expect(isCalendarDate(value)).toBe(expected);
    });

    test.each([
        ["2026-11-10", "2026-12-10"],
        ["2026-01-31", "2026-03-02"],
        ["2024-02-15", "2024-03-16"], // leap year
        ["2026-12-15", "2027-01-14"],
    ])("deletionDate(%s) is 30 days later: %s", (cancelledAt, expected) => {
        expect(deletionDate(cancelledAt)).toBe(expected);
    });
});

describe("properties", () => {
    const entries = shippedEntries();

    test("any permutation of the shipped entries validates to the same set of tenants", () => {
        const expected = loadManifest(SHIPPED_MANIFEST).tenants;
        const sortById = <T extends { id: string }>(ts: readonly T[]) => [...ts].sort((a, b) => a.id.localeCompare(b.id));
        fc.assert(
            fc.property(fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length }), (permutation) => {
                const result = validateManifest(manifestYaml(permutation));
                expect(result.ok).toBe(true);
                if (result.ok) {
                    expect(result.manifest.tenants.map((t) => t.id)).toEqual(permutation.map((t) => t.id));
                    expect(sortById(result.manifest.tenants)).toEqual(sortById(expected));
                }
            }),
            { numRuns: 50 },
        );
    });

    test("any permutation of entries with errors reports the same problems (by tenant and field)", () => {
        const broken = entries.map((t, i) => (i === 1 ? { ...t, tier: "gold" } : i === 3 ? { ...t, websiteId: entries[0].websiteId } : t));
        const key = (i: ManifestIssue) => `${i.tenant}|${i.field}|${i.value}`;
        fc.assert(
            fc.property(fc.shuffledSubarray(broken, { minLength: broken.length, maxLength: broken.length }), (permutation) => {
                const result = validateManifest(manifestYaml(permutation));
                expect(result.ok).toBe(false);
                const issues = result.ok ? [] : result.issues;
                expect(issues).toHaveLength(2);
                expect(issues.filter((i) => i.field === "tier").map(key)).toEqual([`${entries[1].id}|tier|"gold"`]);
                // Whichever of the two entries sharing a websiteId comes second is the one reported.
                const dup = issues.find((i) => i.field === "websiteId");
                const first = permutation.findIndex((t) => t.websiteId === entries[0].websiteId);
                const second = permutation.findIndex((t, k) => k > first && t.websiteId === entries[0].websiteId);
                expect(dup?.tenant).toBe(permutation[second].id);
            }),
            { numRuns: 50 },
        );
    });
});
