import { COMMENT_MARKER, GITHUB_COMMENT_LIMIT, buildComment, parseOutcome, policyViolationLines, stripAnsi, truncate } from "../../../lib/prComment";

const RUN = "https://github.example/org/repo/actions/runs/42";

describe("PR comment", () => {
    it("is one comment with the hidden marker, the check table, the diff and each region's preview", () => {
        const body = buildComment({
            runUrl: RUN,
            commitSha: "0123456789abcdef",
            testsOutcome: "success",
            diffMarkdown: "## eu-west\n### tenant abc\n+ 3 resources",
            diffOutcome: "success",
            previews: [
                { region: "eu-west", outcome: "success", output: "Previewing update (eu-west)\n+ 3 to create" },
                {
                    region: "us-east",
                    outcome: "failure",
                    output: "Policies:\n    ❌ collectverything-tenant-platform@v0.1.0 (local: policy)\n        - [mandatory]  no-public-buckets  (minio:index/s3Bucket:S3Bucket: b)\n",
                },
            ],
        });
        expect(body.startsWith(COMMENT_MARKER)).toBe(true);
        expect(body).toContain("| `make test` | ✅ success |");
        expect(body).toContain("| `pulumi preview` us-east | ❌ failure (1 policy violation) |");
        expect(body).toContain("### What changes, per region and tenant\n\n## eu-west\n### tenant abc\n+ 3 resources");
        expect(body).toContain("- [mandatory]  no-public-buckets  (minio:index/s3Bucket:S3Bucket: b)");
        expect(body).toContain("`0123456789ab`");
    });

    it("stays under GitHub's limit with three huge previews and links to the full output", () => {
        const huge = (c: string) => Array.from({ length: 40_000 }, (_, i) => `${c} line ${i}`).join("\n");
        const body = buildComment({
            runUrl: RUN,
            testsOutcome: "success",
            diffMarkdown: huge("d"),
            previews: ["eu-west", "us-east", "apac"].map((region) => ({ region, outcome: "success" as const, output: huge(region) })),
        });
        expect(body.length).toBeLessThan(GITHUB_COMMENT_LIMIT);
        expect(body.match(/truncated \(\d+ more characters\)\. Full output: https:\/\/github\.example\/org\/repo\/actions\/runs\/42#artifacts/g)).toHaveLength(
            4,
        );
        for (const region of ["eu-west", "us-east", "apac"]) expect(body).toContain(`${region} line 0`);
    });

    it("keeps small sections whole and gives the rest to the large one", () => {
        const body = buildComment({
            runUrl: RUN,
            testsOutcome: "success",
            budget: 5_000,
            previews: [
                { region: "eu-west", outcome: "success", output: "small" },
                { region: "apac", outcome: "success", output: "x\n".repeat(10_000) },
            ],
        });
        expect(body).toContain("```diff\nsmall\n```");
        expect(body.length).toBeLessThanOrEqual(5_000);
    });

    it("truncates on a line boundary, strips colours, finds violations and parses repeated flags", () => {
        expect(truncate("aaa\nbbb\nccc", 100, RUN)).toBe("aaa\nbbb\nccc");
        expect(truncate("a".repeat(50) + "\n" + "b".repeat(200), 180, RUN)).toMatch(/^a{50}\n… truncated/);
        expect(stripAnsi("\u001b[31mred\u001b[0m")).toBe("red");
        expect(policyViolationLines("x\n  [advisory]  p  (t: n)\n")).toEqual(["[advisory]  p  (t: n)"]);
        expect(["success", "failure", "cancelled", "skipped", "neutral", undefined].map(parseOutcome)).toEqual([
            "success",
            "failure",
            "cancelled",
            "skipped",
            "unknown",
            "unknown",
        ]);
    });
});
