/**
 * After a crashed update (lib/crashRecovery.ts): the locks named by the DIY
 * backend's error, when they are stale, and the `pulumi refresh` flags that
 * resolve a checkpoint's pending operations.
 */
import {
    allStale,
    kubernetesId,
    needsRepair,
    parseLocks,
    pendingRepair,
    refreshRepairArgs,
    repairLines,
    type PendingOperation,
} from "../../../lib/crashRecovery";

/** The CLI 3.274.1's error for a stack whose update was killed with SIGKILL (captured on this machine). */
const LOCKED =
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
    "  file:///tmp/b/.pulumi/locks/organization/tenant-platform/local-s01/2f4b0e88-0145-48fb-8bdd-f2dec1945254.json?no_tmp_dir=true: created by root@vm (pid 15210) at 2026-12-01T16:54:39Z\n";

describe("locks", () => {
    test("parseLocks reads user, host, pid and time of every lock the error lists", () => {
        expect(parseLocks(LOCKED)).toEqual([{ user: "root", host: "vm", pid: 15210, at: "2026-12-01T16:54:39Z" }]);
        const two = LOCKED.replace("1 lock(s)", "2 lock(s)") + "  file:///tmp/b/x.json: created by ci@runner-7 (pid 88) at 2026-12-01T17:00:00Z\n";
        expect(parseLocks(two).map((l) => `${l.user}@${l.host}:${l.pid}`)).toEqual(["root@vm:15210", "ci@runner-7:88"]);
        // The Automation API's error quotes the CLI's output twice (stdout and stderr): each lock once.
        expect(parseLocks(`${LOCKED}\nstderr: ${LOCKED}`)).toEqual([{ user: "root", host: "vm", pid: 15210, at: "2026-12-01T16:54:39Z" }]);
    });

    test("parseLocks: nothing for another error, or the service backend's conflict (no pid to judge)", () => {
        expect(parseLocks("error: created by root@vm (pid 1) at 2026-12-01T00:00:00Z")).toEqual([]);
        expect(parseLocks("[409] Conflict: Another update is currently in progress.")).toEqual([]);
    });

    test("allStale: only when every lock is on this host and its process is gone", () => {
        const locks = parseLocks(LOCKED);
        expect(allStale(locks, "vm", () => false)).toBe(true);
        expect(allStale(locks, "vm", (pid) => pid === 15210)).toBe(false);
        expect(allStale(locks, "other-host", () => false)).toBe(false);
        expect(allStale([], "vm", () => false)).toBe(false);
        expect(allStale([...locks, { user: "ci", host: "runner-7", pid: 88, at: "t" }], "vm", () => false)).toBe(false);
    });
});

