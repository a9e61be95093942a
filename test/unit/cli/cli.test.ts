/**
 * ./tenantctl, run as a user runs it: the launcher at the repository root,
 * in a child process. Exit codes: 0 success, 1 bad input, 2 usage error.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { SHIPPED_MANIFEST, tempDir, withTenant, shippedEntries, writeManifest } from "../../support/manifests";
import { PROJECT_DIR, SYNTH_TIMEOUT_MS } from "../../support/synth";
import { formatIssue, validateManifest } from "../../../lib/manifest";
import { loadManifest } from "../../../core/manifestSource";

interface Run {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
}

function tenantctl(...args: string[]): Promise<Run> {
    return new Promise((resolve) => {
        execFile(
            path.join(PROJECT_DIR, "tenantctl"),
            args,
            { cwd: PROJECT_DIR, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: "1" } },
            (error, stdout, stderr) => {
                const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
                resolve({ code, stdout, stderr });
            },
        );
    });
}

/** Node prints stack frames as "    at fn (file:line:col)". */
const STACK_FRAME = "    at ";

const dir = tempDir("cli");
const shipped = loadManifest(SHIPPED_MANIFEST);
const badSource = writeManifest(
    dir,
    "bad",
    withTenant(withTenant(withTenant(shippedEntries(), "abc", { tier: "gold" }), "xyz", { websiteId: 123 }), "nordic", { createdDate: "2025-02-30" }),
);

// A reviewed change that moves tenant abc (eu-west) to apac: refused on both stacks.
const movedSource = writeManifest(dir, "moved", withTenant(shippedEntries(), "abc", { region: "apac" }));
// A reviewed change that adds a us-east tenant: safe.
const addedSource = writeManifest(dir, "added", [
    ...shippedEntries(),
    {
        ...shippedEntries().find((t) => t.region === "us-east")!,
        id: "fresh",
        websiteId: 990001,
        domain: "client-fresh.collectverything.com",
        customDomains: [],
        billingId: "sub_fresh",
    },
]);
const previewFile = path.join(dir, "preview-eu-west.txt");
fs.writeFileSync(previewFile, "\u001b[32m+ kubernetes:core/v1:Namespace\u001b[0m\nResources:\n    + 1 to create\n");

type RunName =
    | "valid"
    | "invalid"
    | "unknownCommand"
    | "json"
    | "table"
    | "unknownStack"
    | "diffMoved"
    | "diffAdded"
    | "prComment"
    | "prCommentBad"
    | "reportNoStack"
    | "driftBadFormat";
let runs: Record<RunName, Run>;

