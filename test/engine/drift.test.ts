/**
 * `tenantctl drift` on the local stack against the real control plane: after
 * `up`, an untouched stack has no drift; a ResourceQuota edited through the
 * API server (as `kubectl edit` would) is reported, and the CLI exits 1.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { detectDrift } from "../../core/drift";
import { EngineFixture, HOOK_TIMEOUT_MS, REPO_ROOT, STACK, assertClusterFree, engineEnv, manifestOf } from "../support/engine";
import { paths } from "../support/k8s";

const TENANT_NS = "e-commerce-client-nordic";
const NAMESPACES = [TENANT_NS, "e-commerce-shared"];
const QUOTA = `${paths.resourceQuotas(TENANT_NS)}/client-quota`;

describe("drift on the local stack", () => {
    const fixture = new EngineFixture("drift");
    let envVars: Record<string, string>;

    beforeAll(async () => {
        await assertClusterFree(fixture.kube, NAMESPACES);
        await fixture.init(manifestOf(["nordic"]));
        envVars = engineEnv(path.join(fixture.dir, "backend")).envVars;
        await fixture.stack.up({ ...fixture.opts });
    }, HOOK_TIMEOUT_MS);

    afterAll(async () => {
        await fixture.teardown(NAMESPACES);
    }, HOOK_TIMEOUT_MS);

    const drift = () => detectDrift({ stack: STACK, workDir: REPO_ROOT, configFile: fixture.configFile, envVars });

    it(
        "reports no drift right after up",
        async () => {
            const report = await drift();
            expect(report.drifted).toEqual([]);
        },
        HOOK_TIMEOUT_MS,
    );

    it(
        "reports a quota edited outside Pulumi, with the property that changed",
        async () => {
            const before = await fixture.kube.get(QUOTA);
            expect(before.spec.hard.pods).not.toBe("999");
            const patched = await fixture.kube.request("PATCH", QUOTA, { spec: { hard: { pods: "999" } } }, { contentType: "application/merge-patch+json" });
            expect(patched.status).toBe(200);

            const report = await drift();
            expect(report.drifted.map((d) => [d.type, d.urn.slice(d.urn.lastIndexOf("::") + 2), d.op])).toEqual([
                ["kubernetes:core/v1:ResourceQuota", "nordic-quota", "update"],
            ]);
            expect(report.drifted[0].properties.join(" ")).toMatch(/spec\.hard/);
        },
        HOOK_TIMEOUT_MS,
    );

    it(
        "makes `tenantctl drift` exit 1 and print what drifted",
        () => {
            let status = 0;
            let stdout = "";
            try {
                execFileSync(path.join(REPO_ROOT, "tenantctl"), ["drift", "--stack", STACK, "--config-file", fixture.configFile], {
                    env: { ...process.env, ...envVars },
                    encoding: "utf8",
                    stdio: "pipe",
                });
            } catch (err) {
                const e = err as { status: number; stdout: string };
                status = e.status;
                stdout = e.stdout;
            }
            expect(status).toBe(1);
            expect(stdout).toContain("stack local: 1 resource drifted");
            expect(stdout).toContain("kubernetes:core/v1:ResourceQuota nordic-quota");
        },
        HOOK_TIMEOUT_MS,
    );
});
