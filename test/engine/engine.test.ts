/**
 * Engine integration test: the real program, the real Pulumi engine
 * (Automation API over the project directory, stack `local`) and the
 * kubernetes provider against the loopback API server of `make local-up`.
 *
 * One `up` of the eu-west tenants of tenants.yaml (abc premium, nordic
 * standard, lumiere business, atelier cancelled), then, in order: what the
 * API server holds, a no-op second `up`, a reordered manifest, a tier change,
 * a cancellation, and a `destroy` that stops at protected resources.
 */
import type { OpType, UpResult } from "@pulumi/pulumi/automation";
import { deletionDate } from "../../lib/manifest";
import { tierSpec, type Tier } from "../../lib/tiers";
import { EngineFixture, HOOK_TIMEOUT_MS, assertClusterFree, changeLog, changedUrns, manifestOf, repoManifest } from "../support/engine";
import { paths, type KubeObject } from "../support/k8s";

jest.setTimeout(HOOK_TIMEOUT_MS);

const EU_WEST = ["abc", "nordic", "lumiere", "atelier"] as const;
const OTHER_REGIONS = ["xyz", "sakura", "kiwi", "maple"] as const;
const TIERS: Record<(typeof EU_WEST)[number], Tier> = { abc: "premium", nordic: "standard", lumiere: "business", atelier: "standard" };
const ACTIVE = ["abc", "nordic", "lumiere"] as const;
const SHARED = "e-commerce-shared";
const ns = (id: string) => `e-commerce-client-${id}`;
const NAMESPACES = [...EU_WEST.map(ns), SHARED];
const WORKLOADS = ["api-gateway", "auth-service", "products-service", "orders-service"];

const fixture = new EngineFixture("engine");
let firstUp: UpResult;
let firstUpSeconds: number;

/** The step counts of a summary, without the zero entries. */
function counts(changes: Record<string, number> | undefined): Record<string, number> {
    return Object.fromEntries(Object.entries(changes ?? {}).filter(([, n]) => n > 0));
}

async function one(listPath: string, name: string): Promise<KubeObject> {
    return fixture.kube.get(`${listPath}/${name}`);
}

beforeAll(async () => {
    await assertClusterFree(fixture.kube, NAMESPACES);
    await fixture.init(repoManifest());
    const started = Date.now();
    firstUp = await fixture.stack.up({ ...fixture.opts });
    firstUpSeconds = (Date.now() - started) / 1000;
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
    await fixture.teardown(NAMESPACES);
}, HOOK_TIMEOUT_MS);