describe("kubernetesId", () => {
    // Kubernetes' cluster-scoped kinds among those a stack may declare (the API's `namespaced: false` resources, and
    // cert-manager's and External Secrets' cluster kinds): a namespace recorded in the inputs is not part of their ID.
    test.each([
        ["core/v1", "Namespace"],
        ["rbac.authorization.k8s.io/v1", "ClusterRole"],
        ["rbac.authorization.k8s.io/v1", "ClusterRoleBinding"],
        ["apiextensions.k8s.io/v1", "CustomResourceDefinition"],
        ["core/v1", "PersistentVolume"],
        ["storage.k8s.io/v1", "StorageClass"],
        ["scheduling.k8s.io/v1", "PriorityClass"],
        ["networking.k8s.io/v1", "IngressClass"],
        ["node.k8s.io/v1", "RuntimeClass"],
        ["admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"],
        ["admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"],
        ["admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"],
        ["admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"],
        ["cert-manager.io/v1", "ClusterIssuer"],
        ["external-secrets.io/v1beta1", "ClusterSecretStore"],
        ["external-secrets.io/v1beta1", "ClusterExternalSecret"],
    ])("%s %s is cluster-scoped: its ID is the bare name", (group, kind) => {
        expect(kubernetesId(`kubernetes:${group}:${kind}`, { metadata: { name: "x", namespace: "ignored" } })).toBe("x");
    });

    test("a namespaced kind whose name ends like a cluster-scoped one is still namespaced", () => {
        expect(kubernetesId("kubernetes:example.com/v1:MyClusterRole", { metadata: { name: "x", namespace: "n" } })).toBe("n/x");
    });

    test("namespace/name for a namespaced kind, the bare name for a cluster-scoped one", () => {
        expect(kubernetesId("kubernetes:core/v1:ConfigMap", { metadata: { name: "app-config", namespace: "e-commerce-client-a" } })).toBe(
            "e-commerce-client-a/app-config",
        );
        expect(kubernetesId("kubernetes:core/v1:Namespace", { metadata: { name: "e-commerce-client-a" } })).toBe("e-commerce-client-a");
        expect(kubernetesId("kubernetes:rbac.authorization.k8s.io/v1:Role", { metadata: { name: "r", namespace: "n" } })).toBe("n/r");
        expect(kubernetesId("kubernetes:external-secrets.io/v1beta1:ClusterSecretStore", { metadata: { name: "aws" } })).toBe("aws");
        // An auto-named object: the engine recorded the name the provider chose before the create started.
        expect(kubernetesId("kubernetes:core/v1:Secret", { metadata: { name: "creds-1x2y3z", namespace: "n" } })).toBe("n/creds-1x2y3z");
    });

    test("unknown: not Kubernetes, a Patch, no name, or a namespaced kind without its namespace", () => {
        expect(kubernetesId("mysql:index/database:Database", { name: "db" })).toBeUndefined();
        expect(kubernetesId("kubernetes:core/v1:NamespacePatch", { metadata: { name: "x" } })).toBeUndefined();
        expect(kubernetesId("kubernetes:core/v1:ConfigMap", { metadata: { namespace: "n" } })).toBeUndefined();
        expect(kubernetesId("kubernetes:core/v1:ConfigMap", { metadata: { name: "c" } })).toBeUndefined();
        expect(kubernetesId("kubernetes:core/v1:ConfigMap", undefined)).toBeUndefined();
        expect(kubernetesId("pulumi:providers:kubernetes", { kubeconfig: "x" })).toBeUndefined();
        // Only a type token of the Kubernetes provider, whole: not one that merely contains one.
        expect(kubernetesId("x-kubernetes:core/v1:ConfigMap", { metadata: { name: "c", namespace: "n" } })).toBeUndefined();
        expect(kubernetesId("kubernetes:core/v1:ConfigMap/extra", { metadata: { name: "c", namespace: "n" } })).toBeUndefined();
        // A kind starting with "Patch" is not a Patch resource.
        expect(kubernetesId("kubernetes:example.com/v1:PatchSet", { metadata: { name: "p", namespace: "n" } })).toBe("n/p");
        // metadata that is not an object, an empty name, an empty namespace.
        expect(kubernetesId("kubernetes:core/v1:ConfigMap", { metadata: null })).toBeUndefined();
        expect(kubernetesId("kubernetes:core/v1:ConfigMap", { metadata: "c" })).toBeUndefined();
        expect(kubernetesId("kubernetes:core/v1:Namespace", { metadata: { name: "" } })).toBeUndefined();
        expect(kubernetesId("kubernetes:core/v1:ConfigMap", { metadata: { name: "c", namespace: "" } })).toBeUndefined();
    });

    test("a pending create of a component (custom: false) has no provider ID: cleared, never imported", () => {
        const repair = pendingRepair(
            [
                {
                    type: "creating",
                    resource: {
                        urn: U("t", "cv:index:Tenant"),
                        type: "kubernetes:core/v1:ConfigMap",
                        custom: false,
                        inputs: { metadata: { name: "c", namespace: "n" } },
                    },
                },
            ],
            new Set(),
        );
        expect(repair).toEqual({ imports: [], cleared: [{ urn: U("t", "cv:index:Tenant"), reason: "no-id" }], others: [] });
    });
});

const op = (type: string, urn: string, resourceType: string, inputs?: Record<string, unknown>): PendingOperation => ({
    type,
    resource: { urn, type: resourceType, custom: true, inputs },
});
const U = (name: string, type = "kubernetes:core/v1:ConfigMap") => `urn:pulumi:local-s01::tenant-platform::${type}::${name}`;

