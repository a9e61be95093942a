/**
 * Real tenant isolation, checked through the API server after a real `up`
 * of two eu-west tenants of tenants.yaml: abc (premium) and nordic
 * (standard). Each test names the Multi-Tenancy Benchmark check it covers.
 *
 * - RBAC: SubjectAccessReview (what `kubectl auth can-i --as` asks) for a
 *   member of client-abc-admins, plus real impersonated requests.
 * - Pod Security: pods sent with dryRun=All, so admission runs completely and
 *   nothing is stored; each refused pod differs from an admitted one by the
 *   one violation under test.
 * - ResourceQuota and LimitRange: objects over the tier's limits.
 */
import { tierSpec } from "../../lib/tiers";
import { EngineFixture, HOOK_TIMEOUT_MS, assertClusterFree, manifestOf } from "../support/engine";
import { paths, type KubeObject } from "../support/k8s";

jest.setTimeout(HOOK_TIMEOUT_MS);

const ABC = "e-commerce-client-abc";
const NORDIC = "e-commerce-client-nordic";
const SHARED = "e-commerce-shared";
const NAMESPACES = [ABC, NORDIC, SHARED];
/** A member of tenant abc's admin group, as its identity provider would assert it. */
const ALICE = { user: "alice@client-abc.com", groups: ["client-abc-admins", "system:authenticated"] };

const fixture = new EngineFixture("isolation");

beforeAll(async () => {
    await assertClusterFree(fixture.kube, NAMESPACES);
    await fixture.init(manifestOf(["abc", "nordic"]));
    const result = await fixture.stack.up({ ...fixture.opts });
    if (result.summary.result !== "succeeded") throw new Error(`up failed: ${result.stderr}`);
    await waitForQuotaUsage(NORDIC);
    await waitForQuotaUsage(ABC);
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
    await fixture.teardown(NAMESPACES);
}, HOOK_TIMEOUT_MS);

/** The quota controller fills status.used shortly after creation; until then admission refuses everything. */
async function waitForQuotaUsage(namespace: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
        const q = await fixture.kube.get(`${paths.resourceQuotas(namespace)}/client-quota`);
        if (q.status?.used?.persistentvolumeclaims !== undefined) return;
        if (Date.now() > deadline) throw new Error(`quota of ${namespace} has no usage after 60 s: ${JSON.stringify(q.status)}`);
        await new Promise((r) => setTimeout(r, 500));
    }
}

/** What the quota says is used right now (the refusal messages quote it). */
async function quotaUsed(namespace: string): Promise<Record<string, string>> {
    return (await fixture.kube.get(`${paths.resourceQuotas(namespace)}/client-quota`)).status.used;
}

const can = (verb: string, resource: string, namespace: string, group = "", subresource?: string) =>
    fixture.kube.canI(ALICE, { verb, resource, namespace, group, subresource });

