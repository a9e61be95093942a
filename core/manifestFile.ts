/**
 * The manifest on disk: read, change and write it atomically (temp file in
 * the same directory, fsync, rename) under a lock. The lock is both
 * in-process (a mutex) and cross-process (`<file>.lock`), so a service
 * replica, a second service process and `tenantctl` never interleave their
 * writes. Every writer of the manifest goes through `withLock` and
 * re-reads the file inside it: a text read before taking the lock may be
 * stale by the time it is written.
 *
 * The lock is a directory, `<real path of the file>.lock`, holding
 * `owner.json` ({ pid, start, host, boot, token }). It is taken atomically
 * by renaming a prepared directory onto that name (a rename onto a
 * non-empty directory fails). A lock whose owner is dead is broken at once
 * instead of after a stale timeout: on the same host (and since the same
 * boot) the owner is dead when its pid is gone or now belongs to a process
 * started at another time (pid reuse). An owner on another host (a shared
 * volume) refreshes the file's mtime every `heartbeatMs`; its lock is
 * broken once the mtime is older than `staleMs`. A kill -9 therefore
 * delays the next writer by nothing on the same host, and by `staleMs` at
 * most elsewhere.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Change, ManifestRepo, PushResult } from "./manifestRepo";
import { Mutex } from "./mutex";

export interface LockOptions {
    /** An owner on another host whose heartbeat is older than this is dead, in ms. Default 10000. */
    readonly staleMs?: number;
    /** How often the owner refreshes its heartbeat, in ms. Default 2000. */
    readonly heartbeatMs?: number;
    /** How long to wait for a live owner before giving up (ELOCKED), in ms. Default 20000. */
    readonly waitMs?: number;
}

/** Who holds a lock: what `owner.json` says. */
export interface LockOwner {
    readonly pid: number;
    /** The process's start time (Linux: clock ticks after boot, /proc/<pid>/stat), null where unknown. */
    readonly start: string | null;
    readonly host: string;
    /** The kernel's boot id, null where unknown. */
    readonly boot: string | null;
    /** Unique per acquisition. */
    readonly token: string;
}

/** The manifest lock is held by a live owner for longer than the caller waits. */
export class ManifestLocked extends Error {
    readonly code = "ELOCKED";
    constructor(
        readonly file: string,
        readonly owner: LockOwner | undefined,
    ) {
        super(`the manifest ${file} is locked${owner ? ` by process ${owner.pid} on ${owner.host}` : ""}; try again later`);
        this.name = "ManifestLocked";
    }
}

function readText(file: string): string | undefined {
    try {
        return fs.readFileSync(file, "utf8").trim();
    } catch {
        return undefined;
    }
}

