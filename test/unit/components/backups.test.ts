/**
 * Backups, the cancelled tenant and the ordering of resources, through the
 * real program (eu-west): atelier (standard) is cancelled, abc (premium) is
 * active. What the README's "Lifecycle" table and seed deviation 6 promise
 * is stated literally: the exact backup command, the pod the daily CronJob and
 * the final-backup Job run, the CronJob suspended and the HPAs pinned to one
 * replica for a cancelled tenant, and the dependencies the engine must honour
 * (a grant after its database, a secret store after its namespace).
 */
import { SYNTH_TIMEOUT_MS, at, ofTenant, ofType, one, synth, type SynthResource, type SynthResult } from "../../support/synth";

let euWest: SynthResult;

beforeAll(async () => {
    euWest = await synth({ stack: "eu-west" });
}, SYNTH_TIMEOUT_MS);

const CRONJOB = "kubernetes:batch/v1:CronJob";
const JOB = "kubernetes:batch/v1:Job";
const URN = "urn:pulumi:eu-west::tenant-platform::collectverything:tenant:Tenant$collectverything:tenant:";

/** The backup command: tenantctl backup with the services' own credentials; the daily run keeps local copies and prunes (GFS), the final one locks. */
function command(tenant: string, label: "daily" | "final"): string[] {
    const tail = label === "daily" ? ["--local-dir", "/backup", "--prune"] : ["--final"];
    return ["tenantctl", "backup", "--tenant", tenant, "--services", "auth,products,orders", "--credentials-dir", "/credentials", ...tail];
}

