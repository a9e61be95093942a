/**
 * `tenantctl up|preview|refresh --region R --json`: the machine-readable
 * summary and the plain progress lines it writes to stderr (cli/regionReport.ts).
 */
import { plainProgress, regionSummary } from "../../../cli/regionReport";

describe("regionSummary", () => {
    test("every stack in run order, the failed ones named, seconds to a tenth, no error key on a success, recovered only where something was repaired", () => {
        const summary = regionSummary("local", "up", [
            { stack: "local", result: "succeeded", changes: { same: 3 }, seconds: 2.04, changed: {}, recovered: [] },
            {
                stack: "local-s00",
                result: "succeeded",
                changes: { create: 17, same: 120 },
                seconds: 31.25,
                changed: { u: ["create"] },
                recovered: ["removed the lock of pid 41 on vm (since 2026-12-01T16:54:39Z), a process that no longer runs, with pulumi cancel"],
            },
            { stack: "local-s01", result: "failed", changes: { create: 1 }, seconds: 9, error: "namespace refused\nsecond line", changed: {}, recovered: [] },
        ]);
        expect(JSON.parse(JSON.stringify(summary))).toEqual({
            region: "local",
            op: "up",
            succeeded: false,
            failed: ["local-s01"],
            stacks: [
                { stack: "local", result: "succeeded", changes: { same: 3 }, seconds: 2 },
                {
                    stack: "local-s00",
                    result: "succeeded",
                    changes: { create: 17, same: 120 },
                    seconds: 31.3,
                    recovered: ["removed the lock of pid 41 on vm (since 2026-12-01T16:54:39Z), a process that no longer runs, with pulumi cancel"],
                },
                { stack: "local-s01", result: "failed", changes: { create: 1 }, seconds: 9, error: "namespace refused\nsecond line" },
            ],
        });
    });

    test("all succeeded: succeeded true, failed empty", () => {
        expect(
            regionSummary("eu-west", "preview", [{ stack: "eu-west", result: "succeeded", changes: { same: 70 }, seconds: 8, changed: {}, recovered: [] }]),
        ).toEqual({
            region: "eu-west",
            op: "preview",
            succeeded: true,
            failed: [],
            stacks: [{ stack: "eu-west", result: "succeeded", changes: { same: 70 }, seconds: 8 }],
        });
    });
});

describe("plainProgress", () => {
    test("every state change is a line, a running stack at most one per interval, a failure with its first line", () => {
        const lines: string[] = [];
        let t = 0;
        const on = plainProgress(
            "up",
            (l) => lines.push(l),
            2000,
            () => t,
        );
        on({ stack: "local-s00", state: "queued", done: 0, total: 40 });
        on({ stack: "local-s00", state: "running", done: 1, total: 40 });
        t = 1000;
        on({ stack: "local-s00", state: "running", done: 5, total: 40 });
        t = 2500;
        on({ stack: "local-s00", state: "running", done: 9, total: 40 });
        on({ stack: "local-s01", state: "failed", done: 2, error: "admission refused\ndetails" });
        on({ stack: "local-s00", state: "succeeded", done: 40, total: 40 });
        expect(lines).toEqual([
            "local-s00  up  queued (40 resources)",
            "local-s00  up  running 1/40 resources",
            "local-s00  up  running 9/40 resources",
            "local-s01  up  failed after 2 resources: admission refused",
            "local-s00  up  succeeded 40/40 resources",
        ]);
    });
});
