/**
 * Each component constructed on its own, with only its required args, under
 * recorded mocks (test/support/synth.ts `recordComponent`): the defaults its
 * args document (JSDoc "Default: ...") are what it registers. The program
 * always passes these values explicitly, so only this shows the component's
 * own defaults. Also the credentials Secrets' values, which the synth
 * redacts as a whole.
 */
import { tenantSpec } from "../../support/manifests";
import { SYNTH_TIMEOUT_MS, T, at, isSerializedSecret, recordComponent, unwrapSecret, type RecordedRegistration } from "../../support/synth";

jest.setTimeout(SYNTH_TIMEOUT_MS);

type Components = typeof import("../../../components");

/** Registers what `build` constructs; every RandomPassword's result is `generated-<name>`. */
function record(build: (c: Components) => void): Promise<RecordedRegistration[]> {
    return recordComponent(
        () => build(require("../../../components") as Components),
        (type, name, inputs) => (type === T.RandomPassword ? { ...inputs, result: `generated-${name}` } : inputs),
    );
}

const ofType = (recorded: readonly RecordedRegistration[], type: string) => recorded.filter((r) => r.type === type);
const named = (recorded: readonly RecordedRegistration[], type: string, name: string) => {
    const found = recorded.filter((r) => r.type === type && r.name === name);
    if (found.length !== 1) throw new Error(`expected one ${type} ${name}, found ${found.length}: ${recorded.map((r) => `${r.type} ${r.name}`).join(", ")}`);
    return found[0];
};
const typesOf = (recorded: readonly RecordedRegistration[]) => [...new Set(recorded.map((r) => r.type))].sort();
const CONFIGMAP = "kubernetes:core/v1:ConfigMap";
const PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule";

describe("TenantNamespace defaults", () => {
    let recorded: RecordedRegistration[];
    beforeAll(async () => {
        recorded = await record(
            ({ TenantNamespace }) => new TenantNamespace("kiwi", { tenant: tenantSpec("kiwi"), region: "eu-west", environment: "production" }),
        );
    });

    test("services auth, products, orders: an HPA for the gateway and each service, a credentials volume for each", () => {
        expect(
            ofType(recorded, T.HPA)
                .map((h) => at(h.serialized, "spec", "scaleTargetRef", "name"))
                .sort(),
        ).toEqual(["api-gateway", "auth-service", "orders-service", "products-service"]);
        const pod = at(named(recorded, T.CronJob, "kiwi-db-backup").serialized, "spec", "jobTemplate", "spec", "template", "spec");
        expect((at(pod, "volumes") as { name: string }[]).map((v) => v.name)).toEqual([
            "backup-storage",
            "tmp",
            "auth-credentials",
            "products-credentials",
            "orders-credentials",
        ]);
    });

    test("backups run the tenantctl image as uid 999", () => {
        const pod = at(named(recorded, T.CronJob, "kiwi-db-backup").serialized, "spec", "jobTemplate", "spec", "template", "spec");
        expect(at(pod, "containers", 0, "image")).toBe("ghcr.io/collectverything/tenantctl:0.1.0");
        expect(at(pod, "securityContext")).toEqual({
            runAsNonRoot: true,
            runAsUser: 999,
            runAsGroup: 999,
            fsGroup: 999,
            seccompProfile: { type: "RuntimeDefault" },
        });
    });

    test("the ingress controller admitted is ingress-nginx; the backup PVC names no StorageClass (the cluster's default)", () => {
        const ingress = at(named(recorded, T.NetworkPolicy, "kiwi-isolation").serialized, "spec", "ingress", 0);
        expect(ingress).toEqual({ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } }] });
        expect(at(named(recorded, T.PVC, "kiwi-backup-pvc").serialized, "spec", "storageClassName")).toBeUndefined();
    });

    test("tracing is on: the tracing context ConfigMap exists", () => {
        expect(ofType(recorded, CONFIGMAP).map((c) => c.name)).toEqual(["kiwi-otel"]);
    });

    test("an active tenant's CronJob is not suspended and it has no final-backup Job", () => {
        expect(at(named(recorded, T.CronJob, "kiwi-db-backup").serialized, "spec", "suspend")).toBe(false);
        expect(ofType(recorded, T.Job)).toEqual([]);
    });
});