describe("pendingRepair", () => {
    test("imports the creates with a known ID, clears stale and unknown ones, leaves updates and deletes to the refresh", () => {
        const pending = [
            op("creating", U("ns", "kubernetes:core/v1:Namespace"), "kubernetes:core/v1:Namespace", { metadata: { name: "e-commerce-client-a" } }),
            op("creating", U("cfg"), "kubernetes:core/v1:ConfigMap", { metadata: { name: "cfg", namespace: "e-commerce-client-a" } }),
            op("creating", U("done"), "kubernetes:core/v1:ConfigMap", { metadata: { name: "done", namespace: "e-commerce-client-a" } }),
            op(
                "creating",
                "urn:pulumi:local-s01::tenant-platform::random:index/randomPassword:RandomPassword::pw",
                "random:index/randomPassword:RandomPassword",
                {
                    length: 32,
                },
            ),
            op("updating", U("quota"), "kubernetes:core/v1:ResourceQuota"),
            op("deleting", U("old"), "kubernetes:core/v1:ConfigMap"),
        ];
        const repair = pendingRepair(pending, new Set([U("done"), U("quota"), U("old")]));
        expect(repair).toEqual({
            imports: [
                { urn: U("ns", "kubernetes:core/v1:Namespace"), id: "e-commerce-client-a" },
                { urn: U("cfg"), id: "e-commerce-client-a/cfg" },
            ],
            cleared: [
                { urn: U("done"), reason: "in-state" },
                { urn: "urn:pulumi:local-s01::tenant-platform::random:index/randomPassword:RandomPassword::pw", reason: "no-id" },
            ],
            others: [
                { urn: U("quota"), type: "updating" },
                { urn: U("old"), type: "deleting" },
            ],
        });
        expect(needsRepair(repair)).toBe(true);
        expect(refreshRepairArgs(repair)).toEqual([
            "--import-pending-creates",
            U("ns", "kubernetes:core/v1:Namespace"),
            "--import-pending-creates",
            "e-commerce-client-a",
            "--import-pending-creates",
            U("cfg"),
            "--import-pending-creates",
            "e-commerce-client-a/cfg",
            "--clear-pending-creates",
        ]);
        expect(repairLines(repair)).toEqual([
            "imported 2 pending create(s): e-commerce-client-a, e-commerce-client-a/cfg",
            "cleared 1 stale pending create(s) already in the state",
            "cleared 1 pending create(s) without a known ID (created again by the update): urn:pulumi:local-s01::tenant-platform::random:index/randomPassword:RandomPassword::pw",
            "refreshed 2 pending deleting/updating operation(s)",
        ]);
    });

    test("only importable creates: no --clear-pending-creates (it would drop nothing else, but says more than needed)", () => {
        const repair = pendingRepair([op("creating", U("cfg"), "kubernetes:core/v1:ConfigMap", { metadata: { name: "cfg", namespace: "n" } })], new Set());
        expect(refreshRepairArgs(repair)).toEqual(["--import-pending-creates", U("cfg"), "--import-pending-creates", "n/cfg"]);
    });

    test("the same URN pending twice is imported once", () => {
        const twice = op("creating", U("cfg"), "kubernetes:core/v1:ConfigMap", { metadata: { name: "cfg", namespace: "n" } });
        const repair = pendingRepair([twice, twice], new Set());
        expect(repair.imports).toEqual([{ urn: U("cfg"), id: "n/cfg" }]);
        expect(repair.cleared).toEqual([{ urn: U("cfg"), reason: "in-state" }]);
    });

    test("each kind of action alone needs a repair, and its report line counts only its own kind", () => {
        const onlyOther = pendingRepair([op("updating", U("quota"), "kubernetes:core/v1:ResourceQuota")], new Set());
        expect(needsRepair(onlyOther)).toBe(true);
        expect(repairLines(onlyOther)).toEqual(["refreshed 1 pending updating operation(s)"]);
        const onlyCleared = pendingRepair(
            [op("creating", U("cfg"), "kubernetes:core/v1:ConfigMap", { metadata: { name: "cfg", namespace: "n" } })],
            new Set([U("cfg")]),
        );
        expect(needsRepair(onlyCleared)).toBe(true);
        expect(repairLines(onlyCleared)).toEqual(["cleared 1 stale pending create(s) already in the state"]);
        const unknown = [
            op("creating", U("a"), "random:index/randomPassword:RandomPassword"),
            op("creating", U("b"), "random:index/randomPassword:RandomPassword"),
            op("creating", U("c"), "kubernetes:core/v1:ConfigMap", { metadata: { name: "c", namespace: "n" } }),
        ];
        expect(repairLines(pendingRepair([unknown[0]], new Set()))).toEqual([
            `cleared 1 pending create(s) without a known ID (created again by the update): ${U("a")}`,
        ]);
        const noIds = pendingRepair(unknown, new Set([U("c")]));
        expect(repairLines(noIds)).toEqual([
            "cleared 1 stale pending create(s) already in the state",
            `cleared 2 pending create(s) without a known ID (created again by the update): ${U("a")}, ${U("b")}`,
        ]);
    });

    test("no pending operation: nothing to do", () => {
        const repair = pendingRepair([], new Set([U("cfg")]));
        expect(needsRepair(repair)).toBe(false);
        expect(refreshRepairArgs(repair)).toEqual([]);
        expect(repairLines(repair)).toEqual([]);
    });
});
