/**
 * The components, through the real program: index.ts evaluated for the
 * eu-west stack (credentials in AWS Secrets Manager) and the apac stack
 * (credentials as Kubernetes Secrets) under the synth recorder. Tenant abc
 * (premium, eu-west, one custom domain) is the seed's example tenant.
 */
import fc from "fast-check";
import { SHIPPED_MANIFEST } from "../../support/manifests";
import { grantDatabasePattern } from "../../../components/tenantDatabase";
import { type TenantSpec } from "../../../lib/manifest";
import { loadManifest } from "../../../core/manifestSource";
import { databaseName, DEFAULT_SERVICES } from "../../../lib/naming";
import {
    COMPONENT_TYPES,
    SYNTH_TIMEOUT_MS,
    T,
    at,
    byUrn,
    countByType,
    isSerializedSecret,
    ofTenant,
    ofType,
    one,
    recordComponent,
    synth,
    unwrapSecret,
    walk,
    type SynthResource,
    type SynthResult,
} from "../../support/synth";

let euWest: SynthResult;
let apac: SynthResult;
let abc: SynthResource[];

beforeAll(async () => {
    euWest = await synth({ stack: "eu-west" });
    apac = await synth({ stack: "apac" });
    abc = ofTenant(euWest, "abc");
}, SYNTH_TIMEOUT_MS);

const NS = "e-commerce-client-abc";
const SERVICES = ["auth", "products", "orders"];
const CONFIG_MAP = "kubernetes:core/v1:ConfigMap";

describe("tenant abc in eu-west: what is registered", () => {
    test("exact counts per resource type (94 resources: every credential in two rotation slots, the backup identities)", () => {
        expect(countByType(abc)).toEqual({
            [T.Tenant]: 1,
            [T.TenantNamespace]: 1,
            [T.Namespace]: 1,
            [T.ResourceQuota]: 1,
            [T.LimitRange]: 1,
            [T.NetworkPolicy]: 1,
            [T.Role]: 1,
            [T.RoleBinding]: 1,
            [T.ServiceAccount]: 1,
            [T.HPA]: 4,
            [T.PVC]: 1,
            [T.CronJob]: 1,
            [T.TenantDatabase]: 1,
            [T.RandomPassword]: 11, // slots a and b of: 3 database passwords, the MinIO secret key, the AMQP password; the bucket backup user's key
            [T.MysqlDatabase]: 3,
            [T.MysqlUser]: 6,
            [T.MysqlGrant]: 6,
            [T.AwsSecret]: 7, // 6 database passwords, the archive key
            [T.AwsSecretVersion]: 7,
            [T.ExternalSecret]: 4,
            [T.TenantArchiveAccess]: 1,
            [T.AwsIamUser]: 1,
            [T.AwsIamUserPolicy]: 1,
            [T.AwsAccessKey]: 1,
            [T.TenantBucket]: 1,
            [T.S3Bucket]: 3,
            [T.IamUser]: 3, // the app user's two slots, the backup user
            [T.IamPolicy]: 2,
            [T.IamUserPolicyAttachment]: 3,
            [T.Secret]: 3, // object-storage-credentials, bucket-backup-credentials, rabbitmq-credentials
            [T.TenantVhost]: 1,
            [T.VHost]: 1,
            [T.RabbitUser]: 2,
            [T.Permissions]: 2,
            [T.Exchange]: 1,
            [T.Queue]: 2,
            [T.Binding]: 2,
            [T.TenantIngress]: 1,
            [T.Ingress]: 1,
            [CONFIG_MAP]: 2, // otel-resource-attributes, grafana-dashboard
        });
        expect(abc).toHaveLength(94);
    });

    test("the kubernetes objects of the tenant all live in its namespace", () => {
        const outside = abc
            .filter((r) => r.type.startsWith("kubernetes:") && r.type !== T.Namespace)
            .filter((r) => at(r.inputs, "metadata", "namespace") !== NS)
            .map((r) => r.urn);
        expect(outside).toEqual([]);
    });
});