test("TenantNamespace of a suspended tenant: HPAs pinned to one replica, backups continue", async () => {
    const recorded = await record(
        ({ TenantNamespace }) =>
            new TenantNamespace("kiwi", { tenant: tenantSpec("kiwi", { status: "suspended" }), region: "eu-west", environment: "production" }),
    );
    for (const h of ofType(recorded, T.HPA)) expect([at(h.serialized, "spec", "minReplicas"), at(h.serialized, "spec", "maxReplicas")]).toEqual([1, 1]);
    expect(at(named(recorded, T.CronJob, "kiwi-db-backup").serialized, "spec", "suspend")).toBe(false);
});

describe("TenantVhost defaults and its credentials Secret", () => {
    let recorded: RecordedRegistration[];
    beforeAll(async () => {
        recorded = await record(({ TenantVhost }) => new TenantVhost("kiwi", { tenantId: "kiwi", namespace: "e-commerce-client-kiwi" }));
    });

    test("queues auth and orders", () => {
        expect(
            ofType(recorded, T.Queue)
                .map((q) => q.serialized.name)
                .sort(),
        ).toEqual(["client-kiwi.auth", "client-kiwi.orders"]);
    });

    test("the user's password: 32 characters, none special", () => {
        expect(named(recorded, T.RandomPassword, "kiwi-amqp-password").serialized).toEqual({ length: 32, special: false });
    });

    test("rabbitmq-credentials: host, port 5672, vhost, user, password, exchange and the URL, all of it secret", () => {
        const secret = named(recorded, T.Secret, "kiwi-amqp-credentials");
        expect(secret.serialized.type).toBe("Opaque");
        expect(at(secret.serialized, "metadata", "name")).toBe("rabbitmq-credentials");
        expect(isSerializedSecret(secret.serialized.stringData)).toBe(true);
        expect(unwrapSecret(secret.serialized.stringData)).toEqual({
            AMQP_HOST: "rabbitmq.e-commerce-shared.svc.cluster.local",
            AMQP_PORT: "5672",
            AMQP_VHOST: "/client-kiwi",
            AMQP_USERNAME: "client-kiwi-app",
            AMQP_PASSWORD: "generated-kiwi-amqp-password",
            AMQP_EXCHANGE: "client-kiwi.events",
            AMQP_URL: "amqp://client-kiwi-app:generated-kiwi-amqp-password@rabbitmq.e-commerce-shared.svc.cluster.local:5672/%2Fclient-kiwi",
        });
    });
});

describe("TenantBucket defaults and its credentials Secret", () => {
    let recorded: RecordedRegistration[];
    beforeAll(async () => {
        recorded = await record(({ TenantBucket }) => new TenantBucket("kiwi", { tenantId: "kiwi", namespace: "e-commerce-client-kiwi" }));
    });

    test("object-storage-credentials: the default MinIO endpoint, the app user's keys, one key per bucket, all of it secret", () => {
        const secret = named(recorded, T.Secret, "kiwi-storage-credentials");
        expect(secret.serialized.type).toBe("Opaque");
        expect(at(secret.serialized, "metadata", "name")).toBe("object-storage-credentials");
        expect(isSerializedSecret(secret.serialized.stringData)).toBe(true);
        expect(unwrapSecret(secret.serialized.stringData)).toEqual({
            S3_ENDPOINT: "http://minio.e-commerce-shared.svc.cluster.local:9000",
            S3_ACCESS_KEY_ID: "client-kiwi-app",
            S3_SECRET_ACCESS_KEY: "generated-kiwi-app-secret",
            S3_BUCKET_PRODUCTS: "client-kiwi-products",
            S3_BUCKET_SAV: "client-kiwi-sav",
            S3_BUCKET_NEWSLETTERS: "client-kiwi-newsletters",
        });
    });

    test("the app user's secret key: 40 characters, none special; the policy statement is TenantObjectsOnly", () => {
        expect(named(recorded, T.RandomPassword, "kiwi-app-secret").serialized).toEqual({ length: 40, special: false });
        const doc = JSON.parse(named(recorded, T.IamPolicy, "kiwi-app-objects").serialized.policy as string) as { Statement: { Sid: string }[] };
        expect(doc.Statement.map((s) => s.Sid)).toEqual(["TenantObjectsOnly"]);
    });
});

