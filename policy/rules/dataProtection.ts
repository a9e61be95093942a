/** Data-bearing resources are protected: deleting them must be a deliberate, two-step act. */
import { DATA, K8S, type Rule, type Subject, type Violation } from "../model";

export const NAME = "data-resources-protected";

/** The data-bearing types and what each holds. */
export const DATA_BEARING: Readonly<Record<string, string>> = {
    [DATA.mysqlDatabase]: "a tenant's tables",
    [DATA.minioBucket]: "a tenant's objects",
    [DATA.rabbitVhost]: "a tenant's exchanges and queues",
    [DATA.rabbitQueue]: "undelivered messages",
    [K8S.pvc]: "a volume (backups)",
    [K8S.namespace]: "every PVC and Secret in it",
};

export function checkDataProtection(subjects: readonly Subject[]): Violation[] {
    return subjects
        .filter((s) => s.type in DATA_BEARING && !s.protect)
        .map((s) => ({
            policy: NAME,
            urn: s.urn,
            message: `${s.type.split(":").at(-1)} ${s.name} holds ${DATA_BEARING[s.type]} but is not protected: a rename or removal would delete it. Fix: create it with { protect: true }.`,
        }));
}

export const dataProtection: Rule = {
    name: NAME,
    description: "Data-bearing resources (MySQL databases, buckets, vhosts, queues, PVCs, namespaces) are protected.",
    check: (subjects) => checkDataProtection(subjects),
};