describe("TenantNamespace", () => {
    test("the namespace: name, the seed's labels plus region, lifecycle and Pod Security restricted; protected", () => {
        const ns = one(abc, T.Namespace);
        expect(ns.name).toBe("abc-namespace");
        expect(ns.protect).toBe(true);
        expect(at(ns.inputs, "metadata", "name")).toBe(NS);
        expect(at(ns.inputs, "metadata", "labels")).toEqual({
            tenant: "client-abc",
            tier: "premium",
            environment: "production",
            "managed-by": "pulumi",
            "app.kubernetes.io/managed-by": "pulumi",
            "cost-center": "CC-ABC-001",
            "billing-id": "sub_abc123",
            department: "retail",
            "collectverything.com/region": "eu-west",
            "collectverything.com/lifecycle": "active",
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        });
    });

    test("the namespace's annotations: the seed's domain, subscription-tier, created-date, billing-id, and more", () => {
        expect(at(one(abc, T.Namespace).inputs, "metadata", "annotations")).toEqual({
            domain: "client-abc.collectverything.com",
            "custom-domains": "shop.client-abc.com",
            "subscription-tier": "premium",
            "created-date": "2025-01-15",
            "billing-id": "sub_abc123",
            "website-id": "123",
            "display-name": "ABC Retail",
        });
    });

    // The README's tier table, column by column: abc is premium, nordic standard, lumiere business.
    test.each([
        [
            "abc",
            "premium",
            {
                "requests.cpu": "4",
                "requests.memory": "8Gi",
                "limits.cpu": "8",
                "limits.memory": "16Gi",
                "requests.storage": "150Gi",
                persistentvolumeclaims: "10",
                "services.loadbalancers": "1",
                pods: "50",
            },
        ],
        [
            "nordic",
            "standard",
            {
                "requests.cpu": "1",
                "requests.memory": "2Gi",
                "limits.cpu": "3",
                "limits.memory": "4Gi",
                "requests.storage": "50Gi",
                persistentvolumeclaims: "5",
                "services.loadbalancers": "0",
                pods: "20",
            },
        ],
        [
            "lumiere",
            "business",
            {
                "requests.cpu": "12",
                "requests.memory": "24Gi",
                "limits.cpu": "26",
                "limits.memory": "48Gi",
                "requests.storage": "500Gi",
                persistentvolumeclaims: "30",
                "services.loadbalancers": "2",
                pods: "150",
            },
        ],
    ])("ResourceQuota client-quota of %s (%s) is the README's tier table", (id, _tier, hard) => {
        const quota = one(ofTenant(euWest, id), T.ResourceQuota);
        expect(at(quota.inputs, "metadata", "name")).toBe("client-quota");
        expect(at(quota.inputs, "metadata", "namespace")).toBe(`e-commerce-client-${id}`);
        expect(at(quota.inputs, "spec")).toEqual({ hard });
    });

    test.each([
        [
            "abc",
            "premium",
            {
                max: { cpu: "2", memory: "4Gi" },
                min: { cpu: "100m", memory: "128Mi" },
                default: { cpu: "500m", memory: "512Mi" },
                defaultRequest: { cpu: "250m", memory: "256Mi" },
            },
        ],
        [
            "nordic",
            "standard",
            {
                max: { cpu: "1", memory: "2Gi" },
                min: { cpu: "50m", memory: "64Mi" },
                default: { cpu: "250m", memory: "256Mi" },
                defaultRequest: { cpu: "100m", memory: "128Mi" },
            },
        ],
        [
            "lumiere",
            "business",
            {
                max: { cpu: "4", memory: "8Gi" },
                min: { cpu: "100m", memory: "128Mi" },
                default: { cpu: "1", memory: "1Gi" },
                defaultRequest: { cpu: "450m", memory: "512Mi" },
            },
        ],
    ])("LimitRange pod-limits of %s (%s) is the README's tier table, for containers", (id, _tier, limits) => {
        const range = one(ofTenant(euWest, id), T.LimitRange);
        expect(at(range.inputs, "metadata", "name")).toBe("pod-limits");
        expect(at(range.inputs, "spec")).toEqual({ limits: [{ type: "Container", ...limits }] });
    });

    test.each([
        ["abc", "30Gi", 3, 6],
        ["nordic", "10Gi", 2, 3],
        ["lumiere", "100Gi", 6, 15],
    ] as const)("%s: backup volume %s, HPA %d-%d replicas, the same GFS retention as every tier (the tier table)", (id, volume, min, max) => {
        const own = ofTenant(euWest, id);
        expect(at(one(own, T.PVC).inputs, "spec", "resources", "requests", "storage")).toBe(volume);
        for (const h of ofType(own, T.HPA)) expect([at(h.inputs, "spec", "minReplicas"), at(h.inputs, "spec", "maxReplicas")]).toEqual([min, max]);
        const command = at(one(own, T.CronJob).inputs, "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "command");
        expect(command).toEqual([
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

    describe("NetworkPolicy client-isolation", () => {
        const policy = () => one(abc, T.NetworkPolicy);
        const selectors = () => {
            const found: unknown[] = [];
            walk(policy().inputs, (key, v) => {
                if (key === "namespaceSelector") found.push(v);
            });
            return found;
        };

        test("is the README's policy (seed deviations 1-3), for both directions, on every pod of the namespace", () => {
            const ns = (name: string) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } } });
            expect(at(policy().inputs, "metadata", "name")).toBe("client-isolation");
            expect(at(policy().inputs, "spec")).toEqual({
                podSelector: {},
                policyTypes: ["Ingress", "Egress"],
                ingress: [
                    { from: [ns("ingress-nginx")] },
                    { from: [{ podSelector: {} }] },
                    { from: [{ ...ns("e-commerce-shared"), podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } } }] },
                ],
                egress: [
                    { to: [{ podSelector: {} }] },
                    {
                        to: [ns("e-commerce-shared")],
                        ports: [
                            { protocol: "TCP", port: 5672 },
                            { protocol: "TCP", port: 3306 },
                            { protocol: "TCP", port: 9000 },
                        ],
                    },
                    {
                        to: [ns("kube-system")],
                        ports: [
                            { protocol: "UDP", port: 53 },
                            { protocol: "TCP", port: 53 },
                        ],
                    },
                    {
                        to: [{ ...ns("e-commerce-shared"), podSelector: { matchLabels: { "app.kubernetes.io/name": "opentelemetry-collector" } } }],
                        ports: [
                            { protocol: "TCP", port: 4317 },
                            { protocol: "TCP", port: 4318 },
                        ],
                    },
                ],
            });
        });

        test("egress to the shared namespace: TCP 5672 (RabbitMQ), 3306 (MySQL), 9000 (MinIO); OTLP 4317/4318 to the collector's pods only", () => {
            const egress = at(policy().inputs, "spec", "egress") as { to: unknown[]; ports?: { protocol: string; port: number }[] }[];
            const shared = egress.filter((rule) =>
                rule.to.some((peer) => at(peer, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") === "e-commerce-shared"),
            );
            expect(shared).toHaveLength(2);
            expect(shared[0].to).toEqual([{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "e-commerce-shared" } } }]);
            expect(shared[0].ports?.map((p) => `${p.protocol}/${p.port}`).sort()).toEqual(["TCP/3306", "TCP/5672", "TCP/9000"]);
            expect(shared[1].to).toEqual([
                {
                    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "e-commerce-shared" } },
                    podSelector: { matchLabels: { "app.kubernetes.io/name": "opentelemetry-collector" } },
                },
            ]);
            expect(shared[1].ports?.map((p) => `${p.protocol}/${p.port}`)).toEqual(["TCP/4317", "TCP/4318"]);
            // Every egress rule that leaves the namespace names its ports: none is open to all ports.
            const leaving = egress.filter((rule) => rule.to.some((peer) => at(peer, "namespaceSelector") !== undefined));
            expect(leaving.map((rule) => (rule.ports ?? []).length)).toEqual([3, 2, 2]);
        });

        test("selects namespaces by kubernetes.io/metadata.name only, never by a `name` label", () => {
            const all = selectors();
            expect(all.length).toBeGreaterThanOrEqual(3);
            for (const s of all) {
                expect(Object.keys(s as object)).toEqual(["matchLabels"]);
                expect(Object.keys(at(s, "matchLabels") as object)).toEqual(["kubernetes.io/metadata.name"]);
            }
            const labelKeys: string[] = [];
            walk(policy().inputs, (key, v) => {
                if (key === "matchLabels") labelKeys.push(...Object.keys(v as object));
            });
            expect(labelKeys).not.toContain("name");
            expect(new Set(all.map((s) => at(s, "matchLabels", "kubernetes.io/metadata.name")))).toEqual(
                new Set(["ingress-nginx", "e-commerce-shared", "kube-system"]),
            );
        });

        test("allows DNS to kube-system over UDP and TCP 53, and nothing else there", () => {
            const egress = at(policy().inputs, "spec", "egress") as { to: unknown[]; ports?: unknown[] }[];
            const dns = egress.filter((rule) =>
                rule.to.some((peer) => at(peer, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") === "kube-system"),
            );
            expect(dns).toHaveLength(1);
            expect(dns[0].ports).toEqual(
                expect.arrayContaining([
                    { protocol: "UDP", port: 53 },
                    { protocol: "TCP", port: 53 },
                ]),
            );
            expect(dns[0].ports).toHaveLength(2);
        });

        test("admits from other namespaces only the ingress controller and Prometheus in the shared namespace", () => {
            const ingress = at(policy().inputs, "spec", "ingress") as { from: Record<string, unknown>[] }[];
            const peers = ingress.flatMap((rule) => rule.from);
            const fromNamespaces = peers.filter((p) => p.namespaceSelector !== undefined);
            expect(fromNamespaces).toEqual([
                { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } },
                {
                    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "e-commerce-shared" } },
                    podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
                },
            ]);
            // Every other peer is a bare podSelector: pods of this namespace only.
            expect(peers.filter((p) => p.namespaceSelector === undefined)).toEqual([{ podSelector: {} }]);
        });
    });

    test("Role client-admin is read-only: the seed's rules, verbs get/list/watch only", () => {
        const role = one(abc, T.Role);
        expect(at(role.inputs, "metadata", "name")).toBe("client-admin");
        const rules = at(role.inputs, "rules") as { verbs: string[]; resources: string[] }[];
        expect(rules).toEqual([
            { apiGroups: [""], resources: ["pods", "pods/log", "services", "configmaps"], verbs: ["get", "list", "watch"] },
            { apiGroups: ["apps"], resources: ["deployments", "replicasets"], verbs: ["get", "list", "watch"] },
        ]);
        expect(rules.flatMap((r) => r.resources)).not.toContain("*");
        expect(new Set(rules.flatMap((r) => r.verbs))).toEqual(new Set(["get", "list", "watch"]));
        expect(rules.flatMap((r) => r.resources)).not.toContain("secrets");
    });

    test("RoleBinding binds the group client-abc-admins to that Role", () => {
        const binding = one(abc, T.RoleBinding);
        expect(at(binding.inputs, "roleRef")).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "client-admin" });
        expect(at(binding.inputs, "subjects")).toEqual([{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "client-abc-admins" }]);
    });

    test("the app ServiceAccount does not automount its token", () => {
        const sa = one(abc, T.ServiceAccount);
        expect(at(sa.inputs, "metadata", "name")).toBe("tenant-app");
        expect(at(sa.inputs, "automountServiceAccountToken")).toBe(false);
    });

    test("4 HPAs (api-gateway and the 3 services), each with the premium range 3-6", () => {
        const hpas = ofType(abc, T.HPA);
        expect(hpas.map((h) => at(h.inputs, "spec", "scaleTargetRef")).sort((a, b) => String(at(a, "name")).localeCompare(String(at(b, "name"))))).toEqual(
            ["api-gateway", "auth-service", "orders-service", "products-service"].map((name) => ({ apiVersion: "apps/v1", kind: "Deployment", name })),
        );
        for (const h of hpas) {
            expect(at(h.inputs, "metadata", "name")).toBe(`${String(at(h.inputs, "spec", "scaleTargetRef", "name"))}-hpa`);
            expect(at(h.inputs, "spec", "minReplicas")).toBe(3);
            expect(at(h.inputs, "spec", "maxReplicas")).toBe(6);
            expect(at(h.inputs, "spec", "metrics")).toEqual([
                { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } },
                { type: "Resource", resource: { name: "memory", target: { type: "Utilization", averageUtilization: 80 } } },
            ]);
        }
    });

    test("the backup PVC: backup-pvc, the tier's backup volume, protected", () => {
        const pvc = one(abc, T.PVC);
        expect(pvc.protect).toBe(true);
        expect(at(pvc.inputs, "metadata", "name")).toBe("backup-pvc");
        expect(at(pvc.inputs, "spec", "resources", "requests", "storage")).toBe("30Gi");
        expect(at(pvc.inputs, "spec", "accessModes")).toEqual(["ReadWriteOnce"]);
    });

    describe("CronJob db-backup", () => {
        const cron = () => one(abc, T.CronJob);
        const podSpec = () => at(cron().inputs, "spec", "jobTemplate", "spec", "template", "spec") as Record<string, unknown>;
        const container = () => (podSpec().containers as Record<string, unknown>[])[0];

        test("runs daily at 02:00 UTC, one at a time, not suspended for an active tenant", () => {
            expect(at(cron().inputs, "metadata", "name")).toBe("db-backup");
            expect(at(cron().inputs, "spec", "schedule")).toBe("0 2 * * *");
            expect(at(cron().inputs, "spec", "timeZone")).toBe("Etc/UTC");
            expect(at(cron().inputs, "spec", "concurrencyPolicy")).toBe("Forbid");
            expect(at(cron().inputs, "spec", "suspend")).toBe(false);
        });

        test("tenantctl backup dumps the 3 databases with the mounted credentials (no password in the pod spec) and prunes by GFS", () => {
            expect(container().command).toEqual([
                "tenantctl",
                "backup",
                "--tenant",
                "abc",
                "--services",
                "auth,products,orders",
                "--credentials-dir",
                "/credentials",
                "--local-dir",
                "/backup",
                "--prune",
            ]);
            expect(JSON.stringify(container())).not.toMatch(/password/i);
        });

        test("the pod satisfies Pod Security restricted", () => {
            const pod = podSpec();
            expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
            expect(at(pod, "securityContext", "runAsUser")).toBeGreaterThan(0);
            expect(pod.automountServiceAccountToken).toBe(false);
            expect(pod.hostNetwork).toBeUndefined();
            for (const c of pod.containers as Record<string, unknown>[]) {
                expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
            }
            const volumes = pod.volumes as Record<string, unknown>[];
            expect(volumes.filter((v) => v.hostPath !== undefined)).toEqual([]);
            expect(volumes).toEqual(
                expect.arrayContaining([
                    { name: "backup-storage", persistentVolumeClaim: { claimName: "backup-pvc" } },
                    ...SERVICES.map((s) => ({ name: `${s}-credentials`, secret: { secretName: `${s}-db-credentials` } })),
                ]),
            );
        });
    });
});

