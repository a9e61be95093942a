/**
 * `tenantctl bench`: evaluates the real program under the synth recorder for
 * N synthetic tenants in one region, each size in a fresh process so peak
 * RSS is that size's own. Prints CSV: tenants,resources,seconds,peak_rss_mb.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stringify } from "yaml";
import { loadStackConfig } from "../core/stackFile";
import { synthFigures } from "../core/synthProcess";
import { syntheticManifest } from "./syntheticManifest";

export async function runBench(counts: readonly number[], stack: string, write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<void> {
    const region = loadStackConfig(stack).region;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tenantctl-bench-"));
    write("tenants,resources,seconds,peak_rss_mb");
    try {
        for (const count of counts) {
            const manifest = path.join(dir, `tenants-${count}.yaml`);
            fs.writeFileSync(manifest, stringify(syntheticManifest(count, region)));
            const r = await synthFigures({ stack, manifest, out: path.join(dir, `result-${count}.json`) });
            write(`${count},${r.resources},${r.seconds.toFixed(2)},${Math.round(r.peakRssMb)}`);
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
