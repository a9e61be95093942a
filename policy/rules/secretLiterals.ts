/** No Kubernetes Secret holds a value that is not a Pulumi secret. */
import { displayName, isSecretPath, isUnknown, obj, type Rule, type Subject, type Violation } from "../model";

export const NAME = "secret-values-are-secrets";

/**
 * A Kubernetes Secret however declared: core/v1 Secret and SecretPatch, or a
 * CustomResource of apiVersion v1, kind Secret (which the typed SDK class's
 * automatic secret-marking does not cover).
 */
export function isKubernetesSecret(s: Subject): boolean {
    if (!s.type.startsWith("kubernetes:")) return false;
    if (/^kubernetes:(core\/)?v1:Secret(Patch)?$/.test(s.type)) return true;
    return s.props.kind === "Secret" && s.props.apiVersion === "v1";
}

/** The `data`/`stringData` keys of a Secret whose values are plain (neither secret nor unknown). */
export function plainSecretKeys(s: Subject): string[] {
    const plain: string[] = [];
    for (const field of ["data", "stringData"]) {
        const values = obj(s.props[field]);
        if (values === undefined) continue;
        if (isSecretPath(s, field)) continue;
        for (const [key, value] of Object.entries(values)) {
            if (value === undefined || value === null || isUnknown(value)) continue;
            if (!isSecretPath(s, `${field}.${key}`)) plain.push(`${field}.${key}`);
        }
    }
    return plain;
}

export function checkSecretLiterals(subjects: readonly Subject[]): Violation[] {
    return subjects.filter(isKubernetesSecret).flatMap((s) => {
        const plain = plainSecretKeys(s);
        return plain.length === 0
            ? []
            : [
                  {
                      policy: NAME,
                      urn: s.urn,
                      message: `Secret ${displayName(s)} holds ${plain.join(", ")} as plain values, not Pulumi secrets: they would be stored and shown in clear. Fix: wrap them with pulumi.secret() or take them from a secret config value or a RandomPassword.`,
                  },
              ];
    });
}

export const secretLiterals: Rule = {
    name: NAME,
    description: "No Kubernetes Secret holds a literal that is not a Pulumi secret.",
    check: (subjects) => checkSecretLiterals(subjects),
};