beforeAll(async () => {
    // Independent processes: run them side by side.
    const [valid, invalid, unknownCommand, json, table, unknownStack] = await Promise.all([
        tenantctl("validate"),
        tenantctl("validate", "--manifest", badSource),
        tenantctl("frobnicate"),
        tenantctl("synth", "--stack", "apac", "--format", "json"),
        tenantctl("synth", "--stack", "apac", "--format", "table"),
        tenantctl("synth", "--stack", "mars"),
    ]);
    // The diffs synthesize in child processes of their own: run them after the first batch.
    const [diffMoved, diffAdded, prComment, prCommentBad, reportNoStack, driftBadFormat] = await Promise.all([
        tenantctl("diff", "--stack", "eu-west,apac", "--base", "tenants.yaml", "--manifest", movedSource, "--format", "json"),
        tenantctl("diff", "--stack", "us-east", "--base", "tenants.yaml", "--manifest", addedSource),
        tenantctl(
            "pr-comment",
            "--run-url",
            "https://ci.example/run/1",
            "--tests-outcome",
            "success",
            "--preview",
            `eu-west=${previewFile}`,
            "--preview-outcome",
            "eu-west=failure",
        ),
        tenantctl("pr-comment", "--run-url", "u", "--preview", "no-equals-sign"),
        tenantctl("report"),
        tenantctl("drift", "--stack", "local", "--format", "yaml"),
    ]);
    runs = { valid, invalid, unknownCommand, json, table, unknownStack, diffMoved, diffAdded, prComment, prCommentBad, reportNoStack, driftBadFormat };
}, SYNTH_TIMEOUT_MS);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("tenantctl validate", () => {
    test("the shipped manifest: exit 0 and a summary per region", () => {
        expect(runs.valid.stderr).toBe("");
        expect(runs.valid.code).toBe(0);
        // Regions in order of first appearance in the file.
        const regions = [...new Set(shipped.tenants.map((t) => t.region))];
        const perRegion = regions.map((r) => `${r}: ${shipped.tenants.filter((t) => t.region === r).length}`).join(", ");
        expect(runs.valid.stdout).toBe(`tenants.yaml: ${shipped.tenants.length} tenants valid (${perRegion})\n`);
    });

    test("a bad manifest: exit 1, every problem on stderr, no stack trace", () => {
        const { code, stdout, stderr } = runs.invalid;
        expect(code).toBe(1);
        expect(stdout).toBe("");
        const result = validateManifest(fs.readFileSync(badSource, "utf8"), badSource);
        expect(result.ok).toBe(false);
        const issues = result.ok ? [] : result.issues;
        expect(issues.map((i) => [i.tenant, i.field])).toEqual([
            ["abc", "tier"],
            ["xyz", "websiteId"],
            ["nordic", "createdDate"],
        ]);
        expect(stderr.split("\n")[0]).toBe(`3 problems in ${badSource}; nothing was applied:`);
        for (const issue of issues) expect(stderr).toContain(`  - ${formatIssue(issue)}\n`);
        expect(stderr).toContain('(got "gold")');
        expect(stderr).toContain("(got 123)");
        expect(stderr).toContain('(got "2025-02-30")');
        expect(stderr).not.toContain(STACK_FRAME);
    });

    test("an unknown command: exit 2 (usage error), without a stack trace", () => {
        expect(runs.unknownCommand.code).toBe(2);
        expect(runs.unknownCommand.stderr).toContain("unknown command 'frobnicate'");
        expect(runs.unknownCommand.stderr).not.toContain(STACK_FRAME);
    });
});

describe("tenantctl synth", () => {
    test("--format json: valid JSON with stack, region and every resource's type, name, parent, inputs", () => {
        expect(runs.json.code).toBe(0);
        const doc = JSON.parse(runs.json.stdout) as { stack: string; region: string; resources: Record<string, unknown>[] };
        expect(doc.stack).toBe("apac");
        expect(doc.region).toBe("apac");
        expect(doc.resources.length).toBeGreaterThan(100);
        for (const r of doc.resources) {
            expect(typeof r.type).toBe("string");
            expect(typeof r.name).toBe("string");
            expect(r.parent === null || typeof r.parent === "string").toBe(true);
            expect(r.inputs !== null && typeof r.inputs === "object" && !Array.isArray(r.inputs)).toBe(true);
        }
        expect(new Set(doc.resources.map((r) => r.tenant).filter((t) => t !== null))).toEqual(new Set(["sakura", "kiwi"]));
        expect(runs.json.stdout).not.toContain("synth-generated-password");
    });

    test("--format table: the per-tenant counts of sakura and kiwi, matching the JSON", () => {
        expect(runs.table.code).toBe(0);
        const doc = JSON.parse(runs.json.stdout) as { resources: { tenant: string | null; protect: boolean; type: string }[] };
        const lines = runs.table.stdout.split("\n");
        expect(lines[0]).toBe(`stack apac (region apac): ${doc.resources.length} resources, 2 tenants`);
        for (const tenant of ["sakura", "kiwi"]) {
            const own = doc.resources.filter((r) => r.tenant === tenant);
            // 94 per tenant with every feature on in eu-west, less the archive identity (7: no AWS account in apac), the two AWS
            // secrets (a rotation slot each), their versions and the ExternalSecret per service, plus a Kubernetes Secret per
            // service: 94 - 7 - 15 + 3.
            expect(own).toHaveLength(75);
            const row = lines.find((l) => l.startsWith(`${tenant} `));
            expect(row?.trim().split(/\s+/)).toEqual([
                tenant,
                String(own.length),
                String(own.filter((r) => r.protect).length),
                String(new Set(own.map((r) => r.type)).size),
            ]);
        }
    });

    test("an unknown stack: exit 1 with the list of stacks, no stack trace", () => {
        expect(runs.unknownStack.code).toBe(1);
        expect(runs.unknownStack.stdout).toBe("");
        expect(runs.unknownStack.stderr).toBe(`no stack file Pulumi.mars.yaml in ${PROJECT_DIR}; stacks: apac, eu-west, local, us-east\n`);
    });
});