describe("TenantDatabase", () => {
    const dbs = () => ofType(abc, T.MysqlDatabase);

    test("3 databases client_abc_<service>_db, utf8mb4, protected", () => {
        expect(
            dbs()
                .map((d) => d.inputs.name)
                .sort(),
        ).toEqual(["client_abc_auth_db", "client_abc_orders_db", "client_abc_products_db"]);
        for (const d of dbs()) {
            expect(d.protect).toBe(true);
            expect(d.inputs).toMatchObject({ defaultCharacterSet: "utf8mb4", defaultCollation: "utf8mb4_unicode_ci" });
        }
    });

    test("two users per service (rotation slots a and b), each with a generated password never shown", () => {
        expect(
            ofType(abc, T.MysqlUser)
                .map((u) => u.inputs)
                .sort((a, b) => String(a.user).localeCompare(String(b.user))),
        ).toEqual(
            ["auth", "orders", "products"].flatMap((s) =>
                ["user", "usrb"].map((suffix) => ({ user: `client_abc_${s}_${suffix}`, host: "%", plaintextPassword: "[secret]" })),
            ),
        );
    });

    test.each(SERVICES)("the %s grant: its own user, its own database escaped for LIKE, data and schema privileges only", (service) => {
        const grant = one(abc, T.MysqlGrant, `abc-${service}-db-grant`);
        expect(grant.inputs).toEqual({
            user: `client_abc_${service}_user`,
            host: "%",
            database: `client\\_abc\\_${service}\\_db`,
            privileges: [
                "SELECT",
                "INSERT",
                "UPDATE",
                "DELETE",
                "CREATE",
                "ALTER",
                "INDEX",
                "DROP",
                "REFERENCES",
                "CREATE TEMPORARY TABLES",
                "LOCK TABLES",
                "EXECUTE",
                "CREATE VIEW",
                "SHOW VIEW",
                "TRIGGER",
            ],
        });
        const privileges = grant.inputs.privileges as string[];
        for (const p of ["ALL", "ALL PRIVILEGES", "GRANT OPTION", "SUPER", "FILE", "PROCESS", "CREATE USER", "RELOAD", "SHUTDOWN"]) {
            expect(privileges).not.toContain(p);
        }
    });

    test("each grant's pattern matches its own database and no other database of the region", () => {
        const allDatabases = ofType(euWest.resources, T.MysqlDatabase).map((d) => d.inputs.name as string);
        expect(allDatabases.length).toBe(4 * 3);
        for (const grant of ofType(abc, T.MysqlGrant)) {
            const own = (grant.inputs.user as string).replace(/_(user|usrb)$/, "_db");
            expect(allDatabases.filter((db) => likeMatches(grant.inputs.database as string, db))).toEqual([own]);
        }
    });

    test("the eu-west backend: an AWS secret at the seed's path per service, its version secret", () => {
        expect(
            ofType(abc, T.AwsSecret)
                .map((s) => s.inputs.name)
                .sort(),
        ).toEqual([
            "/e-commerce/client-abc/archive-credentials",
            ...["auth", "orders", "products"].flatMap((s) => [`/e-commerce/client-abc/${s}-db-password`, `/e-commerce/client-abc/${s}-db-password-b`]),
        ]);
        for (const v of ofType(abc, T.AwsSecretVersion)) expect(v.inputs.secretString).toBe("[secret]");
    });

    test.each(SERVICES)("the eu-west backend: an external-secrets.io/v1 ExternalSecret delivers %s-db-credentials with all five keys", (service) => {
        const es = one(abc, T.ExternalSecret, `abc-${service}-db-credentials`);
        expect(es.inputs.apiVersion).toBe("external-secrets.io/v1");
        expect(es.inputs.kind).toBe("ExternalSecret");
        expect(at(es.inputs, "metadata", "name")).toBe(`${service}-db-credentials`);
        expect(at(es.inputs, "metadata", "namespace")).toBe(NS);
        expect(at(es.inputs, "spec")).toEqual({
            refreshInterval: "1h",
            secretStoreRef: { name: "aws-secrets-manager", kind: "ClusterSecretStore" },
            target: {
                name: `${service}-db-credentials`,
                creationPolicy: "Owner",
                template: {
                    data: {
                        DB_HOST: "mysql.e-commerce-shared.svc.cluster.local",
                        DB_PORT: "3306",
                        DB_DATABASE: `client_abc_${service}_db`,
                        DB_USERNAME: `client_abc_${service}_user`,
                        DB_PASSWORD: "{{ .password }}",
                    },
                },
            },
            data: [{ secretKey: "password", remoteRef: { key: `/e-commerce/client-abc/${service}-db-password` } }],
        });
    });

    test("eu-west: no Kubernetes Secret carries database credentials; the store the ExternalSecrets read exists", () => {
        expect(
            ofType(abc, T.Secret)
                .map((s) => at(s.inputs, "metadata", "name"))
                .sort(),
        ).toEqual(["bucket-backup-credentials", "object-storage-credentials", "rabbitmq-credentials"]);
        const store = one(euWest.resources, T.ClusterSecretStore);
        expect(at(store.inputs, "metadata", "name")).toBe("aws-secrets-manager");
        expect(at(store.inputs, "spec", "provider", "aws", "region")).toBe("eu-west-1");
    });

    describe("the apac backend (kubernetes)", () => {
        test("sakura gets <service>-db-credentials Secrets whose data is redacted as a whole", () => {
            const sakura = ofTenant(apac, "sakura");
            const secrets = ofType(sakura, T.Secret).filter((s) => String(at(s.inputs, "metadata", "name")).endsWith("-db-credentials"));
            expect(secrets.map((s) => at(s.inputs, "metadata", "name")).sort()).toEqual([
                "auth-db-credentials",
                "orders-db-credentials",
                "products-db-credentials",
            ]);
            for (const s of secrets) {
                expect(at(s.inputs, "metadata", "namespace")).toBe("e-commerce-client-sakura");
                expect(s.inputs.type).toBe("Opaque");
                // The Kubernetes SDK marks all of stringData secret, so the synth
                // redacts the map, DB_PASSWORD included; the keys are checked below.
                expect(s.inputs.stringData).toBe("[secret]");
            }
            expect(ofType(apac.resources, T.ExternalSecret)).toEqual([]);
            expect(apac.resources.filter((r) => r.type.startsWith("aws:") || r.type === "pulumi:providers:aws")).toEqual([]);
        });

        test(
            "the Secret holds DB_HOST, DB_PORT, DB_DATABASE, DB_USERNAME and the generated DB_PASSWORD, all of it secret",
            async () => {
                const recorded = await recordComponent(
                    () => {
                        const { TenantDatabase } = require("../../../components/tenantDatabase") as typeof import("../../../components/tenantDatabase");
                        new TenantDatabase("kiwi", { tenantId: "kiwi", namespace: "e-commerce-client-kiwi" });
                    },
                    (type, name, inputs) => (type === T.RandomPassword ? { ...inputs, result: `generated-${name}` } : inputs),
                );
                const secret = recorded.find((r) => r.type === T.Secret && r.name === "kiwi-auth-db-credentials");
                expect(secret).toBeDefined();
                const stringData = secret?.serialized.stringData;
                expect(isSerializedSecret(stringData)).toBe(true);
                expect(unwrapSecret(stringData)).toEqual({
                    DB_HOST: "mysql.e-commerce-shared.svc.cluster.local",
                    DB_PORT: "3306",
                    DB_DATABASE: "client_kiwi_auth_db",
                    DB_USERNAME: "client_kiwi_auth_user",
                    DB_PASSWORD: "generated-kiwi-auth-db-password",
                });
            },
            SYNTH_TIMEOUT_MS,
        );
    });
});

