/**
 * `tenantctl serve` as a process: the ready line, the exit codes, the fake
 * deployer flag. Runs the real entry point (./tenantctl).
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { withShardCount } from "../../../cli/shardsLayout";
import { PROJECT_DIR } from "../../../core/project";
import { launchFakeService } from "../../../service/launch";
import { createdEvent, post, request, SECRET, tempDir, tempManifest } from "../../support/service";
import { waitFor } from "../../support/process";

jest.setTimeout(60_000);

function tenantctl(args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const clean: NodeJS.ProcessEnv = { ...process.env, WEBHOOK_SECRET: "", WEBHOOK_SECRETS: "", WEBHOOK_SECRET_PREVIOUS: "", BROKER_URL: "", ...env };
    return new Promise((resolve) => {
        execFile(path.join(PROJECT_DIR, "tenantctl"), args, { cwd: PROJECT_DIR, env: clean, timeout: 30_000, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
            resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr });
        });
    });
}

describe("tenantctl serve --fake-deployer", () => {
    it("prints exactly one ready line, deploys through the fake (journal) and exits 0 on SIGTERM", async () => {
        const dir = tempDir();
        const journal = path.join(dir, "deploys.jsonl");
        const log: string[] = [];
        const svc = await launchFakeService({
            manifest: tempManifest(dir),
            store: path.join(dir, "service.db"),
            secret: SECRET,
            delayMs: 10,
            journal,
            logLevel: "info",
            onLog: (l) => log.push(l),
        });
        try {
            const res = await post(svc, createdEvent("ready-line"));
            expect(res.statusCode).toBe(202);
            await waitFor(() => fs.existsSync(journal) && fs.readFileSync(journal, "utf8").includes('"done"'));
            const lines = fs
                .readFileSync(journal, "utf8")
                .trim()
                .split("\n")
                .map((l) => JSON.parse(l) as Record<string, unknown>);
            // The answer comes before the batch (queued, no job yet); the job then runs once.
            expect(res.json()).toMatchObject({ status: "queued", jobId: null });
            const jobId = lines[0].jobId;
            expect(jobId).toMatch(/^job_/);
            expect(lines.map((l) => [l.event, l.jobId, l.tenants, l.pid])).toEqual([
                ["start", jobId, ["ready-line"], svc.pid],
                ["done", jobId, ["ready-line"], svc.pid],
            ]);
        } finally {
            expect(await svc.stop()).toBe(0);
        }
        // Everything else on stdout is the service's log; the ready line was the one launchFakeService consumed.
        expect(log.length).toBeGreaterThan(0);
        expect(log.filter((l) => /^\{"port":/.test(l))).toEqual([]);
        expect(log.every((l) => typeof (JSON.parse(l) as { level?: unknown }).level === "number")).toBe(true);
    });

    it("refuses to start without a secret: exit 1 and the fix", async () => {
        const dir = tempDir();
        const r = await tenantctl(["serve", "--fake-deployer", "--port", "0", "--manifest", tempManifest(dir), "--store", path.join(dir, "s.db")], {});
        expect(r.code).toBe(1);
        expect(r.stdout).toBe("");
        expect(r.stderr).toBe(
            "tenantctl serve: no webhook secret. Fix: set WEBHOOK_SECRET (and WEBHOOK_SECRET_PREVIOUS while rotating) or pass --secrets-file.\n",
        );
    });

    it("refuses an invalid manifest: exit 1 with the validator's message, nothing listens", async () => {
        const dir = tempDir();
        const manifest = path.join(dir, "tenants.yaml");
        fs.writeFileSync(manifest, "tenants:\n  - id: Bad_Id\n");
        const r = await tenantctl(["serve", "--fake-deployer", "--port", "0", "--manifest", manifest, "--store", path.join(dir, "s.db")], {
            WEBHOOK_SECRET: SECRET,
        });
        expect(r.code).toBe(1);
        expect(r.stdout).toBe("");
        expect(r.stderr).toMatch(/^tenantctl serve: the manifest the service would edit is invalid; fix it first\.\n/);
    });

    it("refuses a status token that is also a webhook secret: exit 1 and the fix", async () => {
        const dir = tempDir();
        const r = await tenantctl(["serve", "--fake-deployer", "--port", "0", "--manifest", tempManifest(dir), "--store", path.join(dir, "s.db")], {
            WEBHOOK_SECRET: SECRET,
            STATUS_TOKENS: `other,${SECRET}`,
        });
        expect(r.code).toBe(1);
        expect(r.stdout).toBe("");
        expect(r.stderr).toBe(
            "tenantctl serve: a status token is also a webhook secret. Fix: give the status endpoints a token of their own (STATUS_TOKENS or --status-token-file).\n",
        );
    });

    it("takes status tokens from --status-token-file as well as STATUS_TOKENS", async () => {
        const dir = tempDir();
        const tokens = path.join(dir, "status-tokens");
        fs.writeFileSync(tokens, "first-status-token\nsecond-status-token\n");
        const svc = await launchFakeService({ manifest: tempManifest(dir), store: path.join(dir, "service.db"), secret: SECRET, statusTokenFile: tokens });
        try {
            for (const token of ["second-status-token", svc.statusToken])
                expect((await request(svc, { url: "/tenants/abc", headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
            expect((await request(svc, { url: "/tenants/abc", headers: { authorization: "Bearer third" } })).statusCode).toBe(401);
        } finally {
            await svc.stop();
        }
    });

    it("refuses a second process on the same SQLite store (exit 1, naming the owner and the fix); once the owner stops, the store is free", async () => {
        const dir = tempDir();
        const manifest = tempManifest(dir);
        const store = path.join(dir, "service.db");
        const first = await launchFakeService({ manifest, store, secret: SECRET });
        let stopped = false;
        try {
            const r = await tenantctl(["serve", "--fake-deployer", "--port", "0", "--manifest", manifest, "--store", store], {
                WEBHOOK_SECRET: SECRET,
                STATUS_TOKENS: "t",
            });
            expect(r.code).toBe(1);
            expect(r.stdout).toBe("");
            expect(r.stderr).toBe(
                `tenantctl serve: the store ${store} is in use by process ${first.pid} on ${os.hostname()}: a SQLite store serves one service process. ` +
                    "Fix: stop that process, or give this replica a store of its own (--store); several replicas sharing jobs need a shared store.\n",
            );
            expect(await first.stop()).toBe(0);
            stopped = true;
            const second = await launchFakeService({ manifest, store, secret: SECRET });
            expect(await second.stop()).toBe(0);
        } finally {
            if (!stopped) await first.stop();
        }
    });

    it("--settings-file stack=file: the region's settings (here its shard count) come from that file, not the repository's", async () => {
        const dir = tempDir();
        const settings = path.join(dir, "Pulumi.local.yaml");
        fs.writeFileSync(settings, withShardCount(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.local.yaml"), "utf8"), 3));
        const journal = path.join(dir, "deploys.jsonl");
        const svc = await launchFakeService({
            manifest: tempManifest(dir),
            store: path.join(dir, "service.db"),
            secret: SECRET,
            delayMs: 10,
            journal,
            stacks: { "eu-west": "local" },
            settingsFiles: { local: settings },
        });
        try {
            // rpl02 is in shard 1 of 3 (lib/shards.ts's stable hash); the repository's Pulumi.local.yaml has no shards.
            expect((await post(svc, createdEvent("rpl02"))).statusCode).toBe(202);
            await waitFor(() => fs.existsSync(journal) && fs.readFileSync(journal, "utf8").includes('"done"'));
            const first = JSON.parse(fs.readFileSync(journal, "utf8").split("\n")[0]) as { stack: string; tenants: string[] };
            expect([first.stack, first.tenants]).toEqual(["local-s01", ["rpl02"]]);
        } finally {
            expect(await svc.stop()).toBe(0);
        }
    });

    it("refuses a --settings-file that does not exist: exit 1 naming the flag, the path and the fix", async () => {
        const r = await tenantctl(["serve", "--fake-deployer", "--port", "0", "--settings-file", "local=no/such/Pulumi.local.yaml"], {
            WEBHOOK_SECRET: SECRET,
            STATUS_TOKENS: "t",
        });
        expect(r.code).toBe(1);
        expect(r.stderr).toBe(
            `tenantctl serve: --settings-file local=no/such/Pulumi.local.yaml: no such file (${path.join(PROJECT_DIR, "no/such/Pulumi.local.yaml")}). ` +
                "Fix: pass the path of the stack's settings file.\n",
        );
    });

    it("takes the fake's options only with --fake-deployer: usage error 2", async () => {
        const r = await tenantctl(["serve", "--fake-delay-ms", "5", "--port", "0"], { WEBHOOK_SECRET: SECRET });
        expect(r.code).toBe(2);
        expect(r.stderr).toBe("tenantctl serve: --fake-delay-ms and --fake-journal need --fake-deployer\n");
    });
});