describe("tenantctl diff (the pull-request gate)", () => {
    test("a region move: exit 1, refused on the stack it leaves and the one it enters", () => {
        expect(runs.diffMoved.code).toBe(1);
        expect(runs.diffMoved.stderr).toBe("tenantctl diff: this change is unsafe (see ⛔ / Refused above)\n");
        const diffs = JSON.parse(runs.diffMoved.stdout) as { stack: string; findings: string[]; changes: { kind: string; tenant: string }[] }[];
        expect(diffs.map((d) => d.stack)).toEqual(["eu-west", "apac"]);
        for (const d of diffs) {
            expect(d.findings).toEqual([
                'tenant "abc" moves from eu-west to apac: refused, data never leaves its region. To move a client, onboard it under a new id in apac, migrate its data, then cancel "abc".',
            ]);
        }
        // abc's resources leave eu-west and would appear in apac.
        expect(new Set(diffs[0].changes.filter((c) => c.tenant === "abc").map((c) => c.kind))).toEqual(new Set(["remove"]));
        expect(new Set(diffs[1].changes.filter((c) => c.tenant === "abc").map((c) => c.kind))).toEqual(new Set(["add"]));
    });

    test("a new tenant: exit 0, its resources added in its region only, nothing else touched", () => {
        expect(runs.diffAdded.stderr).toBe("");
        expect(runs.diffAdded.code).toBe(0);
        const heading = runs.diffAdded.stdout.split("\n")[0];
        expect(heading).toMatch(/^### Region `us-east` \(stack `us-east`\): \d+ to add, 0 to change, 0 to remove$/);
        expect(runs.diffAdded.stdout).toContain("tenant <code>fresh</code>");
        expect(runs.diffAdded.stdout).not.toContain("⛔");
    });
});

describe("tenantctl pr-comment, report, drift: arguments", () => {
    test("pr-comment builds the marked comment from the files, colours stripped", () => {
        expect(runs.prComment.code).toBe(0);
        expect(runs.prComment.stdout.startsWith("<!-- collectverything:pr-preview -->")).toBe(true);
        expect(runs.prComment.stdout).toContain("+ kubernetes:core/v1:Namespace");
        expect(runs.prComment.stdout).not.toContain("\u001b[");
        expect(runs.prComment.stdout).toContain("https://ci.example/run/1");
    });

    test("a malformed <region>=<file> pair, a missing --stack, an unknown format: exit 2 naming the option", () => {
        expect(runs.prCommentBad.code).toBe(2);
        expect(runs.prCommentBad.stderr).toContain("expected <region>=<value>");
        expect(runs.reportNoStack.code).toBe(2);
        expect(runs.reportNoStack.stderr).toContain("required option '--stack <stack>' not specified");
        expect(runs.driftBadFormat.code).toBe(2);
        expect(runs.driftBadFormat.stderr).toContain("expected one of text, markdown, json");
        for (const r of [runs.prCommentBad, runs.reportNoStack, runs.driftBadFormat]) expect(r.stderr).not.toContain(STACK_FRAME);
    });
});
