/**
 * Manifest changes over a tenant's life, as the eu-west stack sees them:
 * each variant of tenants.yaml is synthesized and compared with the shipped
 * one. What must never change is stated as sets of URNs and physical names
 * (a changed URN or name is a replacement: drop and recreate).
 */
import * as fs from "node:fs";
import { SHIPPED_MANIFEST, shippedEntries, tempDir, withTenant, writeManifest, type RawTenant } from "../../support/manifests";
import {
    DATA_TYPES,
    SYNTH_TIMEOUT_MS,
    T,
    at,
    byUrn,
    ofTenant,
    ofType,
    one,
    physicalName,
    synth,
    walk,
    type SynthResource,
    type SynthResult,
} from "../../support/synth";
import { loadManifest } from "../../../core/manifestSource";
import { parseStackConfig, StackConfigError } from "../../../stacks/config";
import { tierSpec } from "../../../lib/tiers";

const entries = shippedEntries();
const dir = tempDir("lifecycle");

const VARIANTS = {
    business: withTenant(entries, "abc", { tier: "business" }),
    reversed: [...entries].reverse(),
    renamed: withTenant(entries, "abc", { name: "ABC Retail Group (renamed)" }),
    cancelled: withTenant(entries, "abc", { status: "cancelled", cancelledAt: "2026-11-10" }),
    suspended: withTenant(entries, "abc", { status: "suspended" }),
    movedAway: withTenant(entries, "abc", { region: "us-east" }),
    newUsEast: [
        ...entries,
        {
            id: "zephyr",
            websiteId: 999,
            name: "Zephyr Kites",
            domain: "client-zephyr.collectverything.com",
            customDomains: ["shop.zephyr-kites.com"],
            tier: "premium",
            region: "us-east",
            billingId: "sub_zep001",
            costCenter: "CC-ZEP-001",
            department: "toys",
            createdDate: "2025-12-01",
            status: "active",
        },
    ],
} satisfies Record<string, RawTenant[]>;

let base: SynthResult;
const synths: Partial<Record<keyof typeof VARIANTS, SynthResult>> = {};

beforeAll(async () => {
    base = await synth({ stack: "eu-west", manifest: writeManifest(dir, "base", entries) });
    for (const [name, variant] of Object.entries(VARIANTS) as [keyof typeof VARIANTS, RawTenant[]][]) {
        synths[name] = await synth({ stack: "eu-west", manifest: writeManifest(dir, name, variant) });
    }
}, SYNTH_TIMEOUT_MS * 3);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const variant = (name: keyof typeof VARIANTS) => synths[name] as SynthResult;
const urns = (resources: readonly SynthResource[]) => new Set(resources.map((r) => r.urn));
/** The resources as JSON, in URN order (registration order depends on promise scheduling). */
const canonical = (resources: readonly SynthResource[]) => JSON.stringify([...resources].sort((a, b) => a.urn.localeCompare(b.urn)));
const names = (resources: readonly SynthResource[]) =>
    new Map(resources.filter((r) => physicalName(r) !== undefined).map((r) => [r.urn, `${r.type} ${physicalName(r)}`]));

/** URNs whose inputs differ between two results (both must hold the URN). */
function changedInputs(before: SynthResult, after: SynthResult, normalize: (inputs: unknown) => unknown = (x) => x): string[] {
    const a = byUrn(before.resources);
    return after.resources
        .filter((r) => a.has(r.urn) && JSON.stringify(normalize(r.inputs)) !== JSON.stringify(normalize((a.get(r.urn) as SynthResource).inputs)))
        .map((r) => r.urn)
        .sort();
}

const abcUrn = (chain: string, name: string) => `urn:pulumi:eu-west::tenant-platform::collectverything:tenant:Tenant$${chain}::${name}`;
const NS_CHAIN = "collectverything:tenant:TenantNamespace";
const DATA_OF_ABC = () => ofTenant(base, "abc").filter((r) => (DATA_TYPES as readonly string[]).includes(r.type));