describe("first up of the eu-west tenants", () => {
    test("succeeds, creating every resource, with the region's outputs", () => {
        expect(firstUp.summary.result).toBe("succeeded");
        const changes = counts(firstUp.summary.resourceChanges);
        expect(Object.keys(changes)).toEqual(["create"]);
        expect(changes.create).toBeGreaterThan(60);
        expect(firstUp.outputs.region.value).toBe("eu-west");
        expect(firstUp.outputs.tenantCount.value).toBe(4);
        expect(Object.keys(firstUp.outputs.tenants.value).sort()).toEqual([...EU_WEST].sort());
        console.log(`first up: ${changes.create} resources created in ${firstUpSeconds.toFixed(1)} s`);
    });

    test("creates no namespace for the tenants of other regions", async () => {
        for (const id of OTHER_REGIONS)
            expect({ id, status: (await fixture.kube.request("GET", paths.namespace(ns(id)))).status }).toEqual({ id, status: 404 });
    });

    test.each(EU_WEST)("namespace of %s carries the tenant, tier, region, lifecycle and Pod Security restricted labels", async (id) => {
        const n = await fixture.kube.get(paths.namespace(ns(id)));
        expect(n.metadata.labels).toEqual(
            expect.objectContaining({
                tenant: `client-${id}`,
                tier: TIERS[id],
                environment: "local",
                "collectverything.com/region": "eu-west",
                "collectverything.com/lifecycle": id === "atelier" ? "cancelled" : "active",
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            }),
        );
        expect(n.metadata.annotations).toEqual(expect.objectContaining({ domain: `client-${id}.collectverything.com`, "subscription-tier": TIERS[id] }));
    });

    test.each(EU_WEST)("MTB configure namespace resource quotas: %s's ResourceQuota holds its tier's values", async (id) => {
        const quotas = await fixture.kube.list(paths.resourceQuotas(ns(id)));
        expect(quotas.map((q) => q.metadata.name)).toEqual(["client-quota"]);
        expect(quotas[0].spec.hard).toEqual({ ...tierSpec(TIERS[id]).quota });
    });

    test.each(EU_WEST)("MTB configure namespace object limits: %s's LimitRange holds its tier's container limits", async (id) => {
        const ranges = await fixture.kube.list(paths.limitRanges(ns(id)));
        expect(ranges.map((r) => r.metadata.name)).toEqual(["pod-limits"]);
        const c = tierSpec(TIERS[id]).containerLimits;
        expect(ranges[0].spec.limits).toEqual([
            { type: "Container", max: { ...c.max }, min: { ...c.min }, default: { ...c.default }, defaultRequest: { ...c.defaultRequest } },
        ]);
    });

    test.each(EU_WEST)(
        "%s's NetworkPolicy selects every pod, both directions, and admits only the ingress controller, its own pods and Prometheus",
        async (id) => {
            const policies = await fixture.kube.list(paths.networkPolicies(ns(id)));
            expect(policies.map((p) => p.metadata.name)).toEqual(["client-isolation"]);
            const spec = policies[0].spec;
            expect(spec.podSelector).toEqual({});
            expect(spec.policyTypes).toEqual(["Ingress", "Egress"]);
            const nsSel = (name: string) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } } });
            expect(spec.ingress).toEqual([
                { from: [nsSel("ingress-nginx")] },
                { from: [{ podSelector: {} }] },
                { from: [{ ...nsSel(SHARED), podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } } }] },
            ]);
            // Egress: own pods, the shared services' ports, DNS in kube-system; nothing else.
            expect(spec.egress.map((e: KubeObject) => e.to)).toEqual([[{ podSelector: {} }], [nsSel(SHARED)], [nsSel("kube-system")]]);
            expect(spec.egress[1].ports.map((p: KubeObject) => `${p.protocol}/${p.port}`).sort()).toEqual(["TCP/3306", "TCP/5672", "TCP/9000"]);
            expect(spec.egress[2].ports.map((p: KubeObject) => `${p.protocol}/${p.port}`).sort()).toEqual(["TCP/53", "UDP/53"]);
        },
    );

    test.each(EU_WEST)("%s's client-admin Role is read-only and bound to the tenant's admin group only", async (id) => {
        const role = await one(paths.roles(ns(id)), "client-admin");
        const verbs = new Set(role.rules.flatMap((r: KubeObject) => r.verbs as string[]));
        expect([...verbs].sort()).toEqual(["get", "list", "watch"]);
        expect(role.rules.flatMap((r: KubeObject) => r.resources as string[]).sort()).toEqual([
            "configmaps",
            "deployments",
            "pods",
            "pods/log",
            "replicasets",
            "services",
        ]);
        const binding = await one(paths.roleBindings(ns(id)), "client-admin");
        expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "client-admin" });
        expect(binding.subjects).toEqual([{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: `client-${id}-admins` }]);
    });

    test.each(ACTIVE)("active tenant %s has an Ingress for its domain and custom domains, on TLS", async (id) => {
        const ingresses = await fixture.kube.list(paths.ingresses(ns(id)));
        expect(ingresses.map((i) => i.metadata.name)).toEqual([`client-${id}-ingress`]);
        const tenant = firstUp.outputs.tenants.value[id] as { hosts: string[] };
        const spec = ingresses[0].spec;
        expect(spec.ingressClassName).toBe("nginx");
        expect(spec.rules.map((r: KubeObject) => r.host)).toEqual(tenant.hosts);
        expect(spec.tls).toEqual([{ hosts: tenant.hosts, secretName: `client-${id}-tls` }]);
        expect(ingresses[0].metadata.annotations["cert-manager.io/cluster-issuer"]).toBe("letsencrypt-prod");
    });

    test.each(EU_WEST)("%s's HPAs scale every workload within its tier's replica range (1..1 once cancelled)", async (id) => {
        const hpas = await fixture.kube.list(paths.hpas(ns(id)));
        const expected = id === "atelier" ? { min: 1, max: 1 } : tierSpec(TIERS[id]).replicas;
        expect(hpas.map((h) => h.metadata.name).sort()).toEqual(WORKLOADS.map((w) => `${w}-hpa`).sort());
        for (const h of hpas) {
            expect({ name: h.metadata.name, min: h.spec.minReplicas, max: h.spec.maxReplicas, target: h.spec.scaleTargetRef.name }).toEqual({
                name: h.metadata.name,
                min: expected.min,
                max: expected.max,
                target: h.metadata.name.replace(/-hpa$/, ""),
            });
        }
    });

    test.each(EU_WEST)("%s's daily backup CronJob runs at 02:00 UTC under Pod Security restricted settings, suspended only when cancelled", async (id) => {
        const cron = await one(paths.cronJobs(ns(id)), "db-backup");
        expect({ schedule: cron.spec.schedule, timeZone: cron.spec.timeZone, suspend: cron.spec.suspend, concurrency: cron.spec.concurrencyPolicy }).toEqual({
            schedule: "0 2 * * *",
            timeZone: "Etc/UTC",
            suspend: id === "atelier",
            concurrency: "Forbid",
        });
        const pod = cron.spec.jobTemplate.spec.template.spec;
        expect(pod.securityContext).toEqual(expect.objectContaining({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } }));
        expect(pod.containers[0].securityContext).toEqual(expect.objectContaining({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } }));
        // The same GFS retention for every tier (lib/retention.ts), applied by `tenantctl backup --prune`.
        expect(pod.containers[0].command).toEqual([
            "tenantctl",
            "backup",
            "--tenant",
            id,
            "--services",
            "auth,products,orders",
            "--credentials-dir",
            "/credentials",
            "--local-dir",
            "/backup",
            "--prune",
        ]);
    });

    test("cancelled tenant atelier: no Ingress, the deletion-date label, and a final-backup Job", async () => {
        expect(await fixture.kube.list(paths.ingresses(ns("atelier")))).toEqual([]);
        const n = await fixture.kube.get(paths.namespace(ns("atelier")));
        expect(n.metadata.labels["collectverything.com/deletion-date"]).toBe(deletionDate("2026-11-10"));
        expect(n.metadata.labels["collectverything.com/deletion-date"]).toBe("2026-12-10");
        expect((await fixture.kube.list(paths.jobs(ns("atelier")))).map((j) => j.metadata.name)).toEqual(["final-backup"]);
        for (const id of ACTIVE) {
            const active = await fixture.kube.get(paths.namespace(ns(id)));
            expect({ id, label: active.metadata.labels["collectverything.com/deletion-date"] }).toEqual({ id, label: undefined });
        }
    });
});