/** Fields 3 and on of a process's /proc stat line (the command name, field 2, is in parentheses and may hold spaces). */
function statFields(pid: number): string[] | undefined {
    const stat = readText(`/proc/${pid}/stat`);
    return stat === undefined ? undefined : stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** A process's start time from /proc (field 22 of its stat line), or null. */
export function processStart(pid: number): string | null {
    return statFields(pid)?.[19] ?? null;
}

const BOOT_ID = readText("/proc/sys/kernel/random/boot_id") ?? null;
let selfStart: string | null | undefined;

function me(): Omit<LockOwner, "token"> {
    selfStart ??= processStart(process.pid);
    return { pid: process.pid, start: selfStart, host: os.hostname(), boot: BOOT_ID };
}

/**
 * Whether the owner of a lock is certainly gone. Only decidable on the
 * owner's own host and boot: there its pid is gone, or is now another
 * process (another start time). Elsewhere: undefined (ask the heartbeat).
 */
export function ownerIsDead(owner: LockOwner): boolean | undefined {
    const here = me();
    if (owner.host !== here.host) return undefined;
    if (owner.boot !== null && here.boot !== null && owner.boot !== here.boot) return true;
    try {
        process.kill(owner.pid, 0);
    } catch (err) {
        // EPERM: the pid exists, owned by someone else.
        if ((err as NodeJS.ErrnoException).code === "ESRCH") return true;
    }
    const fields = statFields(owner.pid);
    // A zombie (killed, not yet reaped by its parent) holds nothing.
    if (fields?.[0] === "Z" || fields?.[0] === "X") return true;
    if (owner.start !== null && fields?.[19] !== undefined && fields[19] !== owner.start) return true;
    return false;
}

const OWNER_FILE = "owner.json";

function readOwner(lockDir: string): LockOwner | undefined {
    const text = readText(path.join(lockDir, OWNER_FILE));
    if (text === undefined) return undefined;
    try {
        const o = JSON.parse(text) as Partial<LockOwner>;
        if (typeof o.pid === "number" && typeof o.host === "string" && typeof o.token === "string") {
            return {
                pid: o.pid,
                host: o.host,
                token: o.token,
                start: typeof o.start === "string" ? o.start : null,
                boot: typeof o.boot === "string" ? o.boot : null,
            };
        }
    } catch {
        // A torn or foreign file: judged by its age below.
    }
    return undefined;
}

function ageMs(p: string): number | undefined {
    try {
        return Date.now() - fs.statSync(p).mtimeMs;
    } catch {
        return undefined;
    }
}

/** Locks held by this process, released if it exits normally (a kill -9 leaves them to the owner check). */
const held = new Set<{ release(): void }>();
process.once("exit", () => {
    for (const h of held) h.release();
});

/** The cross-process lock of one file. */
export class FileLock {
    readonly lockDir: string;
    private readonly staleMs: number;
    private readonly heartbeatMs: number;
    private readonly waitMs: number;

    constructor(target: string, opts: LockOptions = {}) {
        this.lockDir = `${target}.lock`;
        this.staleMs = opts.staleMs ?? 10_000;
        this.heartbeatMs = opts.heartbeatMs ?? 2_000;
        this.waitMs = opts.waitMs ?? 20_000;
    }

    /** A hidden name next to the lock (same directory, so a rename is atomic): `.<file>.lock.<what>-`. */
    private sibling(what: string): string {
        return path.join(path.dirname(this.lockDir), `.${path.basename(this.lockDir)}.${what}-`);
    }

    /** Takes the lock, waiting for a live owner up to waitMs; resolves with the release function. */
    async acquire(): Promise<() => void> {
        const deadline = Date.now() + this.waitMs;
        let delay = 10;
        for (;;) {
            const release = this.tryTake();
            if (release) return release;
            const owner = readOwner(this.lockDir);
            if (this.isAbandoned(owner)) {
                this.breakLock(owner);
                continue;
            }
            if (Date.now() >= deadline) throw new ManifestLocked(this.lockDir, owner);
            await new Promise((resolve) => setTimeout(resolve, delay));
            delay = Math.min(delay * 2, 200);
        }
    }

    /** The lock's owner is dead, or (elsewhere, or unreadable) silent for longer than staleMs. */
    private isAbandoned(owner: LockOwner | undefined): boolean {
        const dead = owner ? ownerIsDead(owner) : undefined;
        if (dead !== undefined) return dead;
        // Another host, or no readable owner file (a lock being taken or released right now, or an older lock format): its age decides.
        const age = ageMs(owner ? path.join(this.lockDir, OWNER_FILE) : this.lockDir);
        return age !== undefined && age > this.staleMs;
    }

    /** One attempt: prepare a directory with our owner file, rename it onto the lock's name. */
    private tryTake(): (() => void) | undefined {
        const token = randomBytes(16).toString("hex");
        const tmp = fs.mkdtempSync(this.sibling("new"));
        try {
            fs.writeFileSync(path.join(tmp, OWNER_FILE), JSON.stringify({ ...me(), token }));
            fs.renameSync(tmp, this.lockDir);
        } catch (err) {
            fs.rmSync(tmp, { recursive: true, force: true });
            const code = (err as NodeJS.ErrnoException).code;
            if (code === "ENOTEMPTY" || code === "EEXIST" || code === "EISDIR" || code === "ENOTDIR") return undefined;
            throw err;
        }
        return this.holding(token);
    }

    /** The release of a lock we hold with `token`; a heartbeat keeps it fresh for other hosts meanwhile. */
    private holding(token: string): () => void {
        const ownerFile = path.join(this.lockDir, OWNER_FILE);
        const heartbeat = setInterval(() => {
            try {
                const now = new Date();
                fs.utimesSync(ownerFile, now, now);
            } catch {
                // The lock was broken (this process was judged dead): the release below finds out.
            }
        }, this.heartbeatMs);
        heartbeat.unref();
        let released = false;
        const handle = {
            release: () => {
                if (released) return;
                released = true;
                clearInterval(heartbeat);
                held.delete(handle);
                // Only our own lock is removed, never one another writer took after breaking ours.
                if (readOwner(this.lockDir)?.token === token) fs.rmSync(this.lockDir, { recursive: true, force: true });
            },
        };
        held.add(handle);
        return handle.release;
    }

    /**
     * Removes an abandoned lock. It is first renamed aside, so two writers
     * breaking it at once remove it once; if what was renamed is not the
     * lock judged abandoned (a live writer took the name in between), it is
     * put back.
     */
    private breakLock(judged: LockOwner | undefined): void {
        const aside = `${this.sibling("stale")}${randomBytes(6).toString("hex")}`;
        try {
            fs.renameSync(this.lockDir, aside);
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
            throw err;
        }
        const moved = readOwner(aside);
        if (moved?.token !== judged?.token) {
            try {
                fs.renameSync(aside, this.lockDir);
                return;
            } catch {
                // The name was taken again meanwhile: the live lock is that one; this one is dropped.
            }
        }
        fs.rmSync(aside, { recursive: true, force: true });
    }
}

export interface ManifestFileOptions extends LockOptions {
    /** The git repository the file is committed and pushed to (core/manifestRepo.ts); unset: the file alone. */
    readonly repo?: ManifestRepo;
}

export class ManifestFile {
    private readonly mutex = new Mutex();
    private readonly lock: FileLock;
    readonly repo: ManifestRepo | undefined;

    /** The lock file is keyed on the real path, resolved once. */
    constructor(
        readonly file: string,
        opts: ManifestFileOptions = {},
    ) {
        this.lock = new FileLock(fs.realpathSync(file), opts);
        this.repo = opts.repo;
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
     * cross-process lock. Callers read, change and write the file inside.
     * Rejects with ManifestLocked when a live owner holds it past waitMs.
     */
    async withLock<R>(fn: () => Promise<R> | R): Promise<R> {
        return this.mutex.run(async () => {
            const release = await this.lock.acquire();
            try {
                return await fn();
            } finally {
                release();
            }
        });
    }

    /**
     * The one commit path of every writer; only while holding the lock.
     * Without a repository: reads the file, computes the change, writes it
     * (when it differs). With one: the change is computed on the remote
     * tip's text, committed and pushed, and computed again on the new tip
     * when the push is refused as not fast-forward (ManifestRepo.change);
     * it counts as done only once pushed.
     */
    async transact<T>(compute: (current: string, attempt: number) => Promise<Change<T>> | Change<T>): Promise<PushResult<T>> {
        if (this.repo) return this.repo.change(compute);
        // Asynchronous I/O: the service's event loop keeps answering while a large manifest is read, written and synced.
        const current = await fs.promises.readFile(this.file, "utf8");
        const c = await compute(current, 1);
        if (c.text !== current) await writeAtomicAsync(this.file, c.text);
        for (const [file, text] of await changedCompanions(path.dirname(this.file), c.companions)) await writeAtomicAsync(file, text);
        return { result: c.result, attempts: 1, gitMs: 0 };
    }

    /**
     * Changes the file under the lock: `change` gets the current text, read
     * under the lock (with a repository: at the remote tip, again on each
     * retry), and returns the new text (or the same text: nothing is
     * written). The one read-modify-write of every writer but the service's
     * group commit, which takes the lock and calls `transact` itself.
     */
    async update(
        change: (current: string) => string | Promise<string>,
        message = "tenants.yaml: change by tenantctl",
    ): Promise<{ readonly before: string; readonly after: string; readonly commit?: string }> {
        return this.withLock(async () => {
            const out = await this.transact(async (before) => {
                const after = await change(before);
                return { text: after, message, result: { before, after } };
            });
            return { ...out.result, commit: out.commit };
        });
    }
}

/** The companion files of a change whose text differs from what `dir` holds now: [absolute path, text]. */
export async function changedCompanions(dir: string, companions: Readonly<Record<string, string>> | undefined): Promise<[string, string][]> {
    const out: [string, string][] = [];
    for (const [name, text] of Object.entries(companions ?? {})) {
        if (name !== path.basename(name) || name === "." || name === "..")
            throw new Error(`companion file ${JSON.stringify(name)} must be a plain file name beside the manifest`);
        const file = path.join(dir, name);
        const old = await fs.promises.readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
            if (err.code === "ENOENT") return undefined;
            throw err;
        });
        if (old !== text) out.push([file, text]);
    }
    return out;
}

/** writeAtomic on the libuv thread pool (the caller's event loop is not blocked by the write and the fsync). */
export async function writeAtomicAsync(file: string, content: string): Promise<void> {
    const dir = path.dirname(file);
    const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
    const fh = await fs.promises.open(tmp, "w", 0o644);
    try {
        await fh.writeFile(content);
        await fh.sync();
    } finally {
        await fh.close();
    }
    try {
        await fs.promises.rename(tmp, file);
    } catch (err) {
        await fs.promises.rm(tmp, { recursive: true, force: true });
        throw err;
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
        fs.rmSync(tmp, { recursive: true, force: true });
        throw err;
    }
}
