/**
 * Seed onboarding step 8, "client receives access credentials": where a
 * tenant's credentials are, by name (lib/credentials.ts), and proof that
 * those are the Secrets, keys and AWS secrets the components really create.
 */
import { BUCKET_BACKUP_CREDENTIALS_SECRET } from "../../../lib/archiveAccess";
import { ARCHIVE_CREDENTIALS_SECRET } from "../../../lib/archiveLayout";
import { awsSecretArnsOf, credentialLocations, secretNameOfArn, type CredentialLocations } from "../../../lib/credentials";
import { tenantSpec } from "../../support/manifests";
import { SYNTH_TIMEOUT_MS, T, at, recordComponent, unwrapSecret, type RecordedRegistration } from "../../support/synth";

jest.setTimeout(SYNTH_TIMEOUT_MS);

const ALL = { databases: true, buckets: true, vhosts: true };
const DB_KEYS = ["DB_HOST", "DB_PORT", "DB_DATABASE", "DB_USERNAME", "DB_PASSWORD"];
const S3_KEYS = ["S3_ENDPOINT", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_BUCKET_PRODUCTS", "S3_BUCKET_SAV", "S3_BUCKET_NEWSLETTERS"];
const AMQP_KEYS = ["AMQP_HOST", "AMQP_PORT", "AMQP_VHOST", "AMQP_USERNAME", "AMQP_PASSWORD", "AMQP_EXCHANGE", "AMQP_URL"];
const ARN = (service: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:/e-commerce/client-kiwi/${service}-db-password-AbCdEf`;

describe("credentialLocations", () => {
    it("kubernetes backend: a Secret per service database, the object-storage and RabbitMQ Secrets, no AWS secret", () => {
        expect(credentialLocations("abc", { services: ["auth", "products", "orders"], features: ALL, backend: "kubernetes" })).toEqual({
            namespace: "e-commerce-client-abc",
            kubernetesSecrets: [
                { name: "auth-db-credentials", holds: "database", service: "auth", keys: DB_KEYS, source: "kubernetes" },
                { name: "products-db-credentials", holds: "database", service: "products", keys: DB_KEYS, source: "kubernetes" },
                { name: "orders-db-credentials", holds: "database", service: "orders", keys: DB_KEYS, source: "kubernetes" },
                { name: "object-storage-credentials", holds: "object-storage", keys: S3_KEYS, source: "kubernetes" },
                { name: "rabbitmq-credentials", holds: "rabbitmq", keys: AMQP_KEYS, source: "kubernetes" },
            ],
            awsSecrets: [],
        });
    });

    it("aws-secrets-manager backend: the database Secrets are synced from the AWS secrets, whose ARNs are given where known", () => {
        const found = credentialLocations(
            "kiwi",
            { services: ["auth", "orders"], features: ALL, backend: "aws-secrets-manager", awsRegion: "eu-west-1" },
            { auth: ARN("auth") },
        );
        expect(found.kubernetesSecrets.slice(0, 2)).toEqual([
            { name: "auth-db-credentials", holds: "database", service: "auth", keys: DB_KEYS, source: "aws-secrets-manager" },
            { name: "orders-db-credentials", holds: "database", service: "orders", keys: DB_KEYS, source: "aws-secrets-manager" },
        ]);
        expect(found.awsSecrets).toEqual([
            {
                name: "/e-commerce/client-kiwi/auth-db-password",
                arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:/e-commerce/client-kiwi/auth-db-password-AbCdEf",
                region: "eu-west-1",
                service: "auth",
                kubernetesSecret: "auth-db-credentials",
                key: "DB_PASSWORD",
            },
            {
                name: "/e-commerce/client-kiwi/orders-db-password",
                arn: null,
                region: "eu-west-1",
                service: "orders",
                kubernetesSecret: "orders-db-credentials",
                key: "DB_PASSWORD",
            },
        ]);
    });

    it("a region with its data features off (the local stack) has no credentials Secret at all", () => {
        expect(
            credentialLocations("abc", { services: ["auth"], features: { databases: false, buckets: false, vhosts: false }, backend: "aws-secrets-manager" }),
        ).toEqual({ namespace: "e-commerce-client-abc", kubernetesSecrets: [], awsSecrets: [] });
    });
});

describe("awsSecretArnsOf", () => {
    it("reads tenants.<id>.awsSecretArns of the stack's outputs, Secrets Manager ARNs only", () => {
        const outputs = {
            tenantCount: 2,
            tenants: {
                kiwi: { namespace: "e-commerce-client-kiwi", awsSecretArns: { auth: ARN("auth"), orders: "[secret]", products: 42 } },
                abc: { namespace: "e-commerce-client-abc" },
            },
        };
        expect(awsSecretArnsOf(outputs, "kiwi")).toEqual({ auth: ARN("auth") });
        expect(awsSecretArnsOf(outputs, "abc")).toEqual({});
        expect(awsSecretArnsOf(outputs, "nobody")).toEqual({});
        expect(awsSecretArnsOf(undefined, "kiwi")).toEqual({});
        expect(awsSecretArnsOf({ tenants: null }, "kiwi")).toEqual({});
    });
});

describe("secretNameOfArn", () => {
    it("is the name between `secret:` and the 6 characters AWS appends", () => {
        expect(secretNameOfArn("arn:aws:secretsmanager:eu-west-1:123456789012:secret:/e-commerce/client-abc/auth-db-password-b-x1Y2z3")).toBe(
            "/e-commerce/client-abc/auth-db-password-b",
        );
        expect(secretNameOfArn("arn:aws:secretsmanager:eu-west-1:123456789012:secret:noSuffix")).toBeUndefined();
    });

    it("an ARN names the secret reported, whatever the default name", () => {
        const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:/e-commerce/client-abc/auth-db-password-b-x1Y2z3";
        expect(
            credentialLocations("abc", { services: ["auth"], features: ALL, backend: "aws-secrets-manager", awsRegion: "us-east-1" }, { auth: arn }).awsSecrets,
        ).toEqual([
            {
                name: "/e-commerce/client-abc/auth-db-password-b",
                arn,
                region: "us-east-1",
                service: "auth",
                kubernetesSecret: "auth-db-credentials",
                key: "DB_PASSWORD",
            },
        ]);
    });
});

describe("without an ARN, the AWS secret of the active rotation slot", () => {
    it("generation 1 of auth (slot b) names auth's slot-b secret; the others stay on slot a", () => {
        const found = credentialLocations(
            "abc",
            { services: ["auth", "orders"], features: ALL, backend: "aws-secrets-manager", awsRegion: "eu-west-1" },
            {},
            {
                auth: { generation: 1, rotatedAt: "2026-03-01T00:00:00Z", retired: false },
                orders: { generation: 2, rotatedAt: "2026-06-01T00:00:00Z", retired: true },
            },
        );
        expect(found.awsSecrets.map((s) => [s.name, s.arn])).toEqual([
            ["/e-commerce/client-abc/auth-db-password-b", null],
            ["/e-commerce/client-abc/orders-db-password", null],
        ]);
    });
});

describe("they are what a Tenant really creates", () => {
    type Components = typeof import("../../../components");
    const names = (recorded: readonly RecordedRegistration[], type: string) => recorded.filter((r) => r.type === type);

    async function build(
        backend: "kubernetes" | "aws-secrets-manager",
        credentials?: Record<string, { generation: number; rotatedAt: string; retired: boolean }>,
    ): Promise<{ recorded: RecordedRegistration[]; arns: Record<string, string> }> {
        const arns: Record<string, string> = {};
        const recorded = await recordComponent(
            () => {
                const { Tenant } = require("../../../components") as Components;
                const tenant = new Tenant("kiwi", {
                    tenant: tenantSpec("kiwi"),
                    region: "eu-west",
                    environment: "production",
                    credentialsBackend: backend,
                    ...(credentials ? { credentials } : {}),
                });
                for (const [service, arn] of Object.entries(tenant.awsSecretArns)) arn.apply((v) => (arns[service] = v));
            },
            (type, name, inputs) => {
                if (type === T.RandomPassword) return { ...inputs, result: `generated-${name}` };
                if (type === T.AwsSecret) return { ...inputs, arn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${String(inputs.name)}-AbCdEf` };
                return inputs;
            },
        );
        return { recorded, arns };
    }

    /**
     * The Secrets (and ExternalSecret targets) of the recording: name -> keys, sorted (the recording sorts them). The backup
     * jobs' own identities (bucket-backup-credentials, archive-credentials) are the platform's, not credentials the client receives.
     */
    function secretsOf(recorded: readonly RecordedRegistration[]): Record<string, string[]> {
        const out: Record<string, string[]> = {};
        const platformOnly = new Set([BUCKET_BACKUP_CREDENTIALS_SECRET, ARCHIVE_CREDENTIALS_SECRET]);
        for (const s of names(recorded, T.Secret).filter((r) => !platformOnly.has(String(at(r.serialized, "metadata", "name")))))
            out[String(at(s.serialized, "metadata", "name"))] = Object.keys(unwrapSecret(s.serialized.stringData) as object).sort();
        for (const es of names(recorded, T.ExternalSecret))
            out[String(at(es.serialized, "spec", "target", "name"))] = Object.keys(at(es.serialized, "spec", "target", "template", "data") as object).sort();
        return out;
    }

    function expected(found: CredentialLocations): Record<string, string[]> {
        return Object.fromEntries(found.kubernetesSecrets.map((s) => [s.name, [...s.keys].sort()]));
    }

    it("kubernetes backend: the same Secret names and keys", async () => {
        const { recorded, arns } = await build("kubernetes");
        const found = credentialLocations("kiwi", { services: ["auth", "products", "orders"], features: ALL, backend: "kubernetes" });
        expect(secretsOf(recorded)).toEqual(expected(found));
        expect(names(recorded, T.ExternalSecret)).toEqual([]);
        expect(arns).toEqual({});
    });

    it("aws-secrets-manager backend: the same Secret names and keys, the same AWS secret names, and the component's ARNs", async () => {
        const { recorded, arns } = await build("aws-secrets-manager");
        const found = credentialLocations(
            "kiwi",
            { services: ["auth", "products", "orders"], features: ALL, backend: "aws-secrets-manager", awsRegion: "eu-west-1" },
            arns,
        );
        expect(secretsOf(recorded)).toEqual(expected(found));
        // The AWS secret each ExternalSecret reads into the namespace is the one reported, with its ARN.
        expect(names(recorded, T.ExternalSecret).map((es) => at(es.serialized, "spec", "data", 0, "remoteRef", "key"))).toEqual(
            found.awsSecrets.map((s) => s.name),
        );
        expect(found.awsSecrets.map((s) => [s.name, s.arn])).toEqual([
            ["/e-commerce/client-kiwi/auth-db-password", ARN("auth")],
            ["/e-commerce/client-kiwi/products-db-password", ARN("products")],
            ["/e-commerce/client-kiwi/orders-db-password", ARN("orders")],
        ]);
    });

    it("after a rotation switched auth to slot b, the reported auth secret is slot b's, the one the namespace receives", async () => {
        const { recorded, arns } = await build("aws-secrets-manager", { auth: { generation: 1, rotatedAt: "2025-06-01T00:00:00Z", retired: false } });
        const found = credentialLocations(
            "kiwi",
            { services: ["auth", "products", "orders"], features: ALL, backend: "aws-secrets-manager", awsRegion: "eu-west-1" },
            arns,
        );
        // Sorted: the registration order follows the dependencies.
        expect(
            names(recorded, T.ExternalSecret)
                .map((es) => String(at(es.serialized, "spec", "data", 0, "remoteRef", "key")))
                .sort(),
        ).toEqual(found.awsSecrets.map((s) => s.name).sort());
        expect(found.awsSecrets[0]).toEqual({
            name: "/e-commerce/client-kiwi/auth-db-password-b",
            arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:/e-commerce/client-kiwi/auth-db-password-b-AbCdEf",
            region: "eu-west-1",
            service: "auth",
            kubernetesSecret: "auth-db-credentials",
            key: "DB_PASSWORD",
        });
    });
});
