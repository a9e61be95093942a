/**
 * Every refusal names what is allowed and the fix, and one run reports every
 * problem: the manifest validator and the stack-config parser.
 */
import fc from "fast-check";
import { formatIssue, validateManifest } from "../../../lib/manifest";
import { maxTenantIdLength, namesOverLimit } from "../../../lib/naming";
import { parseStackConfig, StackConfigError } from "../../../stacks/config";
import { manifestYaml, shippedEntries, withTenant } from "../../support/manifests";

function issuesOf(source: string) {
    const result = validateManifest(source, "tenants.yaml");
    if (result.ok) throw new Error("expected the manifest to be refused");
    return result.issues;
}

describe("every manifest issue names what is allowed and the fix", () => {
    const entries = shippedEntries();
    const cases: [string, string][] = [
        ["duplicate id", manifestYaml([...entries, { ...entries[0], websiteId: 9991, domain: "other.example.com", customDomains: [] }])],
        ["duplicate websiteId", manifestYaml(withTenant(entries, "xyz", { websiteId: entries[0].websiteId }))],
        ["duplicate domain", manifestYaml(withTenant(entries, "xyz", { customDomains: [entries[0].domain] }))],
        ["cancelledAt with an active status", manifestYaml(withTenant(entries, "abc", { cancelledAt: "2026-01-01" }))],
        ["cancelledAt before createdDate", manifestYaml(withTenant(entries, "atelier", { cancelledAt: "2020-01-01" }))],
        ["an entry that is not a map", "tenants:\n  - just-a-string\n"],
        ["malformed YAML", "tenants:\n  - id: a\n   b: 2\n"],
    ];
    test.each(cases)("%s", (_, source) => {
        const issues = issuesOf(source);
        expect(issues.length).toBeGreaterThan(0);
        for (const issue of issues) {
            const text = formatIssue(issue);
            expect(text).toMatch(/ Allowed: .+\. Fix: .+\.$/);
        }
    });
});

describe("maxTenantIdLength", () => {
    test("is 0 when a service name leaves no room for any id", () => {
        expect(maxTenantIdLength(["customerrelationships"])).toBe(0);
        expect(namesOverLimit("a", ["customerrelationships"]).map((n) => n.name)).toEqual(["client_a_customerrelationships_user"]);
    });

    test("is exactly the boundary: the longest id fits, one more character does not", () => {
        fc.assert(
            fc.property(fc.array(fc.stringMatching(/^[a-z][a-z0-9]{0,24}$/), { minLength: 1, maxLength: 4 }), (services) => {
                const max = maxTenantIdLength(services);
                if (max > 0) expect(namesOverLimit("a".repeat(max), services)).toEqual([]);
                expect(namesOverLimit("a".repeat(max + 1), services).length).toBeGreaterThan(0);
            }),
        );
    });
});

describe("parseStackConfig reports every problem in one run", () => {
    test("an unknown key does not hide the region mismatch and the missing endpoints", () => {
        let error: unknown;
        try {
            parseStackConfig("eu-west", { region: "us-east", regoin: "x" });
        } catch (err) {
            error = err;
        }
        expect(error).toBeInstanceOf(StackConfigError);
        const problems = (error as StackConfigError).problems;
        expect(problems).toHaveLength(5);
        expect(problems[0]).toBe('tenant-platform: unknown key regoin. Fix: remove it or correct its spelling (see README, "Stack configuration")');
        expect(problems[1]).toBe(
            "tenant-platform:region is us-east but the stack is named eu-west. Fix: a region stack deploys its own region only; set region: eu-west in Pulumi.eu-west.yaml",
        );
        expect(problems.slice(2).map((p) => p.split(" ")[0])).toEqual(["tenant-platform:mysql", "tenant-platform:minio", "tenant-platform:rabbitmq"]);
    });

    test("service names so long that no id fits are refused", () => {
        expect(() =>
            parseStackConfig("local", {
                region: "eu-west",
                services: ["customerrelationships"],
                features: { databases: false, buckets: false, vhosts: false },
            }),
        ).toThrow("tenant-platform:services: a service name is so long that no tenant id keeps its MySQL user within 32 characters");
    });
});
