/**
 * ./tenantctl, run as a user runs it: the launcher at the repository root,
 * in a child process. Exit codes: 0 success, 1 bad input, 2 usage error.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { SHIPPED_MANIFEST, tempDir, withTenant, shippedEntries, writeManifest } from "../../support/manifests";
import { PROJECT_DIR, SYNTH_TIMEOUT_MS } from "../../support/synth";
import { formatIssue, loadManifest, validateManifest } from "../../../lib/manifest";

interface Run {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
}

function tenantctl(...args: string[]): Promise<Run> {
    return new Promise((resolve) => {
        execFile(path.join(PROJECT_DIR, "tenantctl"), args, { cwd: PROJECT_DIR, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: "1" } }, (error, stdout, stderr) => {
            const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
            resolve({ code, stdout, stderr });
        });
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

let runs: Record<"valid" | "invalid" | "unknownCommand" | "json" | "table" | "unknownStack", Run>;

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
    runs = { valid, invalid, unknownCommand, json, table, unknownStack };
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
            // 59 per tenant with every feature on, less the AWS secret, its version and the
            // ExternalSecret per service, plus a Kubernetes Secret per service: 59 - 9 + 3.
            expect(own).toHaveLength(53);
            const row = lines.find((l) => l.startsWith(`${tenant} `));
            expect(row?.trim().split(/\s+/)).toEqual([tenant, String(own.length), String(own.filter((r) => r.protect).length), String(new Set(own.map((r) => r.type)).size)]);
        }
    });

    test("an unknown stack: exit 1 with the list of stacks, no stack trace", () => {
        expect(runs.unknownStack.code).toBe(1);
        expect(runs.unknownStack.stdout).toBe("");
        expect(runs.unknownStack.stderr).toBe(`no stack file Pulumi.mars.yaml in ${PROJECT_DIR}; stacks: apac, eu-west, local, us-east\n`);
    });
});
