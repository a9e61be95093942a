/**
 * The stack the pack is checking: its region and its manifest. Read from the
 * pack's config when given, else from the stack's own config file
 * (Pulumi.<stack>.yaml next to Pulumi.yaml), else from the stack's name when
 * it is a region. No Pulumi imports: tested with plain tables.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { projectValues, settingsStack } from "../core/stackFile";
import { validateManifest } from "../lib/manifest";
import { isRegion } from "../lib/regions";
import type { RuleContext } from "./model";

/** The pack's own config (`--policy-pack-config`), under the residency policy. */
export interface PackConfig {
    /** The stack's region; overrides the stack's config. */
    readonly region?: string;
    /** Path of the manifest to check against; overrides the stack's `tenant-platform:manifest`. */
    readonly manifest?: string;
    /** The Pulumi project directory. Default: the pack's parent directory. */
    readonly projectDir?: string;
}

/** Region of every tenant in a manifest file; undefined when it cannot be read or is invalid. */
export function manifestRegions(file: string): Map<string, string> | undefined {
    let source: string;
    try {
        source = fs.readFileSync(file, "utf8");
    } catch {
        return undefined;
    }
    const result = validateManifest(source, file);
    if (!result.ok) return undefined;
    return new Map(result.manifest.tenants.map((t) => [t.id, t.region]));
}

/** Resolves the rule context for `stack`. */
export function resolveContext(stack: string | undefined, pack: PackConfig, defaultProjectDir: string): RuleContext {
    const projectDir = pack.projectDir ?? defaultProjectDir;
    // A shard stack (<region stack>-sNN) is described by its region's settings file (README, "Region shards").
    const fileConfig = stack !== undefined ? projectValues(settingsStack(stack, { projectDir }), { projectDir }) : {};
    const configured = typeof fileConfig.region === "string" ? fileConfig.region : undefined;
    const region = pack.region ?? configured ?? (isRegion(stack) ? stack : undefined);
    const manifestSetting = pack.manifest ?? (typeof fileConfig.manifest === "string" ? fileConfig.manifest : "tenants.yaml");
    const manifestFile = path.resolve(projectDir, manifestSetting);
    return { region, manifestRegions: manifestRegions(manifestFile), manifestFile };
}
