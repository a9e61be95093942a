import { bucketPolicyDocument } from "../../../components/tenantBucket";
import { grantDatabasePattern } from "../../../components/tenantDatabase";
import { vhostPermissions } from "../../../components/tenantVhost";
import {
    checkCrossTenant,
    databaseOwner,
    grantLiteral,
    grantProblems,
    iamPolicyProblems,
    rabbitPermissionProblems,
    sqlPrefix,
    tenantBuckets,
} from "../../../policy/rules/crossTenant";
import { tenantChild } from "./subjects";

describe("no-cross-tenant-access", () => {
    describe("MySQL grants", () => {
        it("allows the escaped grant of a tenant's own database, for every id shape", () => {
            for (const id of ["abc", "a-b", "a1b", "x-y-z"]) {
                const db = `${sqlPrefix(id)}_auth_db`;
                expect(grantProblems({ user: `${sqlPrefix(id)}_auth_user`, database: grantDatabasePattern(db) }, id)).toEqual([]);
            }
        });

        it("reports an unescaped pattern: client_a_b_auth_db also matches client_a1b_auth_db", () => {
            expect(grantProblems({ user: "client_a_b_auth_user", database: "client_a_b_auth_db" }, "a-b")).toEqual([
                'database pattern "client_a_b_auth_db" has an unescaped LIKE wildcard "_" at position 7, so it also matches other tenants\' databases',
            ]);
        });

        it("reports a grant on another tenant's database and a grant to another tenant's user", () => {
            expect(grantProblems({ user: "client_abc_auth_user", database: grantDatabasePattern("client_xyz_auth_db") }, "abc")).toEqual([
                "database client_xyz_auth_db is not a database of client_abc",
            ]);
            expect(grantProblems({ user: "client_xyz_auth_user", database: grantDatabasePattern("client_abc_auth_db") }, "abc")).toEqual([
                'user client_xyz_auth_user belongs to client_xyz, not to tenant "abc"',
            ]);
        });

        it("tells tenant a from tenant a-b (client_a_b_auth_db is a-b's)", () => {
            expect(databaseOwner("client_a_b_auth_db")).toBe("client_a_b");
            expect(grantProblems({ database: grantDatabasePattern("client_a_b_auth_db") }, "a")).toEqual([
                "database client_a_b_auth_db is not a database of client_a",
            ]);
        });

        it("reports every-database grants and derives the owner from the user outside a Tenant", () => {
            expect(grantLiteral("*")).toEqual({ wildcard: '"*" is every database' });
            expect(grantProblems({ user: "client_abc_auth_user", database: grantDatabasePattern("client_xyz_orders_db") }, undefined)).toEqual([
                "database client_xyz_orders_db is not a database of client_abc",
            ]);
        });

        it("attributes a grant to the tenant of its Tenant ancestor", () => {
            const rs = tenantChild("abc", "TenantDatabase", "mysql:index/grant:Grant", "abc-auth-db-grant", {
                user: "client_abc_auth_user",
                database: grantDatabasePattern("client_xyz_auth_db"),
            });
            const vs = checkCrossTenant(rs);
            expect(vs).toEqual([
                {
                    policy: "no-cross-tenant-access",
                    urn: rs[2].urn,
                    message: expect.stringContaining("MySQL grant abc-auth-db-grant: database client_xyz_auth_db is not a database of client_abc"),
                },
            ]);
        });
    });

    describe("MinIO IAM policies", () => {
        it("allows the platform's policy on the tenant's own buckets", () => {
            expect(iamPolicyProblems(JSON.stringify(bucketPolicyDocument(tenantBuckets("abc"))), "abc")).toEqual([]);
        });

        it("reports another tenant's bucket, a bucket wildcard and `*`", () => {
            const doc = {
                Statement: [
                    { Effect: "Allow", Action: ["s3:GetObject"], Resource: ["arn:aws:s3:::client-abc-products/*", "arn:aws:s3:::client-xyz-products/*"] },
                    { Effect: "Allow", Action: ["s3:*"], Resource: "arn:aws:s3:::client-abc-*" },
                    { Effect: "Allow", Action: ["s3:ListAllMyBuckets"], Resource: "*" },
                    { Effect: "Deny", Action: ["s3:*"], Resource: "*" },
                ],
            };
            expect(iamPolicyProblems(JSON.stringify(doc), "abc")).toEqual([
                'Statement[0] reaches bucket client-xyz-products, which is not one of tenant "abc"\'s (client-abc-products, client-abc-sav, client-abc-newsletters)',
                "Statement[1] resource arn:aws:s3:::client-abc-* is a bucket wildcard: it also matches other tenants' buckets",
                'Statement[2] reaches "*": every bucket',
            ]);
        });

        it("attributes a policy by its name outside a Tenant, and checks attachments", () => {
            const policy = {
                type: "minio:index/iamPolicy:IamPolicy",
                name: "p",
                urn: "urn:pulumi:s::p::minio:index/iamPolicy:IamPolicy::p",
                protect: false,
                props: { name: "client-abc-app-objects", policy: JSON.stringify(bucketPolicyDocument(["client-xyz-sav"])) },
            };
            const attach = {
                type: "minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment",
                name: "a",
                urn: "urn:pulumi:s::p::minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment::a",
                protect: false,
                props: { userName: "client-xyz-app", policyName: "client-abc-app-objects" },
            };
            expect(checkCrossTenant([policy, attach]).map((v) => v.message)).toEqual([
                expect.stringContaining("reaches bucket client-xyz-sav"),
                expect.stringContaining('user client-xyz-app is not one of tenant "abc"\'s users client-abc-app, client-abc-app-b'),
            ]);
        });
    });

    describe("RabbitMQ permissions", () => {
        it("allows the tenant's user on the tenant's vhost", () => {
            expect(rabbitPermissionProblems({ user: "client-abc-app", vhost: "/client-abc", permissions: vhostPermissions() }, "abc")).toEqual([]);
        });

        it("reports another tenant's vhost or user", () => {
            expect(rabbitPermissionProblems({ user: "client-abc-app", vhost: "/client-xyz" }, "abc")).toEqual([
                'vhost /client-xyz is not tenant "abc"\'s vhost /client-abc',
            ]);
            expect(rabbitPermissionProblems({ user: "client-xyz-app", vhost: "/client-abc" }, undefined)).toEqual([
                'user client-xyz-app is not one of tenant "abc"\'s users client-abc-app, client-abc-app-b',
            ]);
        });

        it("ignores values not known during preview", () => {
            expect(rabbitPermissionProblems({ user: "04da6b54-80e4-46f7-96ec-b56ff0331ba9", vhost: "/client-abc" }, "abc")).toEqual([]);
        });
    });
});