describe("TenantBucket", () => {
    test("3 private buckets client-abc-{products,sav,newsletters}, protected, never force-destroyed", () => {
        const buckets = ofType(abc, T.S3Bucket);
        expect(buckets.map((b) => b.inputs.bucket).sort()).toEqual(["client-abc-newsletters", "client-abc-products", "client-abc-sav"]);
        for (const b of buckets) {
            expect(b.protect).toBe(true);
            expect(b.inputs).toEqual({ bucket: b.inputs.bucket, acl: "private", forceDestroy: false });
        }
    });

    test("each bucket's logical name is <tenant>-<purpose>, never a position", () => {
        expect(Object.fromEntries(ofType(abc, T.S3Bucket).map((b) => [b.name, b.inputs.bucket]))).toEqual({
            "abc-newsletters": "client-abc-newsletters",
            "abc-products": "client-abc-products",
            "abc-sav": "client-abc-sav",
        });
    });

    test(
        "reordering the purpose list keeps every bucket's URN and name",
        async () => {
            const record = async (purposes: readonly string[]) => {
                jest.doMock("../../../lib/naming", () => ({ ...jest.requireActual("../../../lib/naming"), BUCKET_PURPOSES: purposes }));
                try {
                    const recorded = await recordComponent(() => {
                        const { TenantBucket } = require("../../../components/tenantBucket") as typeof import("../../../components/tenantBucket");
                        new TenantBucket("kiwi", { tenantId: "kiwi", namespace: "e-commerce-client-kiwi" });
                    });
                    return Object.fromEntries(recorded.filter((r) => r.type === T.S3Bucket).map((r) => [r.name, r.serialized.bucket]));
                } finally {
                    jest.dontMock("../../../lib/naming");
                }
            };
            const expected = { "kiwi-newsletters": "client-kiwi-newsletters", "kiwi-products": "client-kiwi-products", "kiwi-sav": "client-kiwi-sav" };
            expect(await record(["products", "sav", "newsletters"])).toEqual(expected);
            expect(await record(["newsletters", "sav", "products"])).toEqual(expected);
        },
        SYNTH_TIMEOUT_MS,
    );

    test("the app user's policy allows exactly Get/Put/DeleteObject on the objects of its 3 buckets", () => {
        const policy = one(abc, T.IamPolicy, "abc-app-objects");
        expect(policy.inputs.name).toBe("client-abc-app-objects");
        const doc = JSON.parse(policy.inputs.policy as string) as { Version: string; Statement: Record<string, unknown>[] };
        expect(doc.Version).toBe("2012-10-17");
        expect(doc.Statement).toHaveLength(1);
        const [statement] = doc.Statement;
        expect(statement.Effect).toBe("Allow");
        expect(statement.Principal).toBeUndefined();
        expect([...(statement.Action as string[])].sort()).toEqual(["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]);
        expect([...(statement.Resource as string[])].sort()).toEqual([
            "arn:aws:s3:::client-abc-newsletters/*",
            "arn:aws:s3:::client-abc-products/*",
            "arn:aws:s3:::client-abc-sav/*",
        ]);
    });

    test("the policy is attached to the tenant's own users, client-abc-app and its rotation partner client-abc-app-b", () => {
        expect(one(abc, T.IamUser, "abc-app").inputs).toEqual({ name: "client-abc-app", secret: "[secret]", forceDestroy: false });
        expect(one(abc, T.IamUser, "abc-app-b").inputs).toEqual({ name: "client-abc-app-b", secret: "[secret]", forceDestroy: false });
        expect(one(abc, T.IamUserPolicyAttachment, "abc-app-objects").inputs).toEqual({ userName: "client-abc-app", policyName: "client-abc-app-objects" });
        expect(one(abc, T.IamUserPolicyAttachment, "abc-app-objects-b").inputs).toEqual({ userName: "client-abc-app-b", policyName: "client-abc-app-objects" });
    });
});

describe("TenantVhost", () => {
    test("the vhost /client-abc, protected", () => {
        const vhost = one(abc, T.VHost);
        expect(vhost.inputs).toEqual({ name: "/client-abc" });
        expect(vhost.protect).toBe(true);
    });

    test("permissions for the tenant's users (rotation slots a and b) on that vhost only", () => {
        expect(one(abc, T.RabbitUser, "abc-amqp-user").inputs).toEqual({ name: "client-abc-app", password: "[secret]", tags: [] });
        expect(one(abc, T.RabbitUser, "abc-amqp-user-b").inputs).toEqual({ name: "client-abc-app-b", password: "[secret]", tags: [] });
        expect(one(abc, T.Permissions, "abc-amqp-permissions").inputs).toEqual({
            user: "client-abc-app",
            vhost: "/client-abc",
            permissions: { configure: ".*", write: ".*", read: ".*" },
        });
        expect(one(abc, T.Permissions, "abc-amqp-permissions-b").inputs).toEqual({
            user: "client-abc-app-b",
            vhost: "/client-abc",
            permissions: { configure: ".*", write: ".*", read: ".*" },
        });
    });

    test("the exchange client-abc.events is a durable topic exchange", () => {
        expect(one(abc, T.Exchange).inputs).toEqual({
            name: "client-abc.events",
            vhost: "/client-abc",
            settings: { type: "topic", durable: true, autoDelete: false },
        });
    });

    test("2 durable quorum queues, protected, bound to the exchange by the entity their events are named after (order.#, auth.#)", () => {
        const queues = ofType(abc, T.Queue);
        expect(queues.map((q) => q.inputs.name).sort()).toEqual(["client-abc.auth", "client-abc.orders"]);
        for (const q of queues) {
            expect(q.protect).toBe(true);
            expect(q.inputs.vhost).toBe("/client-abc");
            expect(q.inputs.settings).toEqual({ durable: true, autoDelete: false, argumentsJson: JSON.stringify({ "x-queue-type": "quorum" }) });
        }
        expect(
            ofType(abc, T.Binding)
                .map((b) => b.inputs)
                .sort((a, b) => String(a.destination).localeCompare(String(b.destination))),
        ).toEqual(
            [
                ["auth", "auth.#"],
                ["orders", "order.#"],
            ].map(([s, key]) => ({
                vhost: "/client-abc",
                source: "client-abc.events",
                destination: `client-abc.${s}`,
                destinationType: "queue",
                routingKey: key,
            })),
        );
    });
});

describe("TenantIngress", () => {
    test("client-abc-ingress: class nginx, letsencrypt-prod, TLS for the domain and custom domains, to api-gateway:8100", () => {
        const ingress = one(abc, T.Ingress);
        const hosts = ["client-abc.collectverything.com", "shop.client-abc.com"];
        expect(at(ingress.inputs, "metadata", "name")).toBe("client-abc-ingress");
        expect(at(ingress.inputs, "metadata", "annotations")).toEqual({ "cert-manager.io/cluster-issuer": "letsencrypt-prod" });
        expect(at(ingress.inputs, "spec")).toEqual({
            ingressClassName: "nginx",
            tls: [{ hosts, secretName: "client-abc-tls" }],
            rules: hosts.map((host) => ({
                host,
                http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "api-gateway", port: { number: 8100 } } } }] },
            })),
        });
    });
});

