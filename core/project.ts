/**
 * The Pulumi project this repository is: its directory (the program every
 * command, the service and the tests drive with LocalWorkspace, never an
 * inline copy), its name and the stacks it has files for.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CONFIG_NAMESPACE } from "../stacks/config";

/** The project directory: holds Pulumi.yaml, index.ts and the Pulumi.<stack>.yaml files. */
export const PROJECT_DIR = path.resolve(__dirname, "..");

/** The project's name, as Pulumi.yaml states it; the config namespace of its keys. */
export const PROJECT_NAME = CONFIG_NAMESPACE;

/** The stacks that have a settings file in `projectDir`, sorted. */
export function listStacks(projectDir = PROJECT_DIR): string[] {
    return fs
        .readdirSync(projectDir)
        .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}
