/**
 * lib/engineErrors.ts: the reason a failed pulumi run gives, from an
 * Automation API CommandError's text, instead of its "code: -2" opening.
 */
import { parseLocks } from "../../../lib/crashRecovery";
import { failureReason } from "../../../lib/engineErrors";

// The text of a real failure (test/engine/policy.test.ts, 2026-12-01, with a policy pack the language host could not start).
const POLICY_PACK_FAILURE = [
    "code: -2",
    " stdout: ",
    " stderr: Command failed with exit code 1: pulumi preview --policy-pack /work/main/policy --color never --stack local --non-interactive",
    'error: policy pack "/work/main/policy" failed to start: could not read plugin [/work/main/policy]: not supported',
    "Previewing update (local):",
    "Loading policy packs...: starting",
    "    pulumi:pulumi:Stack tenant-platform-local  Error: Custom transpiler can only be used when transpileOnly is enabled.",
    "    pulumi:pulumi:Stack tenant-platform-local  7 messages",
    "Diagnostics:",
    "  pulumi:pulumi:Stack (tenant-platform-local):",
    "    error: update failed",
    "",
    "    error: update failed",
    "",
].join("\n");

test("a failed run's error lines, each once, in order, without the CommandError's frame", () => {
    expect(failureReason(POLICY_PACK_FAILURE)).toBe(
        'error: policy pack "/work/main/policy" failed to start: could not read plugin [/work/main/policy]: not supported\nerror: update failed',
    );
});

test("a resource's error line keeps its message, not its URN column", () => {
    expect(
        failureReason(
            "code: -2\n stdout: \n stderr: Command failed with exit code 255: pulumi up --yes\n" +
                '    kubernetes:core/v1:Namespace e-commerce-client-x  error: namespaces "e-commerce-client-x" is forbidden: admission denied\n',
        ),
    ).toBe('error: namespaces "e-commerce-client-x" is forbidden: admission denied');
});

test("a lock error keeps the locks listed under it, as the crash repair's parseLocks reads them", () => {
    const text =
        "code: -2\n stdout: \n stderr: Command failed with exit code 255: pulumi up --yes\n" +
        "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
        "  file:///tmp/b/.pulumi/locks/organization/tenant-platform/local-s03/3f2a.json: created by root@vm (pid 4242) at 2026-12-01T20:00:00Z\n" +
        "Updating (local-s03):\n";
    expect(failureReason(text)).toBe(
        "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
            "  file:///tmp/b/.pulumi/locks/organization/tenant-platform/local-s03/3f2a.json: created by root@vm (pid 4242) at 2026-12-01T20:00:00Z",
    );
    expect(parseLocks(failureReason(text))).toEqual([{ user: "root", host: "vm", pid: 4242, at: "2026-12-01T20:00:00Z" }]);
});

test("without an error line: the last lines, the frame dropped", () => {
    expect(failureReason("code: -2\n stdout: \n stderr: Command failed with exit code 1: pulumi refresh\nsignal: killed\n")).toBe("signal: killed");
    expect(failureReason("a\nb\nc\nd", 2)).toBe("c\nd");
    expect(failureReason("code: -2\n stdout: \n stderr: ")).toBe("");
});

test("only the CommandError's own frame lines are dropped: output that merely contains their words is kept", () => {
    const frame = ["code: 255", " stdout: ", "stderr: Command failed with exit code 255: pulumi preview", "Command failed with exit code 1: pulumi refresh"];
    const kept = [
        "exit code: -2 from the pre-hook",
        "the hook ended with exit code: 2",
        "code: 2 retries left",
        "captured stderr:",
        "stdout: hello",
        "stdout:x",
        "retry: Command failed with exit code 1: again",
    ];
    expect(failureReason([...frame, ...kept].join("\n"))).toBe(kept.join("\n"));
});

test("an error's message is trimmed, and every line indented under it goes with it", () => {
    const text = ["error:    the stack is locked", "    by root@vm (pid 1)", "    at 2026-12-01T20:00:00Z", "next line", "  error: not under the first"].join(
        "\n",
    );
    expect(failureReason(text)).toBe("error: the stack is locked\n  by root@vm (pid 1)\n  at 2026-12-01T20:00:00Z\nerror: not under the first");
});
