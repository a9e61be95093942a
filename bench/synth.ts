/**
 * `tenantctl bench`: evaluates the real program under the synth recorder for
 * N synthetic tenants in one region, each size in a fresh process so peak
 * RSS is that size's own. Prints CSV: tenants,resources,seconds,peak_rss_mb.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stringify } from "yaml";
import type { TenantSpec } from "../lib/manifest";
import type { Region } from "../lib/regions";
import { loadStackConfig } from "../core/stackFile";
import { TIERS } from "../lib/tiers";

/** A valid manifest of `count` tenants in `region`, mixing tiers and statuses. */
export function syntheticManifest(count: number, region: Region): { tenants: TenantSpec[] } {
    const tenants: TenantSpec[] = [];
    for (let i = 0; i < count; i++) {
        const id = `t${String(i).padStart(6, "0")}`;
        const status = i % 50 === 49 ? "suspended" : i % 100 === 99 ? "cancelled" : "active";
        tenants.push({
            id,
            websiteId: 100_000 + i,
            name: `Synthetic shop ${i}`,
            domain: `client-${id}.collectverything.com`,
            customDomains: i % 3 === 0 ? [`shop.${id}.example.com`] : [],
            tier: TIERS[i % TIERS.length],
            region,
            billingId: `sub_${id}`,
            costCenter: `CC-${id}`,
            department: "retail",
            createdDate: "2025-01-15",
            status,
            ...(status === "cancelled" ? { cancelledAt: "2026-11-01" } : {}),
        });
    }
    return { tenants };
}

export interface WorkerResult {
    readonly resources: number;
    readonly seconds: number;
    readonly peakRssMb: number;
}

/** Runs one synth in this process and writes its figures as JSON. */
export async function synthWorker(opts: { stack: string; manifest?: string; out?: string; full?: boolean }): Promise<void> {
    const { synthesize } = await import("../core/synth");
    const result = await synthesize({ stack: opts.stack, manifest: opts.manifest });
    if (opts.full) {
        const text = JSON.stringify({ stack: result.stack, region: result.region, resources: result.resources });
        if (opts.out) fs.writeFileSync(opts.out, text);
        else process.stdout.write(`${text}\n`);
        return;
    }
    const figures: WorkerResult = {
        resources: result.resources.length,
        seconds: result.seconds,
        peakRssMb: process.resourceUsage().maxRSS / 1024,
    };
    const text = JSON.stringify(figures);
    if (opts.out) fs.writeFileSync(opts.out, text);
    else process.stdout.write(`${text}\n`);
}

export async function runBench(counts: readonly number[], stack: string): Promise<void> {
    const region = loadStackConfig(stack).region;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tenantctl-bench-"));
    process.stdout.write("tenants,resources,seconds,peak_rss_mb\n");
    try {
        for (const count of counts) {
            const manifest = path.join(dir, `tenants-${count}.yaml`);
            fs.writeFileSync(manifest, stringify(syntheticManifest(count, region)));
            const out = path.join(dir, `result-${count}.json`);
            execFileSync(process.execPath, [...process.execArgv, path.join(__dirname, "main.ts"), "_synth-worker", "--stack", stack, "--manifest", manifest, "--out", out], {
                stdio: ["ignore", "inherit", "inherit"],
            });
            const r = JSON.parse(fs.readFileSync(out, "utf8")) as WorkerResult;
            process.stdout.write(`${count},${r.resources},${r.seconds.toFixed(2)},${Math.round(r.peakRssMb)}\n`);
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