describe("idempotence and stable names", () => {
    test("a second up reports zero changes", async () => {
        const log = changeLog();
        const second = await fixture.stack.up({ ...fixture.opts, onEvent: log.onEvent });
        expect(counts(second.summary.resourceChanges)).toEqual({ same: counts(firstUp.summary.resourceChanges).create });
        expect(changedUrns(log)).toEqual({});
    });

    test("reordering the manifest: the preview shows no changes", async () => {
        fixture.setManifest(manifestOf([...OTHER_REGIONS, ...[...EU_WEST].reverse()]));
        const log = changeLog();
        const preview = await fixture.stack.preview({ ...fixture.opts, onEvent: log.onEvent });
        expect(Object.keys(counts(preview.changeSummary))).toEqual(["same"]);
        expect(changedUrns(log)).toEqual({});
    });
});

describe("a tier change (nordic standard -> premium)", () => {
    const upgraded = () => manifestOf([...EU_WEST, ...OTHER_REGIONS], { nordic: { tier: "premium" } });
    const REPLACING: OpType[] = ["create", "delete", "replace", "create-replacement", "delete-replaced", "discard", "import"];

    test("the preview shows only updates, all of them nordic's, no replace or delete", async () => {
        fixture.setManifest(upgraded());
        const log = changeLog();
        const preview = await fixture.stack.preview({ ...fixture.opts, onEvent: log.onEvent });
        const summary = counts(preview.changeSummary);
        expect(Object.keys(summary).sort()).toEqual(["same", "update"]);
        const changed = changedUrns(log);
        const ops = new Set(Object.values(changed).flat());
        expect([...ops].filter((op) => REPLACING.includes(op))).toEqual([]);
        for (const urn of Object.keys(changed)) expect(urn).toMatch(/::nordic-/);
        // What the tier sets: quota, container limits, HPAs, namespace labels.
        const changedNames = Object.keys(changed).map((urn) => urn.split("::").pop());
        expect(changedNames).toEqual(expect.arrayContaining(["nordic-namespace", "nordic-quota", "nordic-limits", "nordic-api-gateway-hpa"]));
    });

    test("the up applies it in place: same namespace and quota objects (uids), premium values on the server", async () => {
        const before = {
            namespace: (await fixture.kube.get(paths.namespace(ns("nordic")))).metadata.uid,
            quota: (await one(paths.resourceQuotas(ns("nordic")), "client-quota")).metadata.uid,
            pvc: (await one(paths.pvcs(ns("nordic")), "backup-pvc")).metadata.uid,
        };
        const log = changeLog();
        const result = await fixture.stack.up({ ...fixture.opts, onEvent: log.onEvent });
        expect(Object.keys(counts(result.summary.resourceChanges)).sort()).toEqual(["same", "update"]);
        const quota = await one(paths.resourceQuotas(ns("nordic")), "client-quota");
        expect(quota.spec.hard).toEqual({ ...tierSpec("premium").quota });
        const after = {
            namespace: (await fixture.kube.get(paths.namespace(ns("nordic")))).metadata.uid,
            quota: quota.metadata.uid,
            pvc: (await one(paths.pvcs(ns("nordic")), "backup-pvc")).metadata.uid,
        };
        expect(after).toEqual(before);
        const hpa = await one(paths.hpas(ns("nordic")), "api-gateway-hpa");
        expect({ min: hpa.spec.minReplicas, max: hpa.spec.maxReplicas }).toEqual(tierSpec("premium").replicas);
        // The backup volume is sized once (ignoreChanges): the upgrade does not try to resize it.
        expect((await one(paths.pvcs(ns("nordic")), "backup-pvc")).spec.resources.requests.storage).toBe(`${tierSpec("standard").backupVolumeGiB}Gi`);
    });
});

