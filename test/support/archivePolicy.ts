/**
 * The archive identity policy of tenant abc in eu-west, written out by hand:
 * what lib/archiveAccess.ts must produce (test/unit/lib/archiveAccess.test.ts)
 * and what the program declares for the IAM user's one inline policy
 * (test/unit/components/archiveAccess.test.ts). Object actions only under
 * tenants/abc/ of the region's archive bucket; listing only with a prefix
 * under it.
 */
export const ABC_ARCHIVE_POLICY = {
    Version: "2012-10-17",
    Statement: [
        {
            Sid: "OwnPrefixObjects",
            Effect: "Allow",
            Action: ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention"],
            Resource: ["arn:aws:s3:::collectverything-archive-eu-west/tenants/abc/*"],
        },
        {
            Sid: "ListOwnPrefix",
            Effect: "Allow",
            Action: ["s3:ListBucket", "s3:ListBucketVersions"],
            Resource: ["arn:aws:s3:::collectverything-archive-eu-west"],
            Condition: { StringLike: { "s3:prefix": ["tenants/abc/", "tenants/abc/*"] } },
        },
    ],
};
