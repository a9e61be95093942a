import { REGION_LABEL } from "../../../lib/labels";
import { checkResidency } from "../../../policy/rules/residency";
import { guardedTenant, inNamespace, namespace, subject, tenantChild } from "./subjects";

describe("tenant-region-residency", () => {
    const manifestRegions = new Map([
        ["abc", "eu-west"],
        ["xyz", "us-east"],
    ]);

    it("allows tenant resources labelled with the stack's region, of tenants of that region", () => {
        expect(checkResidency(guardedTenant("abc"), { region: "eu-west", manifestRegions })).toEqual([]);
    });

    it("reports a missing label and a label of another region", () => {
        const unlabelled = subject("kubernetes:core/v1:ConfigMap", "abc-cm", { metadata: { name: "cm", namespace: "e-commerce-client-abc" } });
        const elsewhere = inNamespace("kubernetes:core/v1:Secret", "abc", "s", {});
        (elsewhere.props.metadata as { labels: Record<string, string> }).labels[REGION_LABEL] = "us-east";
        const vs = checkResidency([unlabelled, elsewhere], { region: "eu-west" });
        expect(vs.map((v) => [v.urn, v.message])).toEqual([
            [unlabelled.urn, expect.stringContaining(`abc-cm of tenant "abc" has no ${REGION_LABEL} label`)],
            [elsewhere.urn, expect.stringContaining(`is labelled ${REGION_LABEL}=us-east but this stack is region eu-west`)],
        ]);
    });

    it("reports a tenant whose manifest region is not the stack's, on its namespace", () => {
        const ns = namespace("xyz");
        (ns.props.metadata as { labels: Record<string, string> }).labels[REGION_LABEL] = "eu-west";
        const vs = checkResidency([ns], { region: "eu-west", manifestRegions, manifestFile: "tenants.yaml" });
        expect(vs).toEqual([
            {
                policy: "tenant-region-residency",
                urn: ns.urn,
                message: expect.stringContaining('tenant "xyz" is in region us-east in tenants.yaml, but this stack deploys region eu-west'),
            },
        ]);
    });

    it("checks tagged cloud resources of a tenant and skips resources that cannot carry labels", () => {
        const tagged = tenantChild("abc", "TenantDatabase", "aws:secretsmanager/secret:Secret", "abc-auth-db-password", { tags: { [REGION_LABEL]: "apac" } });
        const grant = tenantChild("abc", "TenantDatabase", "mysql:index/grant:Grant", "abc-auth-db-grant", { database: "x" });
        expect(checkResidency([...tagged, grant[2]], { region: "eu-west" }).map((v) => v.urn)).toEqual([tagged[2].urn]);
    });

    it("reports a stack whose region is unknown", () => {
        expect(checkResidency([], {})).toEqual([{ policy: "tenant-region-residency", message: expect.stringContaining("the stack's region is unknown") }]);
    });
});
