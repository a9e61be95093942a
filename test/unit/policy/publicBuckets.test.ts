import { checkPublicBuckets, isAnonymousPrincipal, isPublicAcl, publicStatements } from "../../../policy/rules/publicBuckets";
import { subject } from "./subjects";

const BUCKET = "minio:index/s3Bucket:S3Bucket";
const POLICY = "minio:index/s3BucketPolicy:S3BucketPolicy";

describe("no-public-buckets", () => {
    it("allows private buckets and policies for named principals", () => {
        const doc = {
            Statement: [
                {
                    Effect: "Allow",
                    Principal: { AWS: ["arn:aws:iam:::user/client-abc-app"] },
                    Action: ["s3:GetObject"],
                    Resource: ["arn:aws:s3:::client-abc-sav/*"],
                },
            ],
        };
        expect(
            checkPublicBuckets([
                subject(BUCKET, "b", { bucket: "client-abc-sav", acl: "private" }),
                subject(POLICY, "p", { bucket: "client-abc-sav", policy: JSON.stringify(doc) }),
            ]),
        ).toEqual([]);
    });

    it.each(["public", "public-read", "public-write", "public-read-write"])("reports ACL %s", (acl) => {
        const b = subject(BUCKET, "b", { bucket: "client-abc-products", acl });
        expect(checkPublicBuckets([b])).toEqual([
            { policy: "no-public-buckets", urn: b.urn, message: expect.stringContaining(`bucket client-abc-products has ACL ${acl}`) },
        ]);
    });

    it.each([["*"], [{ AWS: "*" }], [{ AWS: ["arn:aws:iam:::user/x", "*"] }]])("reports an Allow to principal %j", (principal) => {
        expect(publicStatements({ Statement: [{ Effect: "Allow", Principal: principal, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*" }] })).toHaveLength(
            1,
        );
    });

    it("does not report a Deny to everyone", () => {
        expect(publicStatements(JSON.stringify({ Statement: { Effect: "Deny", Principal: "*", Action: "s3:*" } }))).toEqual([]);
        expect(isAnonymousPrincipal({ AWS: "arn:aws:iam:::user/x" })).toBe(false);
        expect(isPublicAcl(undefined)).toBe(false);
    });
});
