/**
 * Protection and lifecycle options, through the real program (eu-west: abc
 * premium, nordic standard, lumiere business, atelier cancelled). The README
 * ("Lifecycle") names what is protected: the data-bearing resources (the
 * namespace, databases, buckets, the vhost and its queues, the backup PVC)
 * and the isolation objects (ResourceQuota, LimitRange, NetworkPolicy, Role,
 * RoleBinding). The backup PVC is never resized (ignoreChanges), and the
 * final-backup Job belongs to one cancellation (deleted on a reactivation).
 * Expectations are literal lists of types and logical names.
 */
import { SYNTH_TIMEOUT_MS, synth, type SynthResult } from "../../support/synth";

let euWest: SynthResult;

beforeAll(async () => {
    euWest = await synth({ stack: "eu-west" });
}, SYNTH_TIMEOUT_MS);

/** What the README says is protected for one tenant, as [type, logical name]. */
function protectedOf(id: string): string[] {
    return [
        `kubernetes:core/v1:LimitRange ${id}-limits`,
        `kubernetes:core/v1:Namespace ${id}-namespace`,
        `kubernetes:core/v1:PersistentVolumeClaim ${id}-backup-pvc`,
        `kubernetes:core/v1:ResourceQuota ${id}-quota`,
        `kubernetes:networking.k8s.io/v1:NetworkPolicy ${id}-isolation`,
        `kubernetes:rbac.authorization.k8s.io/v1:Role ${id}-client-admin`,
        `kubernetes:rbac.authorization.k8s.io/v1:RoleBinding ${id}-client-admin`,
        `minio:index/s3Bucket:S3Bucket ${id}-newsletters`,
        `minio:index/s3Bucket:S3Bucket ${id}-products`,
        `minio:index/s3Bucket:S3Bucket ${id}-sav`,
        `mysql:index/database:Database ${id}-auth-db`,
        `mysql:index/database:Database ${id}-orders-db`,
        `mysql:index/database:Database ${id}-products-db`,
        `rabbitmq:index/queue:Queue ${id}-auth-queue`,
        `rabbitmq:index/queue:Queue ${id}-orders-queue`,
        `rabbitmq:index/vHost:VHost ${id}-vhost`,
    ];
}

const line = (r: { type: string; name: string }) => `${r.type} ${r.name}`;

describe("protect", () => {
    test.each(["abc", "nordic", "lumiere", "atelier"])("tenant %s: exactly its data and its isolation objects are protected", (id) => {
        const own = euWest.resources.filter((r) => r.tenant === id);
        expect(
            own
                .filter((r) => r.protect)
                .map(line)
                .sort(),
        ).toEqual(protectedOf(id));
    });

    test("each isolation object, by name, is protected (the README: a destroy never leaves a live tenant without them)", () => {
        const get = (type: string, name: string) => euWest.resources.find((r) => r.type === type && r.name === name);
        for (const [type, name] of [
            ["kubernetes:core/v1:ResourceQuota", "abc-quota"],
            ["kubernetes:core/v1:LimitRange", "abc-limits"],
            ["kubernetes:networking.k8s.io/v1:NetworkPolicy", "abc-isolation"],
            ["kubernetes:rbac.authorization.k8s.io/v1:Role", "abc-client-admin"],
            ["kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "abc-client-admin"],
        ]) {
            expect({ type, name, protect: get(type, name)?.protect }).toEqual({ type, name, protect: true });
        }
    });

    test("outside the tenants, only the region's shared namespace is protected", () => {
        expect(euWest.resources.filter((r) => r.tenant === undefined && r.protect).map(line)).toEqual(["kubernetes:core/v1:Namespace eu-west-namespace"]);
    });

    test("in the whole stack, 4 tenants x 16 + 1 resources are protected", () => {
        expect(euWest.resources.filter((r) => r.protect)).toHaveLength(65);
    });
});

describe("lifecycle options", () => {
    test("only the backup PVCs (ignoreChanges spec.resources) and atelier's final-backup Job (ignoreChanges spec) carry any", () => {
        const withOptions = euWest.resources
            .map((r) => {
                const { ignoreChanges, retainOnDelete, deleteBeforeReplace, replaceOnChanges } = r.options;
                const set = Object.fromEntries(
                    Object.entries({ ignoreChanges, retainOnDelete, deleteBeforeReplace, replaceOnChanges }).filter(([, v]) => v !== undefined),
                );
                return [line(r), set] as const;
            })
            .filter(([, set]) => Object.keys(set).length > 0);
        expect(Object.fromEntries(withOptions)).toEqual({
            "kubernetes:core/v1:PersistentVolumeClaim abc-backup-pvc": { ignoreChanges: ["spec.resources"] },
            "kubernetes:core/v1:PersistentVolumeClaim atelier-backup-pvc": { ignoreChanges: ["spec.resources"] },
            "kubernetes:core/v1:PersistentVolumeClaim lumiere-backup-pvc": { ignoreChanges: ["spec.resources"] },
            "kubernetes:core/v1:PersistentVolumeClaim nordic-backup-pvc": { ignoreChanges: ["spec.resources"] },
            "kubernetes:batch/v1:Job atelier-final-backup": { ignoreChanges: ["spec"] },
        });
    });

    test("the final-backup Job is not retained on delete: a reactivation deletes it, so the next cancellation runs a new final backup", () => {
        const job = euWest.resources.find((r) => r.type === "kubernetes:batch/v1:Job" && r.name === "atelier-final-backup");
        expect(job?.options.retainOnDelete).toBeUndefined();
        expect(job?.protect).toBe(false);
    });

    test("the backup PVC ignores changes to its size: the volume is sized once", () => {
        const pvc = euWest.resources.find((r) => r.type === "kubernetes:core/v1:PersistentVolumeClaim" && r.name === "abc-backup-pvc");
        expect(pvc?.options.ignoreChanges).toEqual(["spec.resources"]);
    });

    test("storage and backup jobs depend on the namespace, the quota and the limits; the jobs on the PVC too", () => {
        const P = "urn:pulumi:eu-west::tenant-platform::collectverything:tenant:Tenant$collectverything:tenant:TenantNamespace$";
        const deps = (type: string, name: string) => euWest.resources.find((r) => r.type === type && r.name === name)?.options.dependencies;
        const guards = [
            `${P}kubernetes:core/v1:LimitRange::atelier-limits`,
            `${P}kubernetes:core/v1:Namespace::atelier-namespace`,
            `${P}kubernetes:core/v1:ResourceQuota::atelier-quota`,
        ];
        expect(deps("kubernetes:core/v1:PersistentVolumeClaim", "atelier-backup-pvc")).toEqual(expect.arrayContaining(guards));
        for (const name of ["atelier-db-backup", "atelier-final-backup"]) {
            const type = name.endsWith("final-backup") ? "kubernetes:batch/v1:Job" : "kubernetes:batch/v1:CronJob";
            expect(deps(type, name)).toEqual(expect.arrayContaining([...guards, `${P}kubernetes:core/v1:PersistentVolumeClaim::atelier-backup-pvc`]));
        }
    });
});
