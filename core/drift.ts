/**
 * Drift: has reality drifted from what a stack last deployed? Runs `pulumi
 * refresh --preview-only` through the Automation API (LocalWorkspace over the
 * project directory, never an inline program) and collects every drifted
 * resource with the properties that differ. `tenantctl drift` (cli/drift.ts)
 * prints it; the drift workflow runs that.
 */
import { PROJECT_DIR } from "./project";

export type DriftFormat = "text" | "markdown" | "json";

/** One resource whose real state differs from the stack's state. */
export interface DriftedResource {
    readonly urn: string;
    readonly type: string;
    /** What a refresh would do to the state: update (changed outside Pulumi), delete (gone), ... */
    readonly op: string;
    /** Property paths that differ, with the kind of difference, e.g. `spec.hard.pods: update`. */
    readonly properties: readonly string[];
}

export interface DriftReport {
    readonly stack: string;
    readonly drifted: readonly DriftedResource[];
    /** The engine's change summary of the refresh preview, e.g. { same: 30, update: 1 }. */
    readonly summary: Readonly<Record<string, number>>;
}

export interface DriftOptions {
    readonly stack: string;
    /** The Pulumi project directory. Default: this repository. */
    readonly workDir?: string;
    /** A config file to use instead of Pulumi.<stack>.yaml. */
    readonly configFile?: string;
    /** Extra environment for the pulumi CLI (backend, passphrase, ...). */
    readonly envVars?: Record<string, string>;
}

/** Refresh ops that mean "the state and reality differ". */
const DRIFT_OPS = new Set(["update", "delete", "replace", "create", "create-replacement", "delete-replaced", "discard", "import"]);

interface StepEvent {
    readonly op: string;
    readonly urn: string;
    readonly type: string;
    readonly diffs?: readonly string[];
    readonly detailedDiff?: Readonly<Record<string, { readonly diffKind: string }>>;
}

/** The drifted resources among a refresh preview's step events (pure). */
export function driftFromSteps(steps: readonly StepEvent[]): DriftedResource[] {
    const byUrn = new Map<string, DriftedResource>();
    for (const s of steps) {
        if (!DRIFT_OPS.has(s.op) || s.type.startsWith("pulumi:providers:") || s.type === "pulumi:pulumi:Stack") continue;
        const properties = s.detailedDiff ? Object.entries(s.detailedDiff).map(([p, d]) => `${p}: ${d.diffKind}`) : [...(s.diffs ?? [])];
        byUrn.set(s.urn, { urn: s.urn, type: s.type, op: s.op, properties: properties.sort() });
    }
    return [...byUrn.values()].sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
}

/** The resource's name part of its URN. */
function nameOf(urn: string): string {
    return urn.slice(urn.lastIndexOf("::") + 2);
}

export function formatDrift(report: DriftReport, format: DriftFormat): string {
    if (format === "json") return JSON.stringify(report, null, 2);
    const n = report.drifted.length;
    if (format === "markdown") {
        if (n === 0) return `No drift in stack \`${report.stack}\`: every resource matches its state.`;
        const lines = [
            `**${n} resource${n === 1 ? "" : "s"} drifted** in stack \`${report.stack}\`:`,
            "",
            "| resource | type | refresh would | properties |",
            "| --- | --- | --- | --- |",
        ];
        for (const d of report.drifted) {
            lines.push(`| \`${nameOf(d.urn)}\` | \`${d.type}\` | ${d.op} | ${d.properties.map((p) => `\`${p}\``).join("<br>") || "-"} |`);
        }
        return lines.join("\n");
    }
    if (n === 0) return `stack ${report.stack}: no drift`;
    const lines = [`stack ${report.stack}: ${n} resource${n === 1 ? "" : "s"} drifted`];
    for (const d of report.drifted) {
        lines.push(`  ${d.op.padEnd(7)} ${d.type} ${nameOf(d.urn)}`);
        for (const p of d.properties) lines.push(`          ${p}`);
        lines.push(`          ${d.urn}`);
    }
    return lines.join("\n");
}

/** Runs `pulumi refresh --preview-only` on the stack and collects what drifted. */
export async function detectDrift(options: DriftOptions): Promise<DriftReport> {
    const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
    const stack = await LocalWorkspace.selectStack({ stackName: options.stack, workDir: options.workDir ?? PROJECT_DIR }, { envVars: options.envVars });
    const steps: StepEvent[] = [];
    const result = await stack.previewRefresh({
        configFile: options.configFile,
        color: "never",
        onEvent: (event) => {
            // A refresh step's pre-event says "refresh"; its outputs event carries the
            // result (same, update, delete) and the provider's diff against the state.
            const meta = event.resOutputsEvent?.metadata;
            if (meta) steps.push({ op: meta.op, urn: meta.urn, type: meta.type, diffs: meta.diffs, detailedDiff: meta.detailedDiff });
        },
    });
    return { stack: options.stack, drifted: driftFromSteps(steps), summary: { ...result.changeSummary } };
}
