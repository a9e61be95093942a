/**
 * The pull-request comment of the preview workflow: one comment for the whole
 * PR (tests, the per-tenant manifest diff, and `pulumi preview --diff` of each
 * region), found again by a hidden marker and updated in place, kept under
 * GitHub's 65,536-character limit with a link to the full output. Pure:
 * `tenantctl pr-comment` (cli/prComment.ts) reads the files.
 */

/** The hidden marker the workflow looks for to update the comment instead of adding one. */
export const COMMENT_MARKER = "<!-- collectverything:pr-preview -->";
/** GitHub refuses comment bodies longer than this. */
export const GITHUB_COMMENT_LIMIT = 65_536;
/** What we aim for: the limit minus room for the marker, headings and truncation notes. */
export const DEFAULT_BUDGET = 60_000;

export type Outcome = "success" | "failure" | "cancelled" | "skipped" | "unknown";

export interface RegionPreview {
    readonly region: string;
    readonly outcome: Outcome;
    /** The raw `pulumi preview --diff` output (ANSI colour codes are removed). */
    readonly output: string;
}

export interface CommentInput {
    /** Link to the workflow run: its summary page lists the artifacts with the full output. */
    readonly runUrl: string;
    readonly commitSha?: string;
    readonly testsOutcome: Outcome;
    /** Markdown from `tenantctl diff --format markdown`. */
    readonly diffMarkdown?: string;
    readonly diffOutcome?: Outcome;
    readonly previews: readonly RegionPreview[];
    /** Character budget of the whole body. Default: DEFAULT_BUDGET. */
    readonly budget?: number;
}

const ICON: Record<Outcome, string> = { success: "✅", failure: "❌", cancelled: "⏹️", skipped: "⏭️", unknown: "❔" };

/** Removes ANSI escape sequences. */
export function stripAnsi(text: string): string {
    // eslint-disable-next-line no-control-regex
    return text.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "");
}

/** Cuts `text` to at most `max` characters on a line boundary, with a note pointing at the full output. */
export function truncate(text: string, max: number, fullOutputUrl: string): string {
    if (text.length <= max) return text;
    const note = `\n… truncated (${text.length - max} more characters). Full output: ${fullOutputUrl}`;
    const room = Math.max(0, max - note.length);
    const cut = text.lastIndexOf("\n", room);
    return `${text.slice(0, cut > room / 2 ? cut : room)}${note}`;
}

/** Violations of the policy pack in a preview's output, e.g. `[mandatory]  tenant-namespace-guards  (…)`. */
export function policyViolationLines(output: string): string[] {
    return stripAnsi(output)
        .split("\n")
        .filter((l) => /\[(mandatory|advisory)\]/.test(l))
        .map((l) => l.trim());
}

/** A fenced block that no content can close early. */
function fence(text: string, lang = ""): string {
    const longest = Math.max(2, ...[...text.matchAll(/`{3,}/g)].map((m) => m[0].length));
    const ticks = "`".repeat(longest + 1);
    return `${ticks}${lang}\n${text}\n${ticks}`;
}

/**
 * Builds the comment body. Sections share the budget: the fixed parts first,
 * then the manifest diff and each region's preview get what is left, the
 * smaller ones in full, the larger ones truncated with a link.
 */
export function buildComment(input: CommentInput): string {
    const budget = Math.min(input.budget ?? DEFAULT_BUDGET, GITHUB_COMMENT_LIMIT - 1_000);
    const full = `${input.runUrl}#artifacts`;
    const head = [
        COMMENT_MARKER,
        "## Tenant platform preview",
        "",
        `${input.commitSha ? `Commit \`${input.commitSha.slice(0, 12)}\` · ` : ""}[workflow run](${input.runUrl}) · full output in the run's artifacts`,
        "",
        "| check | result |",
        "| --- | --- |",
        `| \`make test\` | ${ICON[input.testsOutcome]} ${input.testsOutcome} |`,
        ...(input.diffOutcome ? [`| \`tenantctl diff\` (all regions) | ${ICON[input.diffOutcome]} ${input.diffOutcome} |`] : []),
        ...input.previews.map(
            (p) =>
                `| \`pulumi preview\` ${p.region} | ${ICON[p.outcome]} ${p.outcome}${policyViolationLines(p.output).length ? ` (${policyViolationLines(p.output).length} policy violation${policyViolationLines(p.output).length === 1 ? "" : "s"})` : ""} |`,
        ),
        "",
    ].join("\n");

    interface Section {
        readonly title: string;
        readonly body: string;
        readonly render: (body: string) => string;
    }
    const sections: Section[] = [];
    if (input.diffMarkdown !== undefined) {
        sections.push({ title: "What changes, per region and tenant", body: input.diffMarkdown.trim(), render: (b) => b });
    }
    for (const p of input.previews) {
        const violations = policyViolationLines(p.output);
        const summary = violations.length ? `**Policy violations**\n\n${violations.map((v) => `- ${v}`).join("\n")}\n\n` : "";
        sections.push({
            title: `\`pulumi preview --diff\` ${p.region} ${ICON[p.outcome]}`,
            body: stripAnsi(p.output).trim() || "(no output)",
            render: (b) => `${summary}<details><summary>preview output</summary>\n\n${fence(b, "diff")}\n\n</details>`,
        });
    }

    // Share what is left of the budget: small sections whole, the rest split evenly.
    const overhead = (s: Section) => s.render("").length + s.title.length + 16;
    let remaining = budget - head.length - sections.reduce((n, s) => n + overhead(s), 0);
    const allowance = new Map<Section, number>();
    const bySize = [...sections].sort((a, b) => a.body.length - b.body.length);
    bySize.forEach((s, i) => {
        const fair = Math.floor(Math.max(0, remaining) / (bySize.length - i));
        const take = Math.min(s.body.length, fair);
        allowance.set(s, take);
        remaining -= take;
    });
    const rendered = sections.map((s) => `### ${s.title}\n\n${s.render(truncate(s.body, allowance.get(s) ?? 0, full))}\n`);
    const body = [head, ...rendered].join("\n");
    return body.length <= GITHUB_COMMENT_LIMIT ? body : truncate(body, GITHUB_COMMENT_LIMIT - 200, full);
}

const OUTCOMES: readonly Outcome[] = ["success", "failure", "cancelled", "skipped", "unknown"];

/** A job result as GitHub Actions reports it; anything else is "unknown". */
export function parseOutcome(value: string | undefined): Outcome {
    return OUTCOMES.find((o) => o === value) ?? "unknown";
}
