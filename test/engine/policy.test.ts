/**
 * The policy pack through the real engine: `pulumi preview --policy-pack
 * policy` of the local stack passes, and the fixture program that breaks
 * each Kubernetes-expressible rule fails with exactly the expected violations.
 * Previews only: nothing is created in the cluster.
 */
import { LocalWorkspace, type EngineEvent, type PolicyEvent, type Stack } from "@pulumi/pulumi/automation";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { EngineFixture, HOOK_TIMEOUT_MS, REPO_ROOT, engineEnv, repoManifest } from "../support/engine";

/** The pack as a binary analyzer plugin: the project-built language host (v3.68.0) has no RunPlugin for a pack directory. */
const POLICY_DIR = path.join(REPO_ROOT, "policy", "bin", "pulumi-analyzer-policy");
const FIXTURE_DIR = path.join(REPO_ROOT, "test", "fixtures", "policy-violations");
const PACK = "collectverything-tenant-platform";

interface Run {
    readonly violations: PolicyEvent[];
    readonly stdout: string;
    readonly error?: string;
}

function policyConfig(dir: string, manifest: string): string {
    const file = path.join(dir, "policy-config.json");
    fs.writeFileSync(file, JSON.stringify({ "tenant-region-residency": { manifest } }, null, 2));
    return file;
}

async function previewWithPack(stack: Stack, opts: { configFile: string; policyConfig: string }): Promise<Run> {
    const violations: PolicyEvent[] = [];
    const onEvent = (e: EngineEvent) => {
        if (e.policyEvent) violations.push(e.policyEvent);
    };
    try {
        const result = await stack.preview({
            configFile: opts.configFile,
            color: "never",
            policyPacks: [POLICY_DIR],
            policyPackConfigs: [opts.policyConfig],
            onEvent,
        });
        return { violations, stdout: result.stdout };
    } catch (err) {
        return { violations, stdout: "", error: err instanceof Error ? err.message : String(err) };
    }
}

/** `policy resource-name` pairs, sorted: what the expectation is written in. */
function pairs(events: readonly PolicyEvent[]): string[] {
    return events.map((e) => `${e.policyName} ${e.resourceUrn ? e.resourceUrn.slice(e.resourceUrn.lastIndexOf("::") + 2) : "(stack)"}`).sort();
}

describe("policy pack on the local stack", () => {
    const fixture = new EngineFixture("policy");
    let run: Run;

    beforeAll(async () => {
        await fixture.init(repoManifest());
        run = await previewWithPack(fixture.stack, { configFile: fixture.configFile, policyConfig: policyConfig(fixture.dir, fixture.manifest) });
    }, HOOK_TIMEOUT_MS);

    afterAll(async () => {
        await fixture.teardown([]);
    }, HOOK_TIMEOUT_MS);

    it("previews without a violation, the pack having run", () => {
        expect(run.error).toBeUndefined();
        expect(pairs(run.violations)).toEqual([]);
        expect(run.stdout).toMatch(new RegExp(`✅ ${PACK}@v0\\.1\\.0`));
    });
});

describe("policy pack on the fixture that breaks each rule", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cv-engine-policy-fixture-"));
    let run: Run;

    beforeAll(async () => {
        fs.mkdirSync(path.join(dir, "backend"));
        const { envVars } = engineEnv(path.join(dir, "backend"));
        // `stack init` writes the passphrase salt next to Pulumi.yaml: do it in a scratch copy, use it via --config-file.
        const initDir = path.join(dir, "init");
        fs.mkdirSync(initDir);
        fs.copyFileSync(path.join(FIXTURE_DIR, "Pulumi.yaml"), path.join(initDir, "Pulumi.yaml"));
        await LocalWorkspace.createStack({ stackName: "eu-west", workDir: initDir }, { envVars, secretsProvider: "passphrase" });
        const salt = (parseYaml(fs.readFileSync(path.join(initDir, "Pulumi.eu-west.yaml"), "utf8")) as { encryptionsalt: string }).encryptionsalt;
        const configFile = path.join(dir, "Pulumi.eu-west.yaml");
        fs.writeFileSync(configFile, stringifyYaml({ encryptionsalt: salt }));
        const stack = await LocalWorkspace.selectStack({ stackName: "eu-west", workDir: FIXTURE_DIR }, { envVars });
        run = await previewWithPack(stack, { configFile, policyConfig: policyConfig(dir, path.join(FIXTURE_DIR, "tenants.yaml")) });
    }, HOOK_TIMEOUT_MS);

    afterAll(() => {
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("fails the preview with exactly the expected violations, all mandatory", () => {
        expect(run.error).toMatch(/mandatory/i);
        expect(pairs(run.violations)).toEqual(
            [
                "data-resources-protected bare-namespace",
                "data-resources-protected unprotected-pvc",
                "network-policy-isolation leaky-policy",
                "network-policy-isolation open-policy",
                "tenant-namespace-guards bare-namespace",
                "tenant-namespace-guards bare-namespace",
                "tenant-namespace-guards bare-namespace",
                "tenant-namespace-guards bare-namespace",
                "tenant-region-residency bare-namespace",
                "tenant-region-residency elsewhere-config",
                "tenant-region-residency unlabelled-config",
            ].sort(),
        );
        expect(new Set(run.violations.map((v) => v.enforcementLevel))).toEqual(new Set(["mandatory"]));
        expect(new Set(run.violations.map((v) => v.policyPackName))).toEqual(new Set([PACK]));
    });

    it("names the problem in each message", () => {
        const text = run.violations.map((v) => v.message).join("\n");
        expect(text).toContain("tenant namespace e-commerce-client-bare has no ResourceQuota");
        expect(text).toContain("lacks the Pod Security restricted labels");
        expect(text).toContain('admits tenant "bare"\'s namespace e-commerce-client-bare');
        expect(text).toContain("has an open namespaceSelector");
        expect(text).toContain('tenant "bare" is in region us-east');
    });
});
