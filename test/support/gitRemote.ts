/**
 * A local bare git repository as the manifest's remote (the service's
 * `--git-remote`), seeded with one tenants.yaml on `main`, and clones of it
 * for the service replicas: the real `git` command, nothing installed.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** Runs git in `cwd` (never prompting); its stdout. */
export function git(cwd: string, ...args: string[]): string {
    return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } });
}

/** `<dir>/remote.git` with one commit on main holding `manifestText` as tenants.yaml; its path. */
export function seededRemote(dir: string, manifestText: string): string {
    const remote = path.join(dir, "remote.git");
    git(dir, "init", "--quiet", "--bare", "-b", "main", remote);
    const seed = path.join(dir, "seed");
    git(dir, "clone", "--quiet", remote, seed);
    fs.writeFileSync(path.join(seed, "tenants.yaml"), manifestText);
    git(seed, "add", "tenants.yaml");
    git(seed, "-c", "user.name=Seed", "-c", "user.email=seed@example.com", "commit", "--quiet", "-m", "seed");
    git(seed, "push", "--quiet", "origin", "HEAD:main");
    return remote;
}

/** A clone of `remote`'s main at `<dir>/<name>`, committing as `author` ("Name <email>"); its path. */
export function cloneOf(remote: string, dir: string, name: string, author: { name: string; email: string }): string {
    const p = path.join(dir, name);
    git(dir, "clone", "--quiet", "-b", "main", remote, p);
    git(p, "config", "user.name", author.name);
    git(p, "config", "user.email", author.email);
    return p;
}