test("TenantDatabase defaults: accounts on host %, credentials as Kubernetes Secrets", async () => {
    const recorded = await record(({ TenantDatabase }) => new TenantDatabase("kiwi", { tenantId: "kiwi", namespace: "e-commerce-client-kiwi" }));
    expect(
        ofType(recorded, T.MysqlUser)
            .map((u) => [u.serialized.user, u.serialized.host])
            .sort(),
    ).toEqual([
        ["client_kiwi_auth_user", "%"],
        ["client_kiwi_auth_usrb", "%"],
        ["client_kiwi_orders_user", "%"],
        ["client_kiwi_orders_usrb", "%"],
        ["client_kiwi_products_user", "%"],
        ["client_kiwi_products_usrb", "%"],
    ]);
    expect(
        ofType(recorded, T.Secret)
            .map((s) => at(s.serialized, "metadata", "name"))
            .sort(),
    ).toEqual(["auth-db-credentials", "orders-db-credentials", "products-db-credentials"]);
    expect(ofType(recorded, T.ExternalSecret)).toEqual([]);
});

describe("TenantIngress defaults", () => {
    test("class nginx, issuer letsencrypt-prod, the primary domain only, and the load balancer awaited", async () => {
        const recorded = await record(
            ({ TenantIngress }) =>
                new TenantIngress("kiwi", { tenantId: "kiwi", namespace: "e-commerce-client-kiwi", domain: "client-kiwi.collectverything.com" }),
        );
        const ingress = named(recorded, T.Ingress, "kiwi-ingress");
        expect(at(ingress.serialized, "metadata", "annotations")).toEqual({ "cert-manager.io/cluster-issuer": "letsencrypt-prod" });
        expect(at(ingress.serialized, "spec", "ingressClassName")).toBe("nginx");
        expect(at(ingress.serialized, "spec", "tls")).toEqual([{ hosts: ["client-kiwi.collectverything.com"], secretName: "client-kiwi-tls" }]);
        expect((at(ingress.serialized, "spec", "rules") as { host: string }[]).map((r) => r.host)).toEqual(["client-kiwi.collectverything.com"]);
    });

    test("awaitLoadBalancer false: the Ingress is not awaited (pulumi.com/skipAwait)", async () => {
        const recorded = await record(
            ({ TenantIngress }) =>
                new TenantIngress("kiwi", {
                    tenantId: "kiwi",
                    namespace: "e-commerce-client-kiwi",
                    domain: "client-kiwi.collectverything.com",
                    awaitLoadBalancer: false,
                    clusterIssuer: "local-ca",
                }),
        );
        expect(at(named(recorded, T.Ingress, "kiwi-ingress").serialized, "metadata", "annotations")).toEqual({
            "cert-manager.io/cluster-issuer": "local-ca",
            "pulumi.com/skipAwait": "true",
        });
    });
});

