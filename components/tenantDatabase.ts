import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as mysql from "@pulumi/mysql";
import * as pulumi from "@pulumi/pulumi";
import { COMPONENT_TOKENS } from "../lib/tokens";
import * as random from "@pulumi/random";
import type { CredentialsBackend } from "../lib/credentials";
import { DEFAULT_SERVICES, awsSecretPath, databaseName, databaseUser, dbCredentialsSecretName } from "../lib/naming";
import { SLOTS, activeSlot, passwordKeepers, type TenantRotations } from "../lib/rotation";

/** Where database credentials are delivered to the tenant's namespace (defined in lib/credentials.ts). */
export type { CredentialsBackend };

export interface TenantDatabaseArgs {
    readonly tenantId: string;
    /** Namespace that receives the `<service>-db-credentials` Secrets. */
    readonly namespace: pulumi.Input<string>;
    /** Services that get a database. Default: auth, products, orders. */
    readonly services?: readonly string[];
    /** Host the applications use to reach MySQL. Default: mysql.e-commerce-shared.svc.cluster.local. */
    readonly clusterHost?: string;
    /** Port the applications use. Default: 3306. */
    readonly port?: number;
    /** Host part of the MySQL accounts. Default: "%" (the network is restricted by NetworkPolicy and MySQL's own bind). */
    readonly userHost?: string;
    /** How credentials reach the namespace. Default: kubernetes (a Secret per service). */
    readonly credentialsBackend?: CredentialsBackend;
    /** Name of the ClusterSecretStore used with aws-secrets-manager. Default: aws-secrets-manager. */
    readonly secretStoreName?: string;
    /** Labels for the Kubernetes objects. */
    readonly labels?: Record<string, string>;
    /** The tenant's credential rotation states (lib/rotation.ts), keyed by service; absent: generation 0. */
    readonly credentials?: TenantRotations;
}

/** Privileges a service account gets on its own database: data and schema, nothing server-wide. */
export const SERVICE_PRIVILEGES = [
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
] as const;

/**
 * The database pattern for a GRANT. In MySQL and MariaDB a database name in
 * GRANT is a LIKE pattern: `_` matches any one character. Unescaped, the
 * grant for tenant "a-b" (client_a_b_auth_db) would also open tenant "a1b"'s
 * client_a1b_auth_db. Escaping makes the grant match its own database only.
 */
export function grantDatabasePattern(database: string): string {
    return database.replace(/([_%\\])/g, "\\$1");
}

/** The credential keys the services read (the seed's Secret). */
export function credentialsData(args: { host: string; port: number; database: string; username: string }) {
    return { DB_HOST: args.host, DB_PORT: String(args.port), DB_DATABASE: args.database, DB_USERNAME: args.username };
}

/**
 * One database per service in the shared MySQL, each with two accounts
 * (rotation slots a and b, lib/rotation.ts), each with its own generated
 * password and a grant on that database only, and the active account's
 * credentials delivered to the tenant's namespace.
 */
export class TenantDatabase extends pulumi.ComponentResource {
    /** Database names by service. */
    public readonly databases: Record<string, string>;
    /** The ARNs of the AWS Secrets Manager secrets holding the passwords, by service (aws-secrets-manager backend; empty otherwise). */
    public readonly awsSecretArns: Record<string, pulumi.Output<string>> = {};

