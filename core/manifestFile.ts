/**
 * The manifest on disk: read, change and write it atomically (temp file in
 * the same directory, fsync, rename) under a lock. The lock is both
 * in-process (a mutex) and cross-process (proper-lockfile's `<file>.lock`),
 * so a service replica, a second service process and `tenantctl` never
 * interleave their writes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as lockfile from "proper-lockfile";
import { Mutex } from "./mutex";

export class ManifestFile {
    private readonly mutex = new Mutex();
    /** The lock file is keyed on the real path, resolved once. */
    private readonly lockTarget: string;

    constructor(readonly file: string) {
        this.lockTarget = fs.realpathSync(file);
    }

    read(): string {
        return fs.readFileSync(this.file, "utf8");
    }

    /** Writes the whole file atomically; only while holding the lock (withLock). */
    write(content: string): void {
        writeAtomic(this.file, content);
    }

    /**
     * Runs `fn` while holding the lock: the in-process mutex, then the
     * cross-process lock file. Callers read, change and write the file inside.
     */
    async withLock<R>(fn: () => Promise<R> | R): Promise<R> {
        return this.mutex.run(async () => {
            const release = await lockfile.lock(this.lockTarget, {
                retries: { retries: 100, minTimeout: 10, maxTimeout: 200 },
                stale: 15_000,
                realpath: false,
            });
            try {
                return await fn();
            } finally {
                await release();
            }
        });
    }
}

/** Writes `content` to `file` so that readers see either the old or the new file, never a partial one. */
export function writeAtomic(file: string, content: string): void {
    const dir = path.dirname(file);
    const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
    const fd = fs.openSync(tmp, "w", 0o644);
    try {
        fs.writeFileSync(fd, content);
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
    try {
        fs.renameSync(tmp, file);
    } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw err;
    }
}
