import { crossTenant } from "./crossTenant";
import { dataProtection } from "./dataProtection";
import { namespaceGuards } from "./namespaceGuards";
import { networkIsolation } from "./networkIsolation";
import { publicBuckets } from "./publicBuckets";
import { residency } from "./residency";
import { secretLiterals } from "./secretLiterals";
import type { Rule, RuleContext, Subject, Violation } from "../model";

/** Every rule of the pack, in report order. */
export const RULES: readonly Rule[] = [namespaceGuards, networkIsolation, crossTenant, publicBuckets, dataProtection, residency, secretLiterals];

/** Runs every rule over a stack. */
export function checkAll(subjects: readonly Subject[], ctx: RuleContext): Violation[] {
    return RULES.flatMap((r) => r.check(subjects, ctx));
}