/** The archive of eu-west: collectverything-archive-eu-west in AWS eu-west-1 (the stack's aws.region); credentials from Secrets, never literal. */
const ENV = [
    { name: "CV_S3_REGION", value: "eu-west-1" },
    { name: "CV_ARCHIVE_BUCKET", value: "collectverything-archive-eu-west" },
    { name: "CV_S3_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "archive-credentials", key: "AWS_ACCESS_KEY_ID" } } },
    { name: "CV_S3_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "archive-credentials", key: "AWS_SECRET_ACCESS_KEY" } } },
    { name: "CV_BUCKETS_S3_ENDPOINT", valueFrom: { secretKeyRef: { name: "bucket-backup-credentials", key: "S3_ENDPOINT" } } },
    { name: "CV_BUCKETS_S3_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "bucket-backup-credentials", key: "S3_ACCESS_KEY_ID" } } },
    { name: "CV_BUCKETS_S3_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "bucket-backup-credentials", key: "S3_SECRET_ACCESS_KEY" } } },
];

/** The pod both backup kinds run: restricted Pod Security, the backup volume, a scratch /tmp and each service's credentials read-only. */
function backupPod(tenant: string, label: "daily" | "final") {
    const services = ["auth", "products", "orders"];
    return {
        serviceAccountName: "tenant-app",
        automountServiceAccountToken: false,
        restartPolicy: "OnFailure",
        securityContext: { runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, seccompProfile: { type: "RuntimeDefault" } },
        containers: [
            {
                name: "backup",
                image: "ghcr.io/collectverything/tenantctl:0.1.0",
                command: command(tenant, label),
                env: ENV,
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
                volumeMounts: [
                    { name: "backup-storage", mountPath: "/backup" },
                    { name: "tmp", mountPath: "/tmp" },
                    ...services.map((s) => ({ name: `${s}-credentials`, mountPath: `/credentials/${s}`, readOnly: true })),
                ],
            },
        ],
        volumes: [
            { name: "backup-storage", persistentVolumeClaim: { claimName: "backup-pvc" } },
            { name: "tmp", emptyDir: {} },
            ...services.map((s) => ({ name: `${s}-credentials`, secret: { secretName: `${s}-db-credentials` } })),
        ],
    };
}

const atelier = () => ofTenant(euWest, "atelier");
const podLabels = (tenant: string, billing: string, costCenter: string, department: string, tier: string) => ({
    "app.kubernetes.io/managed-by": "pulumi",
    "billing-id": billing,
    "collectverything.com/region": "eu-west",
    "cost-center": costCenter,
    department,
    environment: "production",
    "managed-by": "pulumi",
    tenant: `client-${tenant}`,
    tier,
});

describe("the cancelled tenant atelier", () => {
    test("its daily CronJob is suspended, and otherwise the daily backup: 02:00 UTC, one at a time, 3 runs kept", () => {
        expect(at(one(atelier(), CRONJOB).inputs, "spec")).toEqual({
            schedule: "0 2 * * *",
            timeZone: "Etc/UTC",
            concurrencyPolicy: "Forbid",
            suspend: true,
            successfulJobsHistoryLimit: 3,
            failedJobsHistoryLimit: 3,
            jobTemplate: {
                spec: {
                    backoffLimit: 2,
                    template: {
                        metadata: { labels: podLabels("atelier", "sub_ate3318", "CC-ATE-002", "crafts", "standard") },
                        spec: backupPod("atelier", "daily"),
                    },
                },
            },
        });
    });

    test("a final-backup Job for the cancellation of 2026-11-10 copies every database and object to the archive under Object Lock (--final), not awaited, retried up to 6 times", () => {
        const job = one(atelier(), JOB);
        expect(job.name).toBe("atelier-final-backup");
        expect(at(job.inputs, "metadata", "name")).toBe("final-backup");
        expect(at(job.inputs, "metadata", "namespace")).toBe("e-commerce-client-atelier");
        // The cancellation it is taken for: purge accepts no Job of another one.
        expect(at(job.inputs, "metadata", "annotations")).toEqual({ "pulumi.com/skipAwait": "true", "collectverything.com/cancelled-at": "2026-11-10" });
        expect(at(job.inputs, "spec")).toEqual({
            backoffLimit: 6,
            template: { metadata: { labels: podLabels("atelier", "sub_ate3318", "CC-ATE-002", "crafts", "standard") }, spec: backupPod("atelier", "final") },
        });
    });

    test("its 4 HPAs are pinned to one replica", () => {
        const hpas = ofType(atelier(), "kubernetes:autoscaling/v2:HorizontalPodAutoscaler");
        expect(
            hpas.map((h) => [at(h.inputs, "spec", "scaleTargetRef", "name"), at(h.inputs, "spec", "minReplicas"), at(h.inputs, "spec", "maxReplicas")]).sort(),
        ).toEqual([
            ["api-gateway", 1, 1],
            ["auth-service", 1, 1],
            ["orders-service", 1, 1],
            ["products-service", 1, 1],
        ]);
    });

    test("it has no Ingress (not served); an active tenant has no final-backup Job", () => {
        expect(ofType(atelier(), "kubernetes:networking.k8s.io/v1:Ingress")).toEqual([]);
        expect(ofType(atelier(), "collectverything:tenant:TenantIngress")).toEqual([]);
        expect(ofType(ofTenant(euWest, "abc"), JOB)).toEqual([]);
        expect(ofType(euWest.resources, JOB).map((j) => j.name)).toEqual(["atelier-final-backup"]);
    });
});

describe("the backup volume", () => {
    test("backup-pvc: ReadWriteOnce, the tier's size, not awaited (it binds when a pod first mounts it)", () => {
        const pvc = one(ofTenant(euWest, "nordic"), "kubernetes:core/v1:PersistentVolumeClaim");
        expect(at(pvc.inputs, "metadata", "name")).toBe("backup-pvc");
        expect(at(pvc.inputs, "metadata", "annotations")).toEqual({ "pulumi.com/skipAwait": "true" });
        expect(at(pvc.inputs, "spec")).toEqual({ accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "10Gi" } } });
    });
});

describe("dependencies the engine must honour", () => {
    const deps = (r: SynthResource) => r.options.dependencies ?? [];

    test.each(["auth", "products", "orders"])("the %s grant is created after its database and its user", (service) => {
        const grant = one(ofTenant(euWest, "abc"), "mysql:index/grant:Grant", `abc-${service}-db-grant`);
        expect(deps(grant)).toEqual(
            expect.arrayContaining([
                `${URN}TenantDatabase$mysql:index/database:Database::abc-${service}-db`,
                `${URN}TenantDatabase$mysql:index/user:User::abc-${service}-db-user`,
            ]),
        );
    });

    test.each(["auth", "products", "orders"])("the %s ExternalSecret is created after the AWS secret it reads", (service) => {
        const es = one(ofTenant(euWest, "abc"), "kubernetes:external-secrets.io/v1:ExternalSecret", `abc-${service}-db-credentials`);
        expect(deps(es).filter((u) => u.includes("aws:secretsmanager/secret:Secret::"))).toHaveLength(1);
        expect(deps(es).find((u) => u.includes("aws:secretsmanager/secret:Secret::"))).toMatch(new RegExp(`::abc-${service}-db-password$`));
    });

    test("the cluster-wide secret store is created after the shared namespace", () => {
        const store = one(euWest.resources, "kubernetes:external-secrets.io/v1:ClusterSecretStore");
        expect(deps(store)).toEqual([
            "urn:pulumi:eu-west::tenant-platform::collectverything:tenant:SharedRegion$kubernetes:core/v1:Namespace::eu-west-namespace",
        ]);
    });
});

describe("the region's shared resources (SharedRegion, eu-west)", () => {
    test("the shared namespace: the region's labels, Pod Security baseline enforced and restricted warned", () => {
        const ns = one(euWest.resources, "kubernetes:core/v1:Namespace", "eu-west-namespace");
        expect(at(ns.inputs, "metadata")).toEqual({
            name: "e-commerce-shared",
            labels: {
                environment: "production",
                "managed-by": "pulumi",
                "app.kubernetes.io/managed-by": "pulumi",
                "collectverything.com/region": "eu-west",
                "pod-security.kubernetes.io/enforce": "baseline",
                "pod-security.kubernetes.io/warn": "restricted",
            },
        });
    });

    test("the aws-secrets-manager ClusterSecretStore: AWS Secrets Manager in eu-west-1, as the external-secrets ServiceAccount (IRSA)", () => {
        const store = one(euWest.resources, "kubernetes:external-secrets.io/v1:ClusterSecretStore");
        expect(at(store.inputs, "spec")).toEqual({
            provider: {
                aws: {
                    service: "SecretsManager",
                    region: "eu-west-1",
                    auth: { jwt: { serviceAccountRef: { name: "external-secrets", namespace: "e-commerce-shared" } } },
                },
            },
        });
    });
});

describe("generated credentials", () => {
    test("database and AMQP passwords are 32 characters, the MinIO secret key 40, none with special characters", () => {
        const passwords = ofType(ofTenant(euWest, "abc"), "random:index/randomPassword:RandomPassword");
        expect(Object.fromEntries(passwords.map((p) => [p.name, p.inputs]))).toEqual({
            "abc-auth-db-password": { length: 32, special: false },
            "abc-backup-secret": { length: 40, special: false },
            "abc-products-db-password": { length: 32, special: false },
            "abc-orders-db-password": { length: 32, special: false },
            "abc-amqp-password": { length: 32, special: false },
            "abc-app-secret": { length: 40, special: false },
            // Rotation slot b of each (no keepers at generation 0: the shipped manifest has no rotations).
            "abc-auth-db-password-b": { length: 32, special: false },
            "abc-products-db-password-b": { length: 32, special: false },
            "abc-orders-db-password-b": { length: 32, special: false },
            "abc-amqp-password-b": { length: 32, special: false },
            "abc-app-secret-b": { length: 40, special: false },
        });
    });

    test("each AWS secret describes whose password it holds", () => {
        const secrets = ofType(ofTenant(euWest, "abc"), "aws:secretsmanager/secret:Secret");
        expect(Object.fromEntries(secrets.map((s) => [s.inputs.name, s.inputs.description]))).toEqual({
            "/e-commerce/client-abc/archive-credentials": "Archive key of cv-archive-abc (tenants/abc/ only)",
            "/e-commerce/client-abc/auth-db-password": "Password of client_abc_auth_user on client_abc_auth_db",
            "/e-commerce/client-abc/products-db-password": "Password of client_abc_products_user on client_abc_products_db",
            "/e-commerce/client-abc/orders-db-password": "Password of client_abc_orders_user on client_abc_orders_db",
            "/e-commerce/client-abc/auth-db-password-b": "Password of client_abc_auth_usrb on client_abc_auth_db",
            "/e-commerce/client-abc/products-db-password-b": "Password of client_abc_products_usrb on client_abc_products_db",
            "/e-commerce/client-abc/orders-db-password-b": "Password of client_abc_orders_usrb on client_abc_orders_db",
        });
    });
});

describe("backup.image per stack", () => {
    let local: SynthResult;
    beforeAll(async () => {
        // Pulumi.local.yaml: the image scripts/lib/backup-image.sh builds for the local node.
        local = await synth({ stack: "local" });
    }, SYNTH_TIMEOUT_MS);

    test("the stack's image runs the daily and the final backups; eu-west keeps the default ghcr.io/collectverything/tenantctl:0.1.0", () => {
        const image = (r: SynthResult, type: string) =>
            ofType(r.resources, type).map((x) =>
                type === CRONJOB
                    ? at(x.inputs, "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "image")
                    : at(x.inputs, "spec", "template", "spec", "containers", 0, "image"),
            );
        expect(new Set(image(local, CRONJOB))).toEqual(new Set(["localhost/cv/backup:local"]));
        expect(image(local, JOB)).toEqual(["localhost/cv/backup:local"]);
        expect(new Set([...image(euWest, CRONJOB), ...image(euWest, JOB)])).toEqual(new Set(["ghcr.io/collectverything/tenantctl:0.1.0"]));
    });
});
