/**
 * policy/context.ts: which region and manifest the residency policy checks a
 * stack against. The pack's own config wins, then the stack's settings file
 * (Pulumi.<stack>.yaml), then the stack's name when it is a region.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { manifestRegions, resolveContext } from "../../../policy/context";
import { manifestYaml, tempDir, type RawTenant } from "../../support/manifests";

const dir = tempDir("policy-context");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const entry = (id: string, region: string, websiteId: number): RawTenant => ({
    id,
    websiteId,
    name: id,
    domain: `client-${id}.collectverything.com`,
    tier: "standard",
    region,
    billingId: `sub_${id}`,
    costCenter: "CC-1",
    department: "retail",
    createdDate: "2025-01-01",
    status: "active",
});

const manifest = path.join(dir, "tenants.yaml");
fs.writeFileSync(manifest, manifestYaml([entry("abc", "eu-west", 1), entry("kiwi", "apac", 2)]));
const other = path.join(dir, "other.yaml");
fs.writeFileSync(other, manifestYaml([entry("zed", "us-east", 3)]));
const invalid = path.join(dir, "invalid.yaml");
fs.writeFileSync(invalid, manifestYaml([entry("abc", "mars", 1)]));
// A stack named like no region, whose file declares one and another manifest; and a region stack with no file.
fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), "config:\n  tenant-platform:region: apac\n  tenant-platform:manifest: other.yaml\n");

describe("manifestRegions", () => {
    test("the region of every tenant, by id", () => {
        expect(manifestRegions(manifest)).toEqual(
            new Map([
                ["abc", "eu-west"],
                ["kiwi", "apac"],
            ]),
        );
    });

    test("undefined for a missing or invalid manifest (the rule then reports what it cannot check)", () => {
        expect(manifestRegions(path.join(dir, "missing.yaml"))).toBeUndefined();
        expect(manifestRegions(invalid)).toBeUndefined();
    });
});

describe("resolveContext", () => {
    test("a region stack without a settings file: the region is the stack's name, the manifest tenants.yaml", () => {
        expect(resolveContext("us-east", {}, dir)).toEqual({ region: "us-east", manifestFile: manifest, manifestRegions: manifestRegions(manifest) });
        expect(resolveContext("us-east", {}, dir).manifestRegions?.get("kiwi")).toBe("apac");
    });

    test("the stack's settings file gives the region and the manifest", () => {
        const ctx = resolveContext("staging", {}, dir);
        expect(ctx.region).toBe("apac");
        expect(ctx.manifestFile).toBe(other);
        expect(ctx.manifestRegions).toEqual(new Map([["zed", "us-east"]]));
    });

    test("the pack's config overrides both, and may name the project directory", () => {
        const ctx = resolveContext("staging", { region: "eu-west", manifest: "tenants.yaml", projectDir: dir }, "/nonexistent");
        expect(ctx).toEqual({ region: "eu-west", manifestFile: manifest, manifestRegions: manifestRegions(manifest) });
    });

    test("no stack name and no config: region unknown, the default manifest", () => {
        expect(resolveContext(undefined, {}, dir)).toEqual({ region: undefined, manifestFile: manifest, manifestRegions: manifestRegions(manifest) });
    });

    test("a shard stack of a region stack with a settings file: its region's file gives the region and the manifest", () => {
        const ctx = resolveContext("staging-s03", {}, dir);
        expect(ctx).toEqual({ region: "apac", manifestFile: other, manifestRegions: new Map([["zed", "us-east"]]) });
        expect(resolveContext("scratch-s01", {}, dir).region).toBeUndefined();
    });

    test("a stack that is no region and has no file: region unknown", () => {
        expect(resolveContext("scratch", {}, dir).region).toBeUndefined();
    });
});
