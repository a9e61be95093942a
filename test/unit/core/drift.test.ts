import { driftFromSteps, formatDrift } from "../../../core/drift";

const QUOTA =
    "urn:pulumi:local::tenant-platform::collectverything:tenant:Tenant$collectverything:tenant:TenantNamespace$kubernetes:core/v1:ResourceQuota::abc-quota";

describe("drift report", () => {
    it("keeps resources a refresh would change or drop, not unchanged ones, providers or the stack", () => {
        const drifted = driftFromSteps([
            { op: "same", urn: "urn:a", type: "kubernetes:core/v1:Namespace" },
            { op: "update", urn: QUOTA, type: "kubernetes:core/v1:ResourceQuota", detailedDiff: { "spec.hard.pods": { diffKind: "update" } } },
            { op: "delete", urn: "urn:gone", type: "kubernetes:core/v1:LimitRange", diffs: [] },
            { op: "update", urn: "urn:p", type: "pulumi:providers:kubernetes" },
        ]);
        expect(drifted).toEqual([
            { urn: "urn:gone", type: "kubernetes:core/v1:LimitRange", op: "delete", properties: [] },
            { urn: QUOTA, type: "kubernetes:core/v1:ResourceQuota", op: "update", properties: ["spec.hard.pods: update"] },
        ]);
    });

    it("prints what drifted as text and markdown, and says so when nothing did", () => {
        const report = {
            stack: "local",
            summary: { same: 3, update: 1 },
            drifted: [{ urn: QUOTA, type: "kubernetes:core/v1:ResourceQuota", op: "update", properties: ["spec.hard.pods: update"] }],
        };
        expect(formatDrift(report, "text")).toBe(
            `stack local: 1 resource drifted\n  update  kubernetes:core/v1:ResourceQuota abc-quota\n          spec.hard.pods: update\n          ${QUOTA}`,
        );
        expect(formatDrift(report, "markdown")).toContain("| `abc-quota` | `kubernetes:core/v1:ResourceQuota` | update | `spec.hard.pods: update` |");
        expect(formatDrift({ stack: "local", summary: { same: 3 }, drifted: [] }, "text")).toBe("stack local: no drift");
        expect(JSON.parse(formatDrift(report, "json")).drifted[0].urn).toBe(QUOTA);
    });
});
