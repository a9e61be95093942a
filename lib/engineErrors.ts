/**
 * Why a pulumi run failed, from the text the Automation API's CommandError
 * carries. Pure: the region runner (core/region.ts) and `tenantctl up|preview
 * --region`'s progress line show this instead of the error's raw opening,
 * which is always "code: -2" (the Automation API's code for any failed CLI
 * run) followed by the CLI's whole stdout and stderr.
 */

/** The CommandError's frame: its code line, its empty stdout/stderr labels, the "Command failed" line with the command. */
const FRAME = [/^code: -?\d+$/, /^(stdout|stderr):\s*$/, /^(stderr: )?Command failed with exit code \d+: /];
const ERROR_LINE = /(?:^|\s)error: (.+)/;

/**
 * The reason of a failed run: its `error:` lines, each once, in order (the CLI
 * prints a diagnostic both as it happens and in its summary), each with the
 * lines indented under it (a lock error's "created by user@host (pid N)"
 * lines); without any, the last `n` lines of the text without the
 * CommandError's frame.
 */
export function failureReason(text: string, n = 15): string {
    const lines = text
        .split("\n")
        .map((l) => l.trimEnd())
        .filter((l) => l !== "" && !FRAME.some((re) => re.test(l.trimStart())));
    const indent = (l: string) => l.length - l.trimStart().length;
    const blocks: string[] = [];
    for (let i = 0; i < lines.length; i++) {
        // Lines end trimmed: a match's message holds more than spaces.
        const m = ERROR_LINE.exec(lines[i]);
        if (!m) continue;
        const block = [`error: ${m[1].trim()}`];
        for (let j = i + 1; j < lines.length && indent(lines[j]) > indent(lines[i]) && !ERROR_LINE.test(lines[j]); j++) block.push(lines[j].trim());
        blocks.push(block.join("\n  "));
    }
    if (blocks.length > 0) return [...new Set(blocks)].join("\n");
    return lines.slice(-n).join("\n");
}