describe("monitoring and tracing of abc", () => {
    const LABELS = {
        tenant: "client-abc",
        environment: "production",
        "managed-by": "pulumi",
        "app.kubernetes.io/managed-by": "pulumi",
        "cost-center": "CC-ABC-001",
        "billing-id": "sub_abc123",
        department: "retail",
        "collectverything.com/region": "eu-west",
    };
    const configMap = (name: string) =>
        one(
            abc.filter((r) => r.name === name),
            CONFIG_MAP,
        );

    test("the OTEL ConfigMap carries the seed's Jaeger tags as resource attributes, and the collector's OTLP endpoint", () => {
        const cm = configMap("abc-otel");
        expect(at(cm.inputs, "metadata")).toEqual({ name: "otel-resource-attributes", namespace: NS, labels: LABELS });
        expect(at(cm.inputs, "data")).toEqual({
            OTEL_RESOURCE_ATTRIBUTES: "tenant.id=client-abc,tenant.tier=premium,website.id=123,website.domain=client-abc.collectverything.com",
            OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel-collector.e-commerce-shared.svc.cluster.local:4317",
        });
        expect(index(cm)?.type).toBe(T.TenantNamespace);
    });

    test("the dashboard ConfigMap: labelled for the Grafana sidecar, in the folder client-abc, every query filtered to tenant_id abc", () => {
        const cm = configMap("abc-dashboard");
        expect(at(cm.inputs, "metadata")).toEqual({
            name: "grafana-dashboard",
            namespace: NS,
            labels: { ...LABELS, grafana_dashboard: "1" },
            annotations: { grafana_folder: "client-abc" },
        });
        expect(index(cm)?.type).toBe(T.Tenant);
        const dashboard = JSON.parse(at(cm.inputs, "data", "dashboard.json") as string);
        expect([dashboard.uid, dashboard.title]).toEqual(["tenant-client-abc", "Tenant client-abc"]);
        const exprs: string[] = dashboard.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr));
        expect(exprs).toHaveLength(12);
        for (const expr of exprs) expect(expr).toMatch(/\{tenant_id="abc"\}$/);
        for (const panel of dashboard.panels) expect(panel.datasource).toEqual({ type: "prometheus", uid: "prometheus" });
    });

    const index = (r: SynthResource) => byUrn(euWest.resources).get(r.parent as string);
});

