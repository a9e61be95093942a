/**
 * `tenantctl pr-comment`: builds the preview workflow's one pull-request
 * comment (lib/prComment.ts) from the files the workflow's jobs wrote.
 *
 *   tenantctl pr-comment --out comment.md --run-url URL [--sha SHA] \
 *     [--tests-outcome success] [--diff diff.md --diff-outcome success] \
 *     [--preview eu-west=preview-eu-west.txt --preview-outcome eu-west=failure ...]
 */
import { InvalidArgumentError, type Command } from "commander";
import * as fs from "node:fs";
import { buildComment, parseOutcome } from "../lib/prComment";

function readOptional(file: string | undefined): string | undefined {
    return file !== undefined && fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
}

/** Collects repeated `<region>=<value>` options into a map. */
export function regionPair(value: string, previous: Map<string, string> = new Map()): Map<string, string> {
    const eq = value.indexOf("=");
    if (eq < 1) throw new InvalidArgumentError("expected <region>=<value>, e.g. eu-west=preview-eu-west.txt");
    return new Map([...previous, [value.slice(0, eq), value.slice(eq + 1)]]);
}

interface PrCommentOptions {
    out?: string;
    runUrl: string;
    sha?: string;
    testsOutcome?: string;
    diff?: string;
    diffOutcome?: string;
    preview: Map<string, string>;
    previewOutcome: Map<string, string>;
}

export function register(program: Command): void {
    program
        .command("pr-comment")
        .description("Build the preview workflow's pull-request comment (kept under GitHub's size limit) from the jobs' outputs.")
        .requiredOption("--run-url <url>", "the workflow run, whose page lists the full outputs")
        .option("--out <file>", "write the comment here instead of stdout")
        .option("--sha <sha>", "the commit previewed")
        .option("--tests-outcome <outcome>", "result of the test job (success, failure, cancelled, skipped)")
        .option("--diff <file>", "markdown of tenantctl diff")
        .option("--diff-outcome <outcome>", "result of the diff job")
        .option("--preview <region=file>", "a region's `pulumi preview --diff` output (repeatable)", regionPair, new Map<string, string>())
        .option("--preview-outcome <region=outcome>", "a region's preview result (repeatable)", regionPair, new Map<string, string>())
        .action((opts: PrCommentOptions) => {
            const previews = [...opts.preview.entries()].map(([region, file]) => ({
                region,
                outcome: parseOutcome(opts.previewOutcome.get(region)),
                output: readOptional(file) ?? "(the preview produced no output; see the workflow run)",
            }));
            const body = buildComment({
                runUrl: opts.runUrl,
                commitSha: opts.sha,
                testsOutcome: parseOutcome(opts.testsOutcome),
                diffMarkdown: readOptional(opts.diff),
                diffOutcome: opts.diffOutcome !== undefined ? parseOutcome(opts.diffOutcome) : undefined,
                previews,
            });
            if (opts.out) fs.writeFileSync(opts.out, body);
            else process.stdout.write(body);
        });
}