describe("MTB: block access to other tenant resources", () => {
    test("abc's admins can read pods, logs, services, configmaps and deployments in their own namespace", async () => {
        const allowed: string[] = [];
        for (const [group, resource, sub] of [
            ["", "pods", undefined],
            ["", "pods", "log"],
            ["", "services", undefined],
            ["", "configmaps", undefined],
            ["apps", "deployments", undefined],
            ["apps", "replicasets", undefined],
        ] as const) {
            for (const verb of ["get", "list", "watch"]) {
                if ((await can(verb, resource, ABC, group, sub)).allowed) allowed.push(`${verb} ${resource}${sub ? `/${sub}` : ""}`);
            }
        }
        expect(allowed).toHaveLength(18);
    });

    test("abc's admins can read nothing in nordic's namespace", async () => {
        const leaks: string[] = [];
        const resources: [string, string][] = [
            ["", "pods"],
            ["", "secrets"],
            ["", "configmaps"],
            ["", "services"],
            ["", "persistentvolumeclaims"],
            ["", "serviceaccounts"],
            ["", "resourcequotas"],
            ["", "events"],
            ["apps", "deployments"],
            ["batch", "cronjobs"],
            ["networking.k8s.io", "networkpolicies"],
            ["networking.k8s.io", "ingresses"],
            ["rbac.authorization.k8s.io", "roles"],
            ["autoscaling", "horizontalpodautoscalers"],
        ];
        for (const [group, resource] of resources) {
            for (const verb of ["get", "list", "watch", "create", "update", "delete"]) {
                if ((await can(verb, resource, NORDIC, group)).allowed) leaks.push(`${verb} ${group}/${resource}`);
            }
        }
        expect(leaks).toEqual([]);
    });

    test("a real impersonated request: listing pods works in abc and is Forbidden in nordic", async () => {
        const own = await fixture.kube.request("GET", paths.pods(ABC), undefined, { as: ALICE });
        expect(own.status).toBe(200);
        const other = await fixture.kube.request("GET", paths.pods(NORDIC), undefined, { as: ALICE });
        expect({ status: other.status, reason: other.body.reason }).toEqual({ status: 403, reason: "Forbidden" });
        expect(other.body.message).toBe(`pods is forbidden: User "${ALICE.user}" cannot list resource "pods" in API group "" in the namespace "${NORDIC}"`);
    });

    test("abc's admins cannot read the database and broker credentials (Secrets) even in their own namespace", async () => {
        for (const verb of ["get", "list", "watch"])
            expect({ verb, ...(await can(verb, "secrets", ABC)) }).toEqual({ verb, allowed: false, reason: undefined });
    });

    test("abc's admins cannot list namespaces or read cluster-scoped objects", async () => {
        expect((await fixture.kube.canI(ALICE, { verb: "list", resource: "namespaces" })).allowed).toBe(false);
        expect((await fixture.kube.canI(ALICE, { verb: "list", resource: "nodes" })).allowed).toBe(false);
    });
});

describe("MTB: block modification of resource quotas", () => {
    test("abc's admins cannot update, patch or delete their ResourceQuota or LimitRange", async () => {
        const granted: string[] = [];
        for (const resource of ["resourcequotas", "limitranges"]) {
            for (const verb of ["create", "update", "patch", "delete", "deletecollection"]) {
                if ((await can(verb, resource, ABC)).allowed) granted.push(`${verb} ${resource}`);
            }
        }
        expect(granted).toEqual([]);
    });

    test("a real impersonated patch of the quota is Forbidden and the quota is unchanged", async () => {
        const res = await fixture.kube.request(
            "PATCH",
            `${paths.resourceQuotas(ABC)}/client-quota`,
            { spec: { hard: { pods: "1000" } } },
            { as: ALICE, contentType: "application/merge-patch+json" },
        );
        expect(res.status).toBe(403);
        expect(res.body.message).toContain(`User "${ALICE.user}" cannot patch resource "resourcequotas"`);
        expect((await fixture.kube.get(`${paths.resourceQuotas(ABC)}/client-quota`)).spec.hard.pods).toBe(tierSpec("premium").quota.pods);
    });
});

describe("MTB: block network policy changes and privilege escalation", () => {
    test("abc's admins cannot create, change or delete NetworkPolicies", async () => {
        const granted: string[] = [];
        for (const verb of ["create", "update", "patch", "delete"]) {
            if ((await can(verb, "networkpolicies", ABC, "networking.k8s.io")).allowed) granted.push(verb);
        }
        expect(granted).toEqual([]);
        const res = await fixture.kube.request(
            "POST",
            paths.networkPolicies(ABC),
            {
                apiVersion: "networking.k8s.io/v1",
                kind: "NetworkPolicy",
                metadata: { name: "allow-all" },
                spec: { podSelector: {}, ingress: [{}], egress: [{}] },
            },
            { as: ALICE, dryRun: true },
        );
        expect(res.status).toBe(403);
        expect(res.body.message).toContain(`cannot create resource "networkpolicies" in API group "networking.k8s.io" in the namespace "${ABC}"`);
    });

    test("abc's admins cannot create or bind Roles, nor create pods or exec into them", async () => {
        const granted: string[] = [];
        for (const [verb, group, resource, sub] of [
            ["create", "rbac.authorization.k8s.io", "roles", undefined],
            ["create", "rbac.authorization.k8s.io", "rolebindings", undefined],
            ["bind", "rbac.authorization.k8s.io", "roles", undefined],
            ["escalate", "rbac.authorization.k8s.io", "roles", undefined],
            ["create", "", "pods", undefined],
            ["create", "", "pods", "exec"],
            ["create", "apps", "deployments", undefined],
        ] as const) {
            if ((await can(verb, resource, ABC, group, sub)).allowed) granted.push(`${verb} ${resource}${sub ? `/${sub}` : ""}`);
        }
        expect(granted).toEqual([]);
    });
});