describe("SharedRegion monitoring (eu-west)", () => {
    const shared = () => euWest.resources.filter((r) => r.tenant === undefined && r.parent?.endsWith("collectverything:tenant:SharedRegion::eu-west"));

    test("the additionalScrapeConfigs Secret and the PrometheusRule, in e-commerce-shared", () => {
        expect(
            shared()
                .map((r) => `${r.type} ${r.name}`)
                .sort(),
        ).toEqual(
            [
                "kubernetes:core/v1:Namespace eu-west-namespace",
                "kubernetes:core/v1:Secret eu-west-scrape-configs",
                "kubernetes:monitoring.coreos.com/v1:PrometheusRule eu-west-tenant-rules",
                "kubernetes:external-secrets.io/v1:ClusterSecretStore eu-west-secret-store",
            ].sort(),
        );
        const secret = one(shared(), T.Secret);
        expect(at(secret.inputs, "metadata", "name")).toBe("prometheus-additional-scrape-configs");
        expect(at(secret.inputs, "metadata", "namespace")).toBe("e-commerce-shared");
        // A Pulumi secret (the Kubernetes SDK marks all of stringData secret): redacted; the content is lib/monitoring.ts's, tested there.
        expect(at(secret.inputs, "stringData")).toBe("[secret]");
        const rule = one(shared(), "kubernetes:monitoring.coreos.com/v1:PrometheusRule");
        expect(at(rule.inputs, "metadata", "name")).toBe("collectverything-tenants");
        expect(at(rule.inputs, "metadata", "namespace")).toBe("e-commerce-shared");
        expect(at(rule.inputs, "metadata", "labels", "release")).toBe("kube-prometheus-stack");
        expect(at(rule.inputs, "metadata", "labels", "collectverything.com/region")).toBe("eu-west");
        const groups = at(rule.inputs, "spec", "groups") as { name: string; rules: { record?: string; alert?: string }[] }[];
        expect(groups.map((g) => g.name)).toEqual(["collectverything-tenant-metrics", "collectverything-tenant-alerts"]);
        expect(groups[1].rules.map((r) => r.alert)).toEqual([
            "TenantQuotaNearlyFull",
            "TenantBackupJobFailed",
            "TenantBackupMissing",
            "TenantCertificateExpiring",
            "TenantQueueGrowing",
        ]);
        expect(groups[0].rules).toHaveLength(12);
    });
});

