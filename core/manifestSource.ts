/** Reading the manifest file (lib/manifest.ts validates its text). */
import * as fs from "node:fs";
import { ManifestError, validateManifest, type Manifest, type ValidateOptions } from "../lib/manifest";

/** Reads and validates a manifest file; throws a ManifestError listing every problem. */
export function loadManifest(file: string, options: ValidateOptions = {}): Manifest {
    let source: string;
    try {
        source = fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new ManifestError([
            {
                file,
                problem: `cannot read the manifest: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
                allowed: "a readable YAML file",
                fix: "check the path (the stack's `manifest` setting or --manifest)",
            },
        ]);
    }
    const result = validateManifest(source, file, options);
    if (!result.ok) throw new ManifestError(result.issues);
    return result.manifest;
}
