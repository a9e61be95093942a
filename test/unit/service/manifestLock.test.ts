/**
 * The manifest lock (core/manifestFile.ts) the service, purge and every
 * writer share: a lock whose owner died (kill -9) is broken at once
 * (issue 10, 4.6), a live owner is waited for, an owner on another host is
 * judged by its heartbeat.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { ManifestFile, ManifestLocked, processStart } from "../../../core/manifestFile";
import { PROJECT_DIR } from "../../../core/project";
import { tempDir, tempManifest } from "../../support/service";

jest.setTimeout(60_000);

/** A process of its own that takes the manifest lock with the real ManifestFile and keeps it until killed. */
async function holder(manifest: string): Promise<{ pid: number; kill: () => Promise<void> }> {
    const dir = tempDir("cv-lock-holder-");
    const script = path.join(dir, "hold.mts");
    fs.writeFileSync(
        script,
        [
            `import { ManifestFile } from ${JSON.stringify(path.join(PROJECT_DIR, "core", "manifestFile.ts"))};`,
            "const file = new ManifestFile(process.argv[2]);",
            // The interval keeps the process alive (a bare pending promise would let it exit, releasing the lock).
            'await file.withLock(async () => { process.stdout.write("locked\\n"); await new Promise(() => setInterval(() => undefined, 60_000)); });',
        ].join("\n"),
    );
    const child = spawn(process.execPath, ["--import", "tsx", script, manifest], { cwd: PROJECT_DIR, stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout }).on("line", (line) => line === "locked" && resolve());
        void exited.then(() => reject(new Error("the lock holder exited before taking the lock")));
    });
    return {
        pid: child.pid!,
        kill: async () => {
            child.kill("SIGKILL");
            await exited;
        },
    };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
    const t0 = performance.now();
    const value = await fn();
    return { ms: performance.now() - t0, value };
}

const lockDirOf = (manifest: string) => `${fs.realpathSync(manifest)}.lock`;

describe("the manifest lock", () => {
    it("left by a process killed with -9 is broken at once: the next writer does not wait for a stale timeout", async () => {
        const manifest = tempManifest();
        const h = await holder(manifest);
        expect(fs.existsSync(lockDirOf(manifest))).toBe(true);
        await h.kill();
        // The dead owner's lock is still there.
        expect(fs.existsSync(lockDirOf(manifest))).toBe(true);
        const { ms, value } = await timed(() => new ManifestFile(manifest).withLock(() => "got it"));
        expect(value).toBe("got it");
        expect(ms).toBeLessThan(1000);
        expect(fs.existsSync(lockDirOf(manifest))).toBe(false);
    });

    it("held by a live process is waited for, and not broken", async () => {
        const manifest = tempManifest();
        const h = await holder(manifest);
        try {
            const err = await new ManifestFile(manifest, { waitMs: 300 }).withLock(() => "never").catch((e: unknown) => e);
            expect(err).toBeInstanceOf(ManifestLocked);
            expect((err as ManifestLocked).owner).toMatchObject({ pid: h.pid, host: os.hostname() });
            expect(fs.existsSync(lockDirOf(manifest))).toBe(true);
        } finally {
            await h.kill();
        }
    });

    /** A lock as another process would leave it: its owner file, with the given mtime. */
    function fakeLock(manifest: string, owner: Record<string, unknown>, ageMs: number) {
        const dir = lockDirOf(manifest);
        fs.mkdirSync(dir);
        const file = path.join(dir, "owner.json");
        fs.writeFileSync(file, JSON.stringify(owner));
        const at = new Date(Date.now() - ageMs);
        fs.utimesSync(file, at, at);
        fs.utimesSync(dir, at, at);
    }

    it("of a live pid that now belongs to another process (pid reuse: another start time) is broken", async () => {
        const manifest = tempManifest();
        expect(processStart(process.pid)).toMatch(/^\d+$/);
        fakeLock(manifest, { pid: process.pid, start: "1", host: os.hostname(), boot: null, token: "reused" }, 0);
        const { ms } = await timed(() => new ManifestFile(manifest).withLock(() => undefined));
        expect(ms).toBeLessThan(1000);
    });

    it("of another host is judged by its heartbeat: kept while fresh, broken once older than staleMs", async () => {
        const fresh = tempManifest();
        fakeLock(fresh, { pid: 1, start: "5", host: "another-host", boot: null, token: "fresh" }, 0);
        await expect(new ManifestFile(fresh, { waitMs: 300, staleMs: 10_000 }).withLock(() => undefined)).rejects.toBeInstanceOf(ManifestLocked);
        const stale = tempManifest();
        fakeLock(stale, { pid: 1, start: "5", host: "another-host", boot: null, token: "stale" }, 60_000);
        await expect(new ManifestFile(stale, { waitMs: 300, staleMs: 10_000 }).withLock(() => "taken")).resolves.toBe("taken");
    });

    it("of the older format (an empty directory, proper-lockfile's) is broken once stale", async () => {
        const manifest = tempManifest();
        const dir = lockDirOf(manifest);
        fs.mkdirSync(dir);
        const old = new Date(Date.now() - 60_000);
        fs.utimesSync(dir, old, old);
        await expect(new ManifestFile(manifest, { waitMs: 300, staleMs: 10_000 }).withLock(() => "taken")).resolves.toBe("taken");
    });

    it("serializes two writers of one file in one process, each re-reading under the lock", async () => {
        const manifest = tempManifest();
        const a = new ManifestFile(manifest);
        const b = new ManifestFile(manifest);
        await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).update((text) => `${text}# writer ${i}\n`)));
        const text = fs.readFileSync(manifest, "utf8");
        for (let i = 0; i < 10; i++) expect(text).toContain(`# writer ${i}\n`);
        expect(fs.readdirSync(path.dirname(manifest)).filter((f) => f.includes(".lock"))).toEqual([]);
    });
});