describe("Tenant", () => {
    const COMPONENTS = [T.Tenant, T.TenantNamespace, T.TenantDatabase, T.TenantBucket, T.TenantVhost, T.TenantIngress];

    test("with only its required args, every feature is on: namespace, databases, buckets, vhost, Ingress and dashboard", async () => {
        const recorded = await record(({ Tenant }) => new Tenant("kiwi", { tenant: tenantSpec("kiwi"), region: "eu-west", environment: "production" }));
        for (const type of COMPONENTS) expect(ofType(recorded, type)).toHaveLength(1);
        expect(ofType(recorded, T.MysqlDatabase)).toHaveLength(3);
        expect(ofType(recorded, T.S3Bucket)).toHaveLength(3);
        expect(
            ofType(recorded, T.Queue)
                .map((q) => q.serialized.name)
                .sort(),
        ).toEqual(["client-kiwi.auth", "client-kiwi.orders"]);
        expect(
            ofType(recorded, CONFIGMAP)
                .map((c) => c.name)
                .sort(),
        ).toEqual(["kiwi-dashboard", "kiwi-otel"]);
        expect(ofType(recorded, T.MysqlUser).map((u) => u.serialized.host)).toEqual(["%", "%", "%", "%", "%", "%"]);
    });

    test("every feature off: no MySQL, MinIO or RabbitMQ resource, no dashboard, no tracing context", async () => {
        const recorded = await record(
            ({ Tenant }) =>
                new Tenant("kiwi", {
                    tenant: tenantSpec("kiwi"),
                    region: "eu-west",
                    environment: "production",
                    features: { databases: false, buckets: false, vhosts: false, monitoring: false },
                }),
        );
        expect(recorded.filter((r) => /^(mysql|minio|rabbitmq|aws|random):/.test(r.type)).map((r) => r.type)).toEqual([]);
        expect(ofType(recorded, CONFIGMAP)).toEqual([]);
        expect(typesOf(recorded).filter((t) => t.startsWith("collectverything:"))).toEqual([T.Tenant, T.TenantIngress, T.TenantNamespace].sort());
    });

    test.each(["suspended", "cancelled"] as const)("a %s tenant is not served: no Ingress", async (status) => {
        const change = status === "cancelled" ? { status, cancelledAt: "2026-11-10" } : { status };
        const recorded = await record(({ Tenant }) => new Tenant("kiwi", { tenant: tenantSpec("kiwi", change), region: "eu-west", environment: "production" }));
        expect(ofType(recorded, T.TenantIngress)).toEqual([]);
        expect(ofType(recorded, T.Ingress)).toEqual([]);
        expect(ofType(recorded, T.Job).map((j) => j.name)).toEqual(status === "cancelled" ? ["kiwi-final-backup"] : []);
    });
});

describe("SharedRegion", () => {
    test("by default: the shared namespace and the monitoring (scrape configs, the PrometheusRule for kube-prometheus-stack), no secret store", async () => {
        const recorded = await record(({ SharedRegion }) => new SharedRegion("eu-west", { region: "eu-west", environment: "production" }));
        expect(
            recorded
                .filter((r) => r.type !== T.SharedRegion)
                .map((r) => `${r.type} ${r.name}`)
                .sort(),
        ).toEqual([
            "kubernetes:core/v1:Namespace eu-west-namespace",
            "kubernetes:core/v1:Secret eu-west-scrape-configs",
            `${PROMETHEUS_RULE} eu-west-tenant-rules`,
        ]);
        expect(at(named(recorded, PROMETHEUS_RULE, "eu-west-tenant-rules").serialized, "metadata", "labels", "release")).toBe("kube-prometheus-stack");
        expect(isSerializedSecret(named(recorded, T.Secret, "eu-west-scrape-configs").serialized.stringData)).toBe(true);
    });

    test("monitoring off: the shared namespace only", async () => {
        const recorded = await record(({ SharedRegion }) => new SharedRegion("eu-west", { region: "eu-west", environment: "production", monitoring: false }));
        expect(recorded.filter((r) => r.type !== T.SharedRegion).map((r) => `${r.type} ${r.name}`)).toEqual(["kubernetes:core/v1:Namespace eu-west-namespace"]);
    });

    test("a secret store without a ServiceAccount authenticates as external-secrets", async () => {
        const recorded = await record(
            ({ SharedRegion }) =>
                new SharedRegion("eu-west", { region: "eu-west", environment: "production", monitoring: false, awsSecretStore: { awsRegion: "eu-west-1" } }),
        );
        expect(at(named(recorded, T.ClusterSecretStore, "eu-west-secret-store").serialized, "spec", "provider", "aws", "auth")).toEqual({
            jwt: { serviceAccountRef: { name: "external-secrets", namespace: "e-commerce-shared" } },
        });
    });
});
