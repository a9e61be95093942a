/** File reading for the commands: a failure names the path and the fix. */
import * as fs from "node:fs";
import { CliError } from "./errors";

/** Reads a manifest file, or fails naming the path and the fix. */
export function readManifestSource(file: string): string {
    try {
        return fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new CliError(`${file}: cannot read the manifest (${(err as NodeJS.ErrnoException).code}). Fix: check the path.`);
    }
}
