/** No bucket is public: no public-* ACL, no bucket policy that allows the anonymous principal `*`. */
import { DATA, policyStatements, str, type Rule, type Subject, type Violation } from "../model";

export const NAME = "no-public-buckets";

/** An ACL that opens the bucket to anonymous users (MinIO: public, public-read, public-write, public-read-write). */
export function isPublicAcl(acl: string | undefined): boolean {
    return acl !== undefined && acl.startsWith("public");
}

/** Whether a principal is everyone: `*`, {AWS: "*"}, {AWS: ["*"]}. */
export function isAnonymousPrincipal(principal: unknown): boolean {
    if (principal === "*") return true;
    if (Array.isArray(principal)) return principal.some(isAnonymousPrincipal);
    if (principal !== null && typeof principal === "object") return Object.values(principal).some(isAnonymousPrincipal);
    return false;
}

/** The Allow statements of a bucket policy open to everyone, as messages. */
export function publicStatements(document: unknown): string[] {
    return (policyStatements(document) ?? []).flatMap((st, i) =>
        st.Effect === "Allow" && (isAnonymousPrincipal(st.Principal) || st.NotPrincipal !== undefined)
            ? [
                  `Statement[${i}] allows ${JSON.stringify(st.Action ?? st.NotAction)} to principal ${JSON.stringify(st.Principal ?? { NotPrincipal: st.NotPrincipal })}`,
              ]
            : [],
    );
}

export function checkPublicBuckets(subjects: readonly Subject[]): Violation[] {
    const violations: Violation[] = [];
    for (const s of subjects) {
        if (s.type === DATA.minioBucket) {
            const acl = str(s.props.acl);
            if (isPublicAcl(acl)) {
                violations.push({
                    policy: NAME,
                    urn: s.urn,
                    message: `bucket ${str(s.props.bucket) ?? s.name} has ACL ${acl}: anyone can reach it. Fix: acl: "private"; share objects with presigned URLs.`,
                });
            }
        } else if (s.type === DATA.minioBucketPolicy) {
            for (const p of publicStatements(s.props.policy)) {
                violations.push({
                    policy: NAME,
                    urn: s.urn,
                    message: `bucket policy of ${str(s.props.bucket) ?? s.name}: ${p}: the bucket is public. Fix: grant the tenant's IAM user instead.`,
                });
            }
        }
    }
    return violations;
}

export const publicBuckets: Rule = {
    name: NAME,
    description: "No bucket is public (no public-* ACL, no bucket policy allowing the principal *).",
    check: (subjects) => checkPublicBuckets(subjects),
};