/** A pod that satisfies Pod Security `restricted` and the tier's LimitRange; tests add one violation. */
function compliantPod(name: string, patch: (spec: KubeObject) => void = () => undefined): KubeObject {
    const spec: KubeObject = {
        automountServiceAccountToken: false,
        securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } },
        containers: [
            {
                name: "app",
                image: "registry.example/app:1",
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "250m", memory: "256Mi" } },
            },
        ],
    };
    patch(spec);
    return { apiVersion: "v1", kind: "Pod", metadata: { name }, spec };
}

async function dryRunPod(namespace: string, pod: KubeObject): Promise<{ status: number; message?: string }> {
    const res = await fixture.kube.request("POST", paths.pods(namespace), pod, { dryRun: true });
    return { status: res.status, message: res.body.message };
}

const PSA = (name: string) => `pods "${name}" is forbidden: violates PodSecurity "restricted:latest": `;

describe("Pod Security restricted in tenant namespaces", () => {
    test("control: the compliant pod is admitted (dry run)", async () => {
        for (const namespace of [ABC, NORDIC])
            expect({ namespace, ...(await dryRunPod(namespace, compliantPod("compliant"))) }).toEqual({ namespace, status: 201, message: undefined });
    });

    test("MTB block privileged containers: a privileged pod is refused", async () => {
        const pod = compliantPod("privileged", (s) => {
            s.containers[0].securityContext = { privileged: true, allowPrivilegeEscalation: true, capabilities: { drop: ["ALL"] } };
        });
        const res = await dryRunPod(ABC, pod);
        expect(res.status).toBe(403);
        expect(res.message).toContain(PSA("privileged"));
        expect(res.message).toContain('privileged (container "app" must not set securityContext.privileged=true)');
    });

    test("MTB block add capabilities: a container adding SYS_ADMIN is refused", async () => {
        const res = await dryRunPod(
            ABC,
            compliantPod("capabilities", (s) => {
                s.containers[0].securityContext.capabilities = { drop: ["ALL"], add: ["SYS_ADMIN"] };
            }),
        );
        expect(res.status).toBe(403);
        expect(res.message).toContain('unrestricted capabilities (container "app" must not include "SYS_ADMIN" in securityContext.capabilities.add)');
    });

    test("MTB block use of host path volumes: a hostPath pod is refused", async () => {
        const res = await dryRunPod(
            ABC,
            compliantPod("hostpath", (s) => {
                s.volumes = [{ name: "host", hostPath: { path: "/var/lib" } }];
                s.containers[0].volumeMounts = [{ name: "host", mountPath: "/host" }];
            }),
        );
        expect(res.status).toBe(403);
        expect(res.message).toBe(`${PSA("hostpath")}restricted volume types (volume "host" uses restricted volume type "hostPath")`);
    });

    test("MTB block use of host networking and ports: hostNetwork and hostPort pods are refused", async () => {
        const hostNet = await dryRunPod(
            ABC,
            compliantPod("hostnetwork", (s) => {
                s.hostNetwork = true;
            }),
        );
        expect(hostNet.status).toBe(403);
        expect(hostNet.message).toBe(`${PSA("hostnetwork")}host namespaces (hostNetwork=true)`);
        const hostPort = await dryRunPod(
            ABC,
            compliantPod("hostport", (s) => {
                s.containers[0].ports = [{ containerPort: 8080, hostPort: 80 }];
            }),
        );
        expect(hostPort.status).toBe(403);
        expect(hostPort.message).toBe(`${PSA("hostport")}hostPort (container "app" uses hostPort 80)`);
    });

    test("MTB block use of host PID and IPC: hostPID and hostIPC pods are refused", async () => {
        const res = await dryRunPod(
            ABC,
            compliantPod("hostpid", (s) => {
                s.hostPID = true;
                s.hostIPC = true;
            }),
        );
        expect(res.status).toBe(403);
        expect(res.message).toBe(`${PSA("hostpid")}host namespaces (hostPID=true, hostIPC=true)`);
    });

    test("a pod running as root is refused", async () => {
        const res = await dryRunPod(
            NORDIC,
            compliantPod("root", (s) => {
                s.securityContext = { runAsNonRoot: false, runAsUser: 0, seccompProfile: { type: "RuntimeDefault" } };
            }),
        );
        expect(res.status).toBe(403);
        expect(res.message).toContain("runAsNonRoot != true");
        expect(res.message).toContain("runAsUser=0");
    });
});

