/**
 * The pack's rules over a region stack's real program, evaluated offline by
 * the synth recorder: the invariants stated across the whole stack, with the
 * URN in every failure. One stack per test file (the Pulumi runtime is a
 * process-wide singleton).
 */
import * as path from "node:path";
import { synthesize } from "../../../core/synth";
import { fromSynth } from "../../../policy/fromSynth";
import { manifestRegions } from "../../../policy/context";
import { checkAll, RULES } from "../../../policy/rules";
import type { Subject, Violation } from "../../../policy/model";

export const REPO_ROOT = path.resolve(__dirname, "../../..");

/** The pack's rules, stated here rather than read from RULES: a rule dropped from RULES fails a test instead of losing it. */
export const RULE_NAMES = [
    "tenant-namespace-guards",
    "network-policy-isolation",
    "no-cross-tenant-access",
    "no-public-buckets",
    "data-resources-protected",
    "tenant-region-residency",
    "secret-values-are-secrets",
] as const;

export async function stackViolations(stack: string): Promise<{ subjects: Subject[]; violations: Violation[] }> {
    const result = await synthesize({ stack });
    const subjects = fromSynth(result.resources);
    const manifestFile = path.join(REPO_ROOT, "tenants.yaml");
    const violations = checkAll(subjects, { region: result.region, manifestRegions: manifestRegions(manifestFile), manifestFile });
    return { subjects, violations };
}

export function describeRegionStack(stack: string): void {
    describe(`policy pack over the ${stack} stack (synth)`, () => {
        let run: { subjects: Subject[]; violations: Violation[] };
        beforeAll(async () => {
            run = await stackViolations(stack);
        }, 60_000);

        it("declares tenant resources of every kind the rules guard", () => {
            const types = new Set(run.subjects.map((s) => s.type));
            for (const t of [
                "kubernetes:core/v1:Namespace",
                "kubernetes:networking.k8s.io/v1:NetworkPolicy",
                "mysql:index/grant:Grant",
                "minio:index/iamPolicy:IamPolicy",
                "rabbitmq:index/permissions:Permissions",
                "minio:index/s3Bucket:S3Bucket",
                "kubernetes:core/v1:Secret",
            ]) {
                expect(types).toContain(t);
            }
        });

        it("checkAll runs exactly the pack's seven rules", () => {
            expect(RULES.map((r) => r.name)).toEqual([...RULE_NAMES]);
        });

        it.each(RULE_NAMES.map((name) => [name]))("%s: no violation", (name) => {
            const found = run.violations.filter((v) => v.policy === name).map((v) => `${v.urn}: ${v.message}`);
            expect(found).toEqual([]);
        });
    });
}