    constructor(name: string, args: TenantDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super(COMPONENT_TOKENS.TenantDatabase, name, {}, opts);
        const services = args.services ?? DEFAULT_SERVICES;
        const host = args.clusterHost ?? "mysql.e-commerce-shared.svc.cluster.local";
        const port = args.port ?? 3306;
        const userHost = args.userHost ?? "%";
        const backend = args.credentialsBackend ?? "kubernetes";
        this.databases = {};

        for (const service of services) {
            const dbName = databaseName(args.tenantId, service);
            this.databases[service] = dbName;
            const prefix = `${name}-${service}`;
            const state = args.credentials?.[service];
            const active = activeSlot(state);

            const database = new mysql.Database(
                `${prefix}-db`,
                { name: dbName, defaultCharacterSet: "utf8mb4", defaultCollation: "utf8mb4_unicode_ci" },
                { parent: this, protect: true },
            );
            // Two accounts per service (lib/rotation.ts): slot a keeps the names every tenant had; slot b's end in "-b".
            const slots = SLOTS.map((slot) => {
                const suffix = slot === "a" ? "" : "-b";
                const userName = databaseUser(args.tenantId, service, slot);
                const keepers = passwordKeepers(state, slot);
                const password = new random.RandomPassword(
                    `${prefix}-db-password${suffix}`,
                    { length: 32, special: false, ...(keepers ? { keepers } : {}) },
                    { parent: this },
                );
                const user = new mysql.User(
                    `${prefix}-db-user${suffix}`,
                    { user: userName, host: userHost, plaintextPassword: password.result },
                    { parent: this },
                );
                const grant = new mysql.Grant(
                    `${prefix}-db-grant${suffix}`,
                    { user: user.user, host: user.host, database: grantDatabasePattern(dbName), privileges: [...SERVICE_PRIVILEGES] },
                    { parent: this, dependsOn: [database] },
                );
                return { slot, suffix, userName, password, ready: [user, grant] };
            });
            const current = slots.find((s) => s.slot === active)!;
            const userName = current.userName;
            const password = current.password;

            const data = credentialsData({ host, port, database: dbName, username: userName });
            const secretName = dbCredentialsSecretName(service);
            if (backend === "kubernetes") {
                // dependsOn: the Secret names an account only once that account has the password (a switch never hands out a refused one).
                new k8s.core.v1.Secret(
                    `${prefix}-db-credentials`,
                    {
                        metadata: { name: secretName, namespace: args.namespace, labels: args.labels },
                        type: "Opaque",
                        stringData: { ...data, DB_PASSWORD: password.result },
                    },
                    { parent: this, dependsOn: current.ready },
                );
            } else {
                // One AWS secret per slot, each always holding its account's password; the ExternalSecret names the active one,
                // its username and its secret in one object, so a switch is one atomic change of what the namespace receives.
                const remotes = slots.map((s) => {
                    const remote = new aws.secretsmanager.Secret(
                        `${prefix}-db-password${s.suffix}`,
                        { name: awsSecretPath(args.tenantId, service, s.slot), description: `Password of ${s.userName} on ${dbName}`, tags: args.labels },
                        { parent: this },
                    );
                    const version = new aws.secretsmanager.SecretVersion(
                        `${prefix}-db-password${s.suffix}`,
                        { secretId: remote.id, secretString: s.password.result },
                        { parent: this, dependsOn: s.ready },
                    );
                    return { slot: s.slot, remote, version };
                });
                const remote = remotes.find((r) => r.slot === active)!;
                this.awsSecretArns[service] = remote.remote.arn;
                new k8s.apiextensions.CustomResource(
                    `${prefix}-db-credentials`,
                    {
                        apiVersion: "external-secrets.io/v1",
                        kind: "ExternalSecret",
                        metadata: { name: secretName, namespace: args.namespace, labels: args.labels },
                        spec: {
                            refreshInterval: "1h",
                            secretStoreRef: { name: args.secretStoreName ?? "aws-secrets-manager", kind: "ClusterSecretStore" },
                            // The seed's ExternalSecret delivered DB_PASSWORD only; the services need every key.
                            target: { name: secretName, creationPolicy: "Owner", template: { data: { ...data, DB_PASSWORD: "{{ .password }}" } } },
                            data: [{ secretKey: "password", remoteRef: { key: awsSecretPath(args.tenantId, service, active) } }],
                        },
                    },
                    { parent: this, dependsOn: [remote.remote, remote.version, ...current.ready] },
                );
            }
        }
        this.registerOutputs({ databases: this.databases });
    }
}