describe("MTB: configure namespace resource quotas and object limits (nordic, standard tier)", () => {
    const standard = tierSpec("standard");

    test("a PVC over the tier's storage quota is refused: exceeded quota", async () => {
        const used = (await quotaUsed(NORDIC))["requests.storage"];
        const res = await fixture.kube.request(
            "POST",
            paths.pvcs(NORDIC),
            {
                apiVersion: "v1",
                kind: "PersistentVolumeClaim",
                metadata: { name: "too-big" },
                spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "60Gi" } } },
            },
            { dryRun: true },
        );
        expect({ status: res.status, reason: res.body.reason }).toEqual({ status: 403, reason: "Forbidden" });
        expect(res.body.message).toBe(
            `persistentvolumeclaims "too-big" is forbidden: exceeded quota: client-quota, requested: requests.storage=60Gi, used: requests.storage=${used}, limited: requests.storage=${standard.quota["requests.storage"]}`,
        );
    });

    test("pods whose memory limits add up over the quota are refused: exceeded quota", async () => {
        // Three containers at the LimitRange maximum (2Gi each) exceed limits.memory 4Gi.
        const pod = compliantPod("too-much-memory", (s) => {
            s.containers = [0, 1, 2].map((i) => ({
                ...s.containers[0],
                name: `app-${i}`,
                resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "100m", memory: standard.containerLimits.max.memory } },
            }));
        });
        const res = await dryRunPod(NORDIC, pod);
        expect(res.status).toBe(403);
        expect(res.message).toBe(
            `pods "too-much-memory" is forbidden: exceeded quota: client-quota, requested: limits.memory=6Gi, used: limits.memory=0, limited: limits.memory=${standard.quota["limits.memory"]}`,
        );
    });

    test("the object count: PVCs beyond persistentvolumeclaims are refused", async () => {
        const limit = Number(standard.quota.persistentvolumeclaims);
        const used = Number((await quotaUsed(NORDIC)).persistentvolumeclaims);
        const created: string[] = [];
        try {
            // Fill the rest for real, then one more.
            for (let i = used + 1; i <= limit; i++) {
                const res = await fixture.kube.request("POST", paths.pvcs(NORDIC), {
                    apiVersion: "v1",
                    kind: "PersistentVolumeClaim",
                    metadata: { name: `fill-${i}` },
                    spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
                });
                expect({ i, status: res.status }).toEqual({ i, status: 201 });
                created.push(`fill-${i}`);
            }
            const res = await fixture.kube.request("POST", paths.pvcs(NORDIC), {
                apiVersion: "v1",
                kind: "PersistentVolumeClaim",
                metadata: { name: "one-too-many" },
                spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
            });
            expect(res.status).toBe(403);
            expect(res.body.message).toBe(
                `persistentvolumeclaims "one-too-many" is forbidden: exceeded quota: client-quota, requested: persistentvolumeclaims=1, used: persistentvolumeclaims=${limit}, limited: persistentvolumeclaims=${limit}`,
            );
        } finally {
            for (const name of created) await fixture.kube.request("DELETE", `${paths.pvcs(NORDIC)}/${name}`);
        }
    });

    test("the LimitRange refuses a container over the tier's per-container maximum", async () => {
        const res = await dryRunPod(
            NORDIC,
            compliantPod("oversized", (s) => {
                s.containers[0].resources = { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: "2", memory: "3Gi" } };
            }),
        );
        expect(res.status).toBe(403);
        expect(res.message).toContain(`maximum cpu usage per Container is ${standard.containerLimits.max.cpu}, but limit is 2`);
        expect(res.message).toContain(`maximum memory usage per Container is ${standard.containerLimits.max.memory}, but limit is 3Gi`);
    });

    test("the same oversized container fits premium's LimitRange in abc (the limits follow the tier)", async () => {
        const res = await dryRunPod(
            ABC,
            compliantPod("oversized", (s) => {
                s.containers[0].resources = { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: "2", memory: "3Gi" } };
            }),
        );
        expect(res).toEqual({ status: 201, message: undefined });
    });
});
