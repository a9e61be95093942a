/** The pure parts of `tenantctl bench-engine` (bench/engine.ts): the CSV row, the CPU reading, the state file, the region's settings. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { CSV_HEADER, csvRow, largestStateBytes, reapedChildrenCpuSeconds, settingsWithShards } from "../../../bench/engine";

test("the CSV header is the issue's seven columns, then the pulumi processes' CPU seconds", () => {
    expect(CSV_HEADER).toBe("tenants,shards,resources,first_up_s,noop_preview_s,onboard_active_s,largest_state_mb,pulumi_cpu_s");
});

test("csvRow: seconds to a tenth, MB to a hundredth, in the header's order", () => {
    expect(
        csvRow({
            tenants: 50,
            shards: 2,
            resources: 855,
            firstUpSeconds: 61.26,
            noopPreviewSeconds: 9.04,
            onboardActiveSeconds: 5.55,
            largestStateMb: 1.6049,
            pulumiCpuSeconds: 140.33,
            firstUpCpuSeconds: 100,
            onboardStack: "local-s01",
        }),
    ).toBe("50,2,855,61.3,9.0,5.5,1.60,140.3");
});

test("reapedChildrenCpuSeconds: cutime + cstime (fields 16, 17) in 1/100 s, with a command name holding spaces and parentheses", () => {
    // Fields 1-17 of a /proc/<pid>/stat line: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime …
    const stat = "4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 200 0 0 350 120 12345 678 20 0 11 0 500 1000000 300";
    expect(reapedChildrenCpuSeconds(stat)).toBe(130.23);
});

test("largestStateBytes: the biggest checkpoint under .pulumi/stacks, backups and history left out", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cv-bench-state-"));
    try {
        const stacks = path.join(dir, ".pulumi", "stacks", "tenant-platform");
        fs.mkdirSync(stacks, { recursive: true });
        fs.writeFileSync(path.join(stacks, "local.json"), "x".repeat(300));
        fs.writeFileSync(path.join(stacks, "local-s00.json"), "x".repeat(1200));
        fs.writeFileSync(path.join(stacks, "local-s00.json.bak"), "x".repeat(5000));
        fs.mkdirSync(path.join(dir, ".pulumi", "history"), { recursive: true });
        fs.writeFileSync(path.join(dir, ".pulumi", "history", "big.json"), "x".repeat(9000));
        expect(largestStateBytes(dir)).toEqual({ file: path.join(stacks, "local-s00.json"), bytes: 1200 });
        expect(largestStateBytes(path.join(dir, "none"))).toEqual({ file: "", bytes: 0 });
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

test("settingsWithShards: the count set, every other line of the file kept", () => {
    const text = "# the local stack\nconfig:\n  tenant-platform:region: eu-west\nencryptionsalt: v1:abc\n";
    const out = settingsWithShards(text, 4);
    expect(parse(out)).toEqual({ config: { "tenant-platform:region": "eu-west", "tenant-platform:shards": 4 }, encryptionsalt: "v1:abc" });
    expect(out.startsWith("# the local stack\n")).toBe(true);
    expect(parse(settingsWithShards(out, 2)).config["tenant-platform:shards"]).toBe(2);
});