describe("component structure", () => {
    test("the component types are exactly the seven collectverything:tenant:* tokens", () => {
        const components = euWest.resources.filter((r) => !r.custom);
        expect(new Set(components.map((r) => r.type))).toEqual(new Set(COMPONENT_TYPES));
        const ours = new Set(euWest.resources.filter((r) => r.type.startsWith("collectverything:")).map((r) => r.type));
        expect(ours).toEqual(new Set(COMPONENT_TYPES));
        for (const type of ours) expect(type.split(":")).toHaveLength(3);
        // Apart from the components, only explicit providers are top-level.
        const topLevel = euWest.resources.filter((r) => r.parent === undefined);
        expect(
            topLevel
                .filter((r) => !r.type.startsWith("pulumi:providers:"))
                .map((r) => r.type)
                .sort(),
        ).toEqual([T.SharedRegion, ...Array(4).fill(T.Tenant)].sort());
    });

    test("every child of a component has that component as parent, and the URN nests its type", () => {
        const index = byUrn(euWest.resources);
        const violations: string[] = [];
        for (const r of euWest.resources) {
            if (r.parent === undefined) continue;
            const parent = index.get(r.parent);
            if (!parent) {
                violations.push(`${r.urn}: parent ${r.parent} is not registered`);
                continue;
            }
            if (parent.custom) violations.push(`${r.urn}: parent ${parent.urn} is not a component`);
            const parentChain = parent.urn.split("::")[2];
            const expectedUrn = `urn:pulumi:eu-west::tenant-platform::${parentChain}$${r.type}::${r.name}`;
            if (r.urn !== expectedUrn) violations.push(`${r.urn}: expected ${expectedUrn}`);
            if (r.tenant !== parent.tenant) violations.push(`${r.urn}: tenant ${r.tenant} under ${parent.urn} of tenant ${parent.tenant}`);
        }
        expect(violations).toEqual([]);
    });

    test("each resource of abc sits under the component that owns its kind", () => {
        const index = byUrn(abc);
        const owner = (r: SynthResource): string => {
            if (r.type === T.Tenant) return "(top level)";
            if ([T.TenantNamespace, T.TenantDatabase, T.TenantBucket, T.TenantVhost, T.TenantIngress, T.TenantArchiveAccess].includes(r.type as never))
                return T.Tenant;
            if (r.type.startsWith("aws:iam/") || r.name === "abc-archive-credentials") return T.TenantArchiveAccess;
            if (r.type.startsWith("mysql:") || r.type.startsWith("aws:") || r.type === T.ExternalSecret || /-db-(password|credentials)(-b)?$/.test(r.name))
                return T.TenantDatabase;
            if (
                r.type.startsWith("minio:") ||
                /^abc-(app|backup)-secret(-b)?$/.test(r.name) ||
                ["abc-storage-credentials", "abc-backup-credentials"].includes(r.name)
            )
                return T.TenantBucket;
            if (r.type.startsWith("rabbitmq:") || r.name.startsWith("abc-amqp-")) return T.TenantVhost;
            if (r.type === T.Ingress) return T.TenantIngress;
            if (r.name === "abc-dashboard") return T.Tenant;
            return T.TenantNamespace;
        };
        const violations = abc
            .map((r) => [r, r.parent === undefined ? "(top level)" : index.get(r.parent)?.type] as const)
            .filter(([r, parentType]) => parentType !== owner(r))
            .map(([r, parentType]) => `${r.urn}: parent is ${parentType}, expected ${owner(r)}`);
        expect(violations).toEqual([]);
        // Every component of abc is the one named after the tenant.
        for (const c of abc.filter((r) => !r.custom)) expect(c.name).toBe("abc");
        // Every logical name derives from the tenant id.
        expect(abc.filter((r) => r.custom && !r.name.startsWith("abc-")).map((r) => r.urn)).toEqual([]);
    });

    test(
        "a Tenant refuses a manifest entry of another region",
        async () => {
            let error: unknown;
            await recordComponent(() => {
                const { Tenant } = require("../../../components/tenant") as typeof import("../../../components/tenant");
                const xyz = loadManifest(SHIPPED_MANIFEST).tenants.find((t) => t.id === "xyz");
                expect(xyz?.region).toBe("us-east");
                try {
                    new Tenant("xyz", { tenant: xyz as TenantSpec, region: "eu-west", environment: "production" });
                } catch (err) {
                    error = err;
                }
            });
            expect((error as Error).message).toBe('tenant "xyz" belongs to region us-east, not eu-west: data never leaves its region');
        },
        SYNTH_TIMEOUT_MS,
    );
});