test("the base synth is the shipped manifest's", () => {
    expect(loadManifest(SHIPPED_MANIFEST).tenants.map((t) => t.id)).toEqual(entries.map((t) => t.id));
    expect(ofTenant(base, "abc")).toHaveLength(94);
    // Namespace, PVC, 3 databases, 3 buckets, vhost, 2 queues.
    expect(DATA_OF_ABC()).toHaveLength(11);
});

/** abc's objects whose values the tier sizes: quota, limits, HPAs, the backup volume and the daily backup. */
const SIZED_BY_TIER = [
    abcUrn(`${NS_CHAIN}$kubernetes:core/v1:ResourceQuota`, "abc-quota"),
    abcUrn(`${NS_CHAIN}$kubernetes:core/v1:LimitRange`, "abc-limits"),
    ...["api-gateway", "auth-service", "products-service", "orders-service"].map((w) =>
        abcUrn(`${NS_CHAIN}$kubernetes:autoscaling/v2:HorizontalPodAutoscaler`, `abc-${w}-hpa`),
    ),
    // The PVC request follows the tier but is under ignoreChanges: the volume is never resized by an update.
    abcUrn(`${NS_CHAIN}$kubernetes:core/v1:PersistentVolumeClaim`, "abc-backup-pvc"),
    // The tracing context carries tenant.tier.
    abcUrn(`${NS_CHAIN}$kubernetes:core/v1:ConfigMap`, "abc-otel"),
];

