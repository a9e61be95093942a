/**
 * Tier changes and the backup volume, as `tenantctl diff` reports them: the
 * backup PVC's size is under `ignoreChanges`, so an upgrade does not grow it
 * and a downgrade does not shrink it. The diff says so instead of listing a
 * resize, through the real program (eu-west, two synths like cli/diff.ts).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { diffResources, inputDifferences, isIgnoredPath, markdown, type ResourceChange } from "../../../lib/manifestDiff";
import { PROJECT_DIR, SYNTH_TIMEOUT_MS, synth, type SynthResult } from "../../support/synth";

const PVC = "kubernetes:core/v1:PersistentVolumeClaim";
let base: SynthResult;
let changed: SynthResult;

beforeAll(async () => {
    const source = fs.readFileSync(path.join(PROJECT_DIR, "tenants.yaml"), "utf8");
    // nordic standard -> business (upgrade), lumiere business -> standard (downgrade).
    const edited = source
        .replace(/(- id: nordic\n(?:[ ]{4}.*\n)*?[ ]{4}tier: )standard/, "$1business")
        .replace(/(- id: lumiere\n(?:[ ]{4}.*\n)*?[ ]{4}tier: )business/, "$1standard");
    expect(edited).not.toBe(source);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cv-tier-diff-"));
    const file = path.join(dir, "tenants.yaml");
    fs.writeFileSync(file, edited);
    try {
        base = await synth({ stack: "eu-west" });
        changed = await synth({ stack: "eu-west", manifest: file });
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}, 2 * SYNTH_TIMEOUT_MS);

const pvcChange = (changes: ResourceChange[], tenant: string) => changes.find((c) => c.tenant === tenant && c.type === PVC);

describe("the backup volume on a tier change", () => {
    test("upgrade (nordic, standard -> business): no resize, the PVC stays at 10Gi, and the diff says what happens instead", () => {
        const changes = diffResources(base.resources, changed.resources);
        expect(pvcChange(changes, "nordic")).toEqual({
            kind: "ignored",
            type: PVC,
            name: "nordic-backup-pvc",
            tenant: "nordic",
            fields: [],
            ignored: [{ path: "spec.resources.requests.storage", before: "10Gi", after: "100Gi" }],
            note:
                "the volume stays at 10Gi (ignoreChanges; Kubernetes cannot shrink a volume, and growing it is an operator action), not 100Gi. " +
                "The backup job keeps as many recent sets on it as fit its real capacity; the GFS retention is in the archive and does not depend on the tier.",
        });
    });

    test("downgrade (lumiere, business -> standard): the 100Gi volume is not asked to shrink to 10Gi", () => {
        const c = pvcChange(diffResources(base.resources, changed.resources), "lumiere");
        expect(c?.kind).toBe("ignored");
        expect(c?.ignored).toEqual([{ path: "spec.resources.requests.storage", before: "100Gi", after: "10Gi" }]);
        expect(c?.note).toMatch(/^the volume stays at 100Gi \(ignoreChanges; .*\), not 10Gi\. /);
    });

    test("the backup CronJob is not changed by a tier change beyond its pod's tier label: the same command for every tier", () => {
        const cron = diffResources(base.resources, changed.resources).find((c) => c.tenant === "nordic" && c.type === "kubernetes:batch/v1:CronJob");
        expect(cron?.kind).toBe("update");
        expect(cron?.fields.map((f) => f.path)).toEqual(["spec.jobTemplate.spec.template.metadata.labels.tier"]);
    });

    test("the markdown counts the PVC as unchanged, not as a change, and shows the size it keeps", () => {
        const changes = diffResources(base.resources, changed.resources);
        const text = markdown([{ stack: "eu-west", region: "eu-west", changes, findings: [] }]);
        const updates = changes.filter((c) => c.kind === "update").length;
        expect(text).toContain(`, ${updates} to change, 0 to remove, 2 unchanged (ignoreChanges)`);
        expect(text).toContain(
            '| = | `kubernetes:core/v1:PersistentVolumeClaim` | `nordic-backup-pvc` | `spec.resources.requests.storage`: stays "10Gi" (asked: "100Gi"; ignoreChanges)<br>the volume stays at 10Gi',
        );
    });
});

describe("ignoreChanges paths", () => {
    test("a path is ignored when it is, or is under, an ignoreChanges path", () => {
        expect(isIgnoredPath("spec.resources.requests.storage", ["spec.resources"])).toBe(true);
        expect(isIgnoredPath("spec.resources", ["spec.resources"])).toBe(true);
        expect(isIgnoredPath("spec.resourcesX", ["spec.resources"])).toBe(false);
        expect(isIgnoredPath("spec.accessModes", ["spec.resources"])).toBe(false);
        expect(isIgnoredPath("spec", [])).toBe(false);
    });

    test("a change that mixes applied and ignored differences is an update listing both", () => {
        const before = {
            type: PVC,
            name: "p",
            tenant: "t",
            options: { ignoreChanges: ["spec.resources"] },
            inputs: { spec: { resources: { requests: { storage: "10Gi" } } }, metadata: { labels: { a: "1" } } },
        };
        const after = { ...before, inputs: { spec: { resources: { requests: { storage: "30Gi" } } }, metadata: { labels: { a: "2" } } } };
        expect(inputDifferences(before.inputs, after.inputs)).toHaveLength(2);
        const [c] = diffResources([before], [after]);
        expect(c.kind).toBe("update");
        expect(c.fields).toEqual([{ path: "metadata.labels.a", before: "1", after: "2" }]);
        expect(c.ignored).toEqual([{ path: "spec.resources.requests.storage", before: "10Gi", after: "30Gi" }]);
    });
});
