/**
 * The one reader of stack settings files (Pulumi.<stack>.yaml). Synth,
 * purge, the benches, the policy pack and the deployer all read a stack's
 * configuration through it. No Pulumi imports.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { parseShardStack } from "../lib/shards";
import { CONFIG_NAMESPACE, SECRET_KEYS, parseStackConfig, type StackConfig } from "../stacks/config";
import { listStacks, PROJECT_DIR } from "./project";

export class StackFileError extends Error {
    override readonly name = "StackFileError";
}

export interface StackFileOptions {
    /** The Pulumi project directory. Default: this repository. */
    readonly projectDir?: string;
    /** A settings file to read instead of `<projectDir>/Pulumi.<stack>.yaml`. */
    readonly configFile?: string;
}

/** The path of a stack's settings file. */
export function stackFilePath(stack: string, opts: StackFileOptions = {}): string {
    return opts.configFile ? path.resolve(opts.configFile) : path.join(opts.projectDir ?? PROJECT_DIR, `Pulumi.${stack}.yaml`);
}

/**
 * What a stack is to the project: a region stack (it has its own settings
 * file), or shard `index` of a region stack (`<region stack>-sNN`, whose
 * settings come from the region's file; README, "Region shards").
 */
export type StackRole =
    | { readonly kind: "region"; readonly stack: string }
    | { readonly kind: "shard"; readonly stack: string; readonly regionStack: string; readonly index: number };

/** The role of `stack`: a shard when its name is `<s>-sNN` and `<s>` has a settings file. */
export function stackRole(stack: string, opts: StackFileOptions = {}): StackRole {
    const shard = parseShardStack(stack);
    if (shard && !opts.configFile && fs.existsSync(stackFilePath(shard.regionStack, opts))) return { kind: "shard", stack, ...shard };
    return { kind: "region", stack };
}

/** The stack whose settings file describes `stack`: itself, or its region stack when it is a shard. */
export function settingsStack(stack: string, opts: StackFileOptions = {}): string {
    const role = stackRole(stack, opts);
    return role.kind === "shard" ? role.regionStack : stack;
}

/** One config entry of a stack file: its full key (`namespace:key`), and its value or that it is a `secure:` ciphertext. */
export interface StackFileEntry {
    readonly key: string;
    readonly value: unknown;
    readonly secure: boolean;
}

/** The config entries of a stack file, keys qualified with the project's namespace; undefined when the file does not exist. */
export function readStackFile(stack: string, opts: StackFileOptions = {}): StackFileEntry[] | undefined {
    const file = stackFilePath(stack, opts);
    if (!fs.existsSync(file)) return undefined;
    const doc = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    return Object.entries(doc.config ?? {}).map(([key, value]) => ({
        key: key.includes(":") ? key : `${CONFIG_NAMESPACE}:${key}`,
        value,
        secure: value !== null && typeof value === "object" && "secure" in value,
    }));
}

/** Like readStackFile, but a missing file is an error that lists the stacks there are. */
export function requireStackFile(stack: string, opts: StackFileOptions = {}): StackFileEntry[] {
    const entries = readStackFile(stack, opts);
    if (entries === undefined) {
        const file = stackFilePath(stack, opts);
        const dir = opts.projectDir ?? PROJECT_DIR;
        throw new StackFileError(`no stack file ${path.basename(file)} in ${path.dirname(file)}; stacks: ${listStacks(dir).join(", ") || "none"}`);
    }
    return entries;
}

/** The project's own (`tenant-platform:*`) values of a stack file, keys without the namespace; {} when there is no file. */
export function projectValues(stack: string, opts: StackFileOptions = {}): Record<string, unknown> {
    const prefix = `${CONFIG_NAMESPACE}:`;
    const out: Record<string, unknown> = {};
    for (const e of readStackFile(stack, opts) ?? []) {
        if (e.key.startsWith(prefix) && !e.secure) out[e.key.slice(prefix.length)] = e.value;
    }
    return out;
}

/** The stack's configuration (a shard's: its region's), parsed and checked with the program's own schema (secrets are not needed for it). */
export function loadStackConfig(stack: string, opts: StackFileOptions = {}): StackConfig {
    const source = settingsStack(stack, opts);
    requireStackFile(source, opts);
    return parseStackConfig(source, projectValues(source, opts));
}

/**
 * The stack's config in the Pulumi runtime's string form (objects as JSON),
 * for an offline evaluation. `secure:` values, and the secrets a machine sets
 * with `pulumi config set --secret`, become placeholders marked as secrets.
 */
export function runtimeConfig(stack: string, opts: StackFileOptions = {}): { config: Record<string, string>; secretKeys: string[] } {
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    const placeholder = (key: string) => `synth-placeholder-${key.slice(key.indexOf(":") + 1)}`;
    const role = stackRole(stack, opts);
    // A shard needs no file of its own: its settings are its region's (secrets are placeholders either way).
    const entries = role.kind === "shard" ? requireStackFile(role.regionStack, opts).filter((e) => !e.secure) : requireStackFile(stack, opts);
    for (const e of entries) {
        if (e.secure) {
            config[e.key] = placeholder(e.key);
            secretKeys.push(e.key);
        } else {
            config[e.key] = typeof e.value === "string" ? e.value : JSON.stringify(e.value);
        }
    }
    for (const key of Object.keys(SECRET_KEYS)) {
        const fullKey = `${CONFIG_NAMESPACE}:${key}`;
        if (!(fullKey in config)) {
            config[fullKey] = placeholder(fullKey);
            secretKeys.push(fullKey);
        }
    }
    return { config, secretKeys };
}