describe("(a) abc moves from premium to business", () => {
    /** Inputs without the tier's own marks: the tier label, AWS tag and namespace annotation. */
    const withoutTierMarks = (inputs: unknown): unknown => {
        const copy = JSON.parse(JSON.stringify(inputs)) as unknown;
        walk(copy, (_key, value) => {
            if (value !== null && typeof value === "object" && !Array.isArray(value)) {
                const o = value as Record<string, unknown>;
                if (o.tier === "premium" || o.tier === "business") delete o.tier;
                if (o["subscription-tier"] === "premium" || o["subscription-tier"] === "business") delete o["subscription-tier"];
            }
        });
        const top = copy as Record<string, unknown>;
        if (top.tags && typeof top.tags === "object") delete (top.tags as Record<string, unknown>).tier;
        return copy;
    };

    test("no logical name changes: the set of URNs is identical", () => {
        expect(urns(variant("business").resources)).toEqual(urns(base.resources));
    });

    test("no physical name changes", () => {
        expect(names(variant("business").resources)).toEqual(names(base.resources));
    });

    test("only quota, limits, HPAs and the backup sizing change, besides the tier labels (retention is the same GFS for every tier)", () => {
        expect(changedInputs(base, variant("business"), withoutTierMarks)).toEqual([...SIZED_BY_TIER].sort());
    });

    test("the changed values are the business tier's", () => {
        const abc = ofTenant(variant("business"), "abc");
        const business = tierSpec("business");
        expect(at(one(abc, T.ResourceQuota).inputs, "spec", "hard")).toEqual(business.quota);
        expect(at(one(abc, T.LimitRange).inputs, "spec", "limits")).toEqual([{ type: "Container", ...business.containerLimits }]);
        for (const h of ofType(abc, T.HPA)) expect([at(h.inputs, "spec", "minReplicas"), at(h.inputs, "spec", "maxReplicas")]).toEqual([6, 15]);
        expect(at(one(abc, T.PVC).inputs, "spec", "resources", "requests", "storage")).toBe("100Gi");
        expect(at(one(abc, T.CronJob).inputs, "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "command")).toEqual(
            at(one(ofTenant(base, "abc"), T.CronJob).inputs, "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "command"),
        );
        expect(at(one(abc, T.Namespace).inputs, "metadata", "labels", "tier")).toBe("business");
        expect(at(one(abc, T.Namespace).inputs, "metadata", "annotations", "subscription-tier")).toBe("business");
    });

    test("exactly the tier's objects change: namespace, quota, limits, HPAs, backup volume and CronJob; nothing of other tenants", () => {
        // The tier is a label of the namespace and of the backup pods only, so a tier
        // change does not touch every object of the tenant.
        // The CronJob changes by its pods' tier label only.
        expect(changedInputs(base, variant("business"))).toEqual(
            [
                abcUrn(`${NS_CHAIN}$kubernetes:core/v1:Namespace`, "abc-namespace"),
                abcUrn(`${NS_CHAIN}$kubernetes:batch/v1:CronJob`, "abc-db-backup"),
                ...SIZED_BY_TIER,
            ].sort(),
        );
    });
});

describe("(b) reversing the order of tenants.yaml", () => {
    test("gives identical resources: same URNs, same inputs, same parents, same protection", () => {
        const a = byUrn(base.resources);
        const b = byUrn(variant("reversed").resources);
        expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
        const differing = [...a.keys()].filter((urn) => JSON.stringify(a.get(urn)) !== JSON.stringify(b.get(urn)));
        expect(differing).toEqual([]);
    });
});

describe("(c) renaming abc's display name", () => {
    test("changes no URN and no physical name", () => {
        expect(urns(variant("renamed").resources)).toEqual(urns(base.resources));
        expect(names(variant("renamed").resources)).toEqual(names(base.resources));
    });

    test("updates exactly one value: the namespace's display-name annotation", () => {
        expect(changedInputs(base, variant("renamed"))).toEqual([abcUrn(`${NS_CHAIN}$kubernetes:core/v1:Namespace`, "abc-namespace")]);
        const ns = one(ofTenant(variant("renamed"), "abc"), T.Namespace);
        expect(at(ns.inputs, "metadata", "annotations", "display-name")).toBe("ABC Retail Group (renamed)");
    });
});

describe("(d) cancelling abc on 2026-11-10", () => {
    const cancelled = () => ofTenant(variant("cancelled"), "abc");

    test("removes the Ingress and the TenantIngress, adds the final-backup Job, and nothing else", () => {
        const before = urns(ofTenant(base, "abc"));
        const after = urns(cancelled());
        expect([...before].filter((u) => !after.has(u)).sort()).toEqual(
            [
                "urn:pulumi:eu-west::tenant-platform::collectverything:tenant:Tenant$collectverything:tenant:TenantIngress::abc",
                "urn:pulumi:eu-west::tenant-platform::collectverything:tenant:Tenant$collectverything:tenant:TenantIngress$kubernetes:networking.k8s.io/v1:Ingress::abc-ingress",
            ].sort(),
        );
        expect([...after].filter((u) => !before.has(u))).toEqual([abcUrn(`${NS_CHAIN}$kubernetes:batch/v1:Job`, "abc-final-backup")]);
    });

    test("keeps every data resource: databases, buckets, vhost, queues, PVC, namespace", () => {
        const after = byUrn(cancelled());
        const lost = DATA_OF_ABC().filter((r) => !after.has(r.urn) || physicalName(after.get(r.urn) as SynthResource) !== physicalName(r));
        expect(lost.map((r) => r.urn)).toEqual([]);
        for (const r of DATA_OF_ABC()) expect(after.get(r.urn)?.protect).toBe(true);
    });

    test("labels the namespace with the deletion date, 30 days after cancelledAt", () => {
        const labels = at(one(cancelled(), T.Namespace).inputs, "metadata", "labels") as Record<string, string>;
        expect(labels["collectverything.com/deletion-date"]).toBe("2026-12-10");
        expect(labels["collectverything.com/lifecycle"]).toBe("cancelled");
        expect(at(one(cancelled(), T.Namespace).inputs, "metadata", "annotations")).toMatchObject({
            "cancelled-at": "2026-11-10",
            "deletion-date": "2026-12-10",
        });
        expect(at(one(ofTenant(base, "abc"), T.Namespace).inputs, "metadata", "labels", "collectverything.com/deletion-date")).toBeUndefined();
    });

    test("the final-backup Job copies every database and object to the archive under Object Lock (--final); the daily CronJob is suspended", () => {
        const job = one(cancelled(), T.Job);
        expect(at(job.inputs, "metadata", "name")).toBe("final-backup");
        expect(at(job.inputs, "spec", "template", "spec", "containers", 0, "command")).toEqual([
            "tenantctl",
            "backup",
            "--tenant",
            "abc",
            "--services",
            "auth,products,orders",
            "--credentials-dir",
            "/credentials",
            "--final",
        ]);
        expect(at(job.inputs, "spec", "template", "spec", "volumes", 0)).toEqual({
            name: "backup-storage",
            persistentVolumeClaim: { claimName: "backup-pvc" },
        });
        expect(at(one(cancelled(), T.CronJob).inputs, "spec", "suspend")).toBe(true);
        expect(at(one(ofTenant(base, "abc"), T.CronJob).inputs, "spec", "suspend")).toBe(false);
    });

    test("HPAs are pinned to one replica", () => {
        for (const h of ofType(cancelled(), T.HPA)) expect([at(h.inputs, "spec", "minReplicas"), at(h.inputs, "spec", "maxReplicas")]).toEqual([1, 1]);
    });
});

describe("(e) suspending abc", () => {
    const suspended = () => ofTenant(variant("suspended"), "abc");

    test("removes the Ingress (and only it, with its component)", () => {
        const after = urns(suspended());
        const removed = [...urns(ofTenant(base, "abc"))].filter((u) => !after.has(u));
        expect(removed.sort()).toEqual(
            [
                "urn:pulumi:eu-west::tenant-platform::collectverything:tenant:Tenant$collectverything:tenant:TenantIngress::abc",
                "urn:pulumi:eu-west::tenant-platform::collectverything:tenant:Tenant$collectverything:tenant:TenantIngress$kubernetes:networking.k8s.io/v1:Ingress::abc-ingress",
            ].sort(),
        );
        expect(after.size).toBe(92);
        expect(ofType(suspended(), T.Ingress)).toEqual([]);
    });

    test("pins the 4 HPAs to min = max = 1", () => {
        const hpas = ofType(suspended(), T.HPA);
        expect(hpas).toHaveLength(4);
        for (const h of hpas) expect([at(h.inputs, "spec", "minReplicas"), at(h.inputs, "spec", "maxReplicas")]).toEqual([1, 1]);
    });

    test("keeps every data resource and the daily backups, without a deletion date", () => {
        const after = byUrn(suspended());
        expect(
            DATA_OF_ABC()
                .filter((r) => !after.has(r.urn))
                .map((r) => r.urn),
        ).toEqual([]);
        expect(at(one(suspended(), T.CronJob).inputs, "spec", "suspend")).toBe(false);
        expect(ofType(suspended(), T.Job)).toEqual([]);
        const labels = at(one(suspended(), T.Namespace).inputs, "metadata", "labels") as Record<string, string>;
        expect(labels["collectverything.com/lifecycle"]).toBe("suspended");
        expect(labels["collectverything.com/deletion-date"]).toBeUndefined();
    });
});

describe("(f) tenants of another region never appear in eu-west", () => {
    const mentions = (result: SynthResult, id: string) =>
        result.resources.filter((r) => r.tenant === id || new RegExp(`client[-_]${id}(?![a-z0-9])`).test(JSON.stringify(r.inputs))).map((r) => r.urn);

    test("the shipped us-east and apac tenants are absent", () => {
        for (const id of ["xyz", "maple", "sakura", "kiwi"]) expect(mentions(base, id)).toEqual([]);
    });

    test("a new us-east tenant is absent, and the eu-west stack is unchanged by it", () => {
        expect(mentions(variant("newUsEast"), "zephyr")).toEqual([]);
        expect(canonical(variant("newUsEast").resources)).toBe(canonical(base.resources));
    });

    test("abc with region us-east leaves eu-west entirely; the other eu-west tenants are untouched", () => {
        const moved = variant("movedAway");
        expect(mentions(moved, "abc")).toEqual([]);
        const others = (r: SynthResult) => r.resources.filter((x) => x.tenant !== "abc");
        expect(canonical(others(moved))).toBe(canonical(others(base)));
    });
});

describe("(g) stack configuration", () => {
    const endpoints = {
        mysql: { endpoint: "mysql.eu-west.internal:3306", username: "pulumi_provisioner" },
        minio: { server: "minio.eu-west.internal:9000", user: "pulumi-provisioner" },
        rabbitmq: { endpoint: "https://rabbitmq.eu-west.internal:15671", username: "pulumi-provisioner" },
    };
    const problemsOf = (stack: string, raw: Record<string, unknown>): readonly string[] => {
        try {
            parseStackConfig(stack, raw);
        } catch (err) {
            expect(err).toBeInstanceOf(StackConfigError);
            return (err as StackConfigError).problems;
        }
        throw new Error("the configuration was accepted");
    };

    test("a complete region config is accepted, with the defaults filled in", () => {
        const cfg = parseStackConfig("eu-west", { region: "eu-west", ...endpoints });
        expect(cfg).toMatchObject({
            region: "eu-west",
            environment: "production",
            manifest: "tenants.yaml",
            services: ["auth", "products", "orders"],
            queues: ["auth", "orders"],
            features: { databases: true, buckets: true, vhosts: true },
            credentialsBackend: "kubernetes",
        });
    });

    test.each([
        ["eu-west", "us-east"],
        ["us-east", "apac"],
        ["apac", "eu-west"],
    ])("stack %s declaring region %s is refused, naming tenant-platform:region and the fix", (stack, region) => {
        expect(problemsOf(stack, { region, ...endpoints })).toEqual([
            `tenant-platform:region is ${region} but the stack is named ${stack}. Fix: a region stack deploys its own region only; set region: ${stack} in Pulumi.${stack}.yaml`,
        ]);
        expect(() => parseStackConfig(stack, { region, ...endpoints })).toThrow(`stack "${stack}" has 1 configuration problem; nothing was applied:`);
    });

    test("a stack not named after a region (local) may act as any region", () => {
        expect(parseStackConfig("local", { region: "apac", ...endpoints }).region).toBe("apac");
    });

    test.each([
        [{ regoin: "eu-west" }, "tenant-platform: unknown key regoin. Fix: remove it or correct its spelling"],
        [{ kubernetes: { contxt: "cv-eu-west-prod" } }, "tenant-platform:kubernetes: unknown key contxt. Fix: remove it or correct its spelling"],
        [{ features: { database: false } }, "tenant-platform:features: unknown key database. Fix: remove it or correct its spelling"],
    ])("unknown keys are refused: %j", (extra, message) => {
        const problems = problemsOf("eu-west", { region: "eu-west", ...endpoints, ...extra });
        expect(problems).toHaveLength(1);
        expect(problems[0].startsWith(message)).toBe(true);
    });

    test("the secret keys are not unknown keys", () => {
        expect(parseStackConfig("eu-west", { region: "eu-west", ...endpoints, mysqlPassword: "x", minioPassword: "y", rabbitmqPassword: "z" }).region).toBe(
            "eu-west",
        );
    });

    test.each([
        ["mysql", "databases"],
        ["minio", "buckets"],
        ["rabbitmq", "vhosts"],
    ] as const)("features.%s on without the %s endpoint section is refused, naming both ways out", (section, feature) => {
        const raw: Record<string, unknown> = { region: "eu-west", ...endpoints };
        delete raw[section];
        expect(problemsOf("eu-west", raw)).toEqual([
            `tenant-platform:${section} is missing but features.${feature} is on. Fix: add the ${section} endpoint section, or set tenant-platform:features.${feature}: false to stage this region without ${feature}`,
        ]);
        expect(parseStackConfig("eu-west", { ...raw, features: { [feature]: false } }).features[feature]).toBe(false);
    });

    test("every missing endpoint section is reported at once", () => {
        expect(problemsOf("eu-west", { region: "eu-west" })).toHaveLength(3);
    });

    test("aws-secrets-manager without the aws section is refused", () => {
        expect(problemsOf("eu-west", { region: "eu-west", ...endpoints, credentialsBackend: "aws-secrets-manager" })).toEqual([
            "tenant-platform:aws is missing but credentialsBackend is aws-secrets-manager. Fix: add aws: { region: <aws region> }",
        ]);
    });

    test("the shipped stack files parse", () => {
        const { loadStackConfig } = require("../../../core/stackFile") as typeof import("../../../core/stackFile");
        for (const stack of ["eu-west", "us-east", "apac", "local"]) {
            expect(loadStackConfig(stack).region).toBe(stack === "local" ? "eu-west" : stack);
        }
    });
});
