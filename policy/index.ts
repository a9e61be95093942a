/**
 * The Collect & Verything policy pack: the platform's isolation, residency and
 * data-safety invariants, enforced (mandatory) on every preview and update.
 *
 *   pulumi preview --policy-pack policy [--policy-pack-config policy/config.<stack>.json]
 *
 * Each policy is a stack policy that runs one pure rule (policy/rules/) over
 * every resource of the stack; the rules are unit-tested in test/unit/policy.
 */
import { PolicyPack, type PolicyResource, type StackValidationPolicy } from "@pulumi/policy";
import { PROJECT_DIR } from "../core/project";
import { REGIONS } from "../lib/regions";
import { resolveContext, type PackConfig } from "./context";
import { urnStack, type Rule, type Subject } from "./model";
import { RULES } from "./rules";
import { NAME as RESIDENCY } from "./rules/residency";
import { installSecretTracking, secretPathsFor, unproxy } from "./secretness";

installSecretTracking();

/** The pack's view of one resource of the stack. */
export function toSubject(r: PolicyResource): Subject {
    const props = unproxy(r.props);
    return {
        type: r.type,
        urn: r.urn,
        name: r.name,
        props,
        protect: r.opts?.protect === true,
        parent: r.parent?.urn ?? r.opts?.parent,
        secretPaths: secretPathsFor(r.props),
    };
}

function policyFor(rule: Rule): StackValidationPolicy {
    const residency = rule.name === RESIDENCY;
    return {
        name: rule.name,
        description: rule.description,
        enforcementLevel: "mandatory",
        configSchema: residency
            ? {
                  properties: {
                      region: { type: "string", enum: [...REGIONS] },
                      manifest: { type: "string" },
                      projectDir: { type: "string" },
                  },
              }
            : undefined,
        validateStack: (args, reportViolation) => {
            const subjects = args.resources.map(toSubject);
            const stack = subjects.map((s) => urnStack(s.urn)).find((s) => s !== undefined);
            const ctx = residency ? resolveContext(stack, args.getConfig<PackConfig>(), PROJECT_DIR) : {};
            for (const v of rule.check(subjects, ctx)) reportViolation(v.message, v.urn);
        },
    };
}

new PolicyPack("collectverything-tenant-platform", {
    enforcementLevel: "mandatory",
    description: "Tenant isolation, data residency and data safety of the Collect & Verything tenant platform.",
    policies: RULES.map(policyFor),
});