/** MySQL's LIKE: `_` any one character, `%` any run, `\` escapes the next character. */
function likeMatches(pattern: string, value: string): boolean {
    let regex = "";
    for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i];
        if (c === "\\" && i + 1 < pattern.length) regex += escapeRegex(pattern[++i]);
        else if (c === "_") regex += ".";
        else if (c === "%") regex += ".*";
        else regex += escapeRegex(c);
    }
    return new RegExp(`^${regex}$`, "s").test(value);
}

function escapeRegex(c: string): string {
    return c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

describe("grantDatabasePattern (MySQL GRANT treats the database name as a LIKE pattern)", () => {
    test("without escaping, tenant a-b's grant would open tenant a1b's database: the reason for the escape", () => {
        expect(likeMatches(databaseName("a-b", "auth"), databaseName("a1b", "auth"))).toBe(true);
        expect(likeMatches(grantDatabasePattern(databaseName("a-b", "auth")), databaseName("a1b", "auth"))).toBe(false);
        expect(grantDatabasePattern("client_a_b_auth_db")).toBe("client\\_a\\_b\\_auth\\_db");
    });

    test("for any two tenant ids and services, the escaped pattern matches exactly its own database", () => {
        const id = fc
            .tuple(fc.constantFrom("a", "b"), fc.array(fc.constantFrom("a", "b", "1", "-"), { maxLength: 5 }))
            .map(([h, rest]) => h + rest.join(""))
            .filter((s) => /^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*$/.test(s));
        const service = fc.constantFrom(...DEFAULT_SERVICES);
        fc.assert(
            fc.property(id, service, id, service, (x, s, y, t) => {
                expect(likeMatches(grantDatabasePattern(databaseName(x, s)), databaseName(y, t))).toBe(x === y && s === t);
            }),
            {
                examples: [
                    ["a-b", "auth", "a1b", "auth"],
                    ["ab", "auth", "a-b", "auth"],
                ],
            },
        );
    });
});
