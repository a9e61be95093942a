/**
 * The manifest's git repository: every change a writer makes to tenants.yaml
 * (the billing service's batches, `tenantctl purge`) is committed and pushed
 * to one remote branch, the branch the deploy workflow deploys, so git is
 * the one source of truth.
 *
 * The writer works in a clone of its own (the manifest file lives in its
 * work tree). A change is committed on top of the last remote tip this clone
 * knows (the remote-tracking ref), then pushed. A push refused as not
 * fast-forward (someone else pushed first) is followed by a fetch and the
 * change is computed again on the new tip (the caller's function runs again
 * on the new text: its events re-applied and re-validated), up to
 * `maxAttempts`. Nothing unpushed survives a failure: the work tree is reset
 * to the remote tip before every attempt, so a refused or failed change
 * leaves no local commit that a later push could carry.
 *
 * Uses the `git` command (2.30 or later); credentials are git's own (a
 * deploy key through GIT_SSH_COMMAND or an ssh config, a credential helper).
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { StackConfig } from "../stacks/config";
import { changedCompanions, writeAtomicAsync } from "./manifestFile";
import { PROJECT_DIR } from "./project";
import { loadStackConfig, type StackFileOptions } from "./stackFile";

export interface ManifestRepoOptions {
    /** The remote to push to. Default "origin". */
    readonly remote?: string;
    /** The branch the deploy workflow deploys. Default "main". */
    readonly branch?: string;
    /** Commit author, "Name <email>". Default: DEFAULT_AUTHOR. */
    readonly author?: string;
    /** Attempts of one change (push refused as not fast-forward, then fetch and recompute). Default 5. */
    readonly maxAttempts?: number;
    /** Extra environment of the git commands (GIT_SSH_COMMAND for a deploy key). */
    readonly env?: Readonly<Record<string, string>>;
}

export const DEFAULT_AUTHOR = "Collect & Verything billing service <billing-service@collectverything.invalid>";

/** A git command failed for another reason than a refused fast-forward (no remote, no access, a protected branch, a hook). */
export class GitError extends Error {
    override readonly name = "GitError";
    constructor(
        readonly args: readonly string[],
        readonly output: string,
    ) {
        super(`git ${args.join(" ")} failed: ${output.trim().split("\n").slice(-3).join(" | ")}`);
    }
}

/** Every attempt of a change was refused as not fast-forward: others kept pushing first. */
export class PushRaceLost extends Error {
    override readonly name = "PushRaceLost";
    constructor(
        readonly attempts: number,
        readonly branch: string,
    ) {
        super(
            `the push to ${branch} was refused as not fast-forward ${attempts} times in a row (others pushed first each time); nothing was pushed, try again`,
        );
    }
}

/** What one `change` did: its commit (undefined when the text did not change), the attempts, the git time. */
export interface PushResult<T> {
    readonly result: T;
    readonly commit?: string;
    readonly attempts: number;
    /** Time spent in git commit and push (and fetch, on a retry), ms. */
    readonly gitMs: number;
}

/** The text a writer wants the manifest to hold, computed from its current text, and the commit message. */
export interface Change<T> {
    readonly text: string;
    readonly message: string;
    readonly result: T;
    /**
     * Files beside the manifest, by name (no directory), with the full text
     * each must hold, committed and pushed in the same commit as the manifest
     * (the purge's audit log, `tenants.audit.jsonl`). Computed, like `text`,
     * from what the tip holds: read them inside `compute`.
     */
    readonly companions?: Readonly<Record<string, string>>;
}

function parseAuthor(author: string): { name: string; email: string } {
    const m = /^(.*?)\s*<([^>]+)>$/.exec(author.trim());
    if (!m) throw new Error(`git author "${author}" is not "Name <email>"; fix --git-author`);
    return { name: m[1] || m[2], email: m[2] };
}

export class ManifestRepo {
    readonly remote: string;
    readonly branch: string;
    readonly maxAttempts: number;
    private readonly author: { name: string; email: string };
    private readonly env: NodeJS.ProcessEnv;