describe("cancelling an active tenant (lumiere)", () => {
    test("its Ingress is deleted, the namespace gets its deletion date, backups turn into one final backup", async () => {
        const nsUid = (await fixture.kube.get(paths.namespace(ns("lumiere")))).metadata.uid;
        fixture.setManifest(
            manifestOf([...EU_WEST, ...OTHER_REGIONS], { nordic: { tier: "premium" }, lumiere: { status: "cancelled", cancelledAt: "2026-11-20" } }),
        );
        const log = changeLog();
        const result = await fixture.stack.up({ ...fixture.opts, onEvent: log.onEvent });
        expect(result.summary.result).toBe("succeeded");
        const changed = changedUrns(log);
        const deleted = Object.entries(changed)
            .filter(([, ops]) => ops.includes("delete"))
            .map(([urn]) => urn.split("::").pop());
        expect(deleted.sort()).toEqual(["lumiere", "lumiere-ingress"]);
        const replaced = Object.entries(changed).filter(([, ops]) => ops.some((op) => op.includes("replace")));
        expect(replaced).toEqual([]);

        expect(await fixture.kube.list(paths.ingresses(ns("lumiere")))).toEqual([]);
        const n = await fixture.kube.get(paths.namespace(ns("lumiere")));
        expect(n.metadata.uid).toBe(nsUid);
        expect(n.metadata.labels["collectverything.com/deletion-date"]).toBe("2026-12-20");
        expect(n.metadata.labels["collectverything.com/lifecycle"]).toBe("cancelled");
        expect((await one(paths.cronJobs(ns("lumiere")), "db-backup")).spec.suspend).toBe(true);
        expect((await fixture.kube.list(paths.jobs(ns("lumiere")))).map((j) => j.metadata.name)).toEqual(["final-backup"]);
        // The other tenants keep their Ingress.
        for (const id of ["abc", "nordic"]) expect((await fixture.kube.list(paths.ingresses(ns(id)))).length).toBe(1);
    });
});

describe("destroy", () => {
    test("stops at protected resources: the error names protection and every namespace survives", async () => {
        const err = await fixture.stack.destroy({ ...fixture.opts }).then(
            () => undefined,
            (e: unknown) => e as Error,
        );
        expect(err).toBeDefined();
        expect(String(err?.message)).toMatch(/protect/i);
        for (const name of NAMESPACES) {
            const res = await fixture.kube.request("GET", paths.namespace(name));
            expect({ name, status: res.status, phase: res.body.status?.phase }).toEqual({ name, status: 200, phase: "Active" });
        }
        // The data-bearing objects inside survive too.
        expect((await one(paths.pvcs(ns("abc")), "backup-pvc")).metadata.deletionTimestamp).toBeUndefined();
    });
});