    /** `root`: the clone's top directory; `file`: the manifest's path inside it (relative). */
    private constructor(
        readonly root: string,
        readonly file: string,
        opts: ManifestRepoOptions,
    ) {
        this.remote = opts.remote ?? "origin";
        this.branch = opts.branch ?? "main";
        this.maxAttempts = opts.maxAttempts ?? 5;
        this.author = parseAuthor(opts.author ?? DEFAULT_AUTHOR);
        this.env = { ...process.env, ...opts.env, GIT_TERMINAL_PROMPT: "0" };
    }

    /** The repository the manifest file sits in; throws GitError when it is not in a git work tree or the remote is unknown. */
    static async open(manifestPath: string, opts: ManifestRepoOptions = {}): Promise<ManifestRepo> {
        const real = fs.realpathSync(manifestPath);
        const top = (await run(path.dirname(real), ["rev-parse", "--show-toplevel"], process.env)).trim();
        const repo = new ManifestRepo(top, path.relative(top, real), opts);
        await repo.git(["remote", "get-url", repo.remote]);
        // Every change is built on the remote tip (the work tree is reset to it): a clone with other local work is not one to write through.
        const dirty = (await repo.git(["status", "--porcelain", "--untracked-files=no"]))
            .split("\n")
            .filter((line) => line.trim() !== "" && line.slice(3) !== repo.file);
        if (dirty.length > 0)
            throw new GitError(
                ["status"],
                `the clone ${top} has local changes (${dirty.map((l) => l.slice(3)).join(", ")}); writers of the manifest push from a clean clone of its own, since every change is built on the remote tip`,
            );
        return repo;
    }

    /** The git command in the clone. */
    async git(args: readonly string[]): Promise<string> {
        return run(this.root, args, this.env);
    }

    private get tracking(): string {
        return `refs/remotes/${this.remote}/${this.branch}`;
    }

    /** Fetches the branch and puts the work tree on its tip (anything local and unpushed is dropped). */
    async sync(): Promise<string> {
        await this.git(["fetch", "--quiet", this.remote, `+refs/heads/${this.branch}:${this.tracking}`]);
        return this.resetToTracking();
    }

    private async resetToTracking(): Promise<string> {
        await this.git(["checkout", "--quiet", "--force", "-B", this.branch, this.tracking]);
        await this.git(["reset", "--quiet", "--hard", this.tracking]);
        return (await this.git(["rev-parse", "HEAD"])).trim();
    }

    private lastProbe: { at: number; result: { ok: boolean; detail: string } } | undefined;

    /** Whether the remote branch answers (git ls-remote), probed at most every 10 s (readiness). */
    async reachable(): Promise<{ ok: boolean; detail: string }> {
        if (this.lastProbe && Date.now() - this.lastProbe.at < 10_000) return this.lastProbe.result;
        let result: { ok: boolean; detail: string };
        try {
            const line = (await this.git(["ls-remote", "--exit-code", this.remote, `refs/heads/${this.branch}`])).trim();
            result = { ok: true, detail: `${this.remote}/${this.branch} at ${line.slice(0, 12)}` };
        } catch (err) {
            result = {
                ok: false,
                detail: `${this.remote}/${this.branch} does not answer: ${err instanceof Error ? err.message : String(err)}; check the deploy key and the remote URL`,
            };
        }
        this.lastProbe = { at: Date.now(), result };
        return result;
    }

    /** The commit the remote branch is at, as this clone last saw it. */
    async tip(): Promise<string> {
        return (await this.git(["rev-parse", this.tracking])).trim();
    }

    /**
     * Computes a change on the manifest's text at the remote tip, commits and
     * pushes it; on a push refused as not fast-forward, fetches and computes
     * it again on the new tip. The caller holds the manifest lock. `compute`
     * may throw (nothing is committed then) and runs once per attempt.
     */
    async change<T>(compute: (current: string, attempt: number) => Promise<Change<T>> | Change<T>): Promise<PushResult<T>> {
        const abs = path.join(this.root, this.file);
        let gitMs = 0;
        for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
            let t0 = performance.now();
            // Nothing unpushed is built on: the last known remote tip (a fetch on retries).
            if (attempt > 1) await this.sync();
            else await this.resetToTracking();
            gitMs += performance.now() - t0;
            const current = await fs.promises.readFile(abs, "utf8");
            const c = await compute(current, attempt);
            const companions = await changedCompanions(path.dirname(abs), c.companions);
            if (c.text === current && companions.length === 0) return { result: c.result, attempts: attempt, gitMs };
            t0 = performance.now();
            await writeAtomicAsync(abs, c.text);
            for (const [file, text] of companions) await writeAtomicAsync(file, text);
            const files = [this.file, ...companions.map(([file]) => path.relative(this.root, file))];
            await this.git(["add", "--", ...files]);
            await this.git([
                "-c",
                `user.name=${this.author.name}`,
                "-c",
                `user.email=${this.author.email}`,
                "commit",
                "--quiet",
                "--no-verify",
                "-m",
                c.message,
                "--",
                ...files,
            ]);
            const commit = (await this.git(["rev-parse", "HEAD"])).trim();
            const pushed = await this.push();
            gitMs += performance.now() - t0;
            if (pushed) return { result: c.result, commit, attempts: attempt, gitMs };
        }
        await this.sync().catch(() => undefined);
        throw new PushRaceLost(this.maxAttempts, this.branch);
    }

    /** Pushes HEAD to the branch: true when pushed, false when another writer pushed first; GitError otherwise (the work tree is reset). */
    private async push(): Promise<boolean> {
        try {
            await this.git(["push", "--porcelain", this.remote, `HEAD:refs/heads/${this.branch}`]);
            await this.git(["update-ref", this.tracking, "HEAD"]);
            return true;
        } catch (err) {
            // Refused as not fast-forward, or lost the remote's ref lock to a push at the same instant: another writer was first.
            if (err instanceof GitError && /\[rejected\]|non-fast-forward|fetch first|cannot lock ref|failed to lock/.test(err.output)) return false;
            await this.resetToTracking().catch(() => undefined);
            throw err;
        }
    }
}

function run(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile("git", [...args], { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
            if (err) reject(new GitError(args, `${stdout}\n${stderr}`));
            else resolve(stdout);
        });
    });
}

/**
 * The git settings every writer of the manifest shares, from the environment:
 * TENANTCTL_GIT_REMOTE (turns git on), TENANTCTL_GIT_BRANCH (default main),
 * TENANTCTL_GIT_AUTHOR ("Name <email>"). Undefined when no remote is set.
 */
export function gitOptionsFromEnv(env: NodeJS.ProcessEnv): ManifestRepoOptions | undefined {
    const remote = env.TENANTCTL_GIT_REMOTE;
    if (!remote) return undefined;
    return { remote, branch: env.TENANTCTL_GIT_BRANCH || undefined, author: env.TENANTCTL_GIT_AUTHOR || undefined };
}

/** One line per event for a commit message: subject with the count, then `<type> <tenant> <event id>` lines. */
export function commitMessage(writer: string, events: readonly { id: string; type: string; tenantId: string }[]): string {
    const subject =
        events.length === 1
            ? `${writer}: ${events[0].type} ${events[0].tenantId} (${events[0].id})`
            : `${writer}: ${events.length} events (${[...new Set(events.map((e) => e.type))].join(", ")})`;
    return [subject, "", ...events.map((e) => `Event: ${e.id} ${e.type} ${e.tenantId}`)].join("\n");
}

/** A stack's settings and its manifest as a CLI writer of the manifest (purge, rotate) starts from. */
export interface StackManifest {
    readonly config: StackConfig;
    readonly manifestPath: string;
    /** The manifest's git clone, when git is configured. */
    readonly repo?: ManifestRepo;
    /** The manifest's text, at the remote tip when git is configured. */
    readonly source: string;
}

/**
 * Opens a stack's manifest for a writer that plans on it and writes later
 * under the lock: the stack's settings, the manifest's path, its git clone
 * (`git`, else the TENANTCTL_GIT_* variables; none: the plain file) synced to
 * the remote tip, and the text read there.
 */
export async function openStackManifest(stack: string, opts: StackFileOptions & { readonly git?: ManifestRepoOptions }): Promise<StackManifest> {
    const projectDir = opts.projectDir ?? PROJECT_DIR;
    const config = loadStackConfig(stack, { projectDir, configFile: opts.configFile });
    const manifestPath = path.resolve(projectDir, config.manifest);
    const git = opts.git ?? gitOptionsFromEnv(process.env);
    const repo = git ? await ManifestRepo.open(manifestPath, git) : undefined;
    if (repo) await repo.sync();
    return { config, manifestPath, repo, source: fs.readFileSync(manifestPath, "utf8") };
}
