/**
 * lib/naming.ts: the seed's name vectors, the id length limit, and
 * properties over every valid tenant id.
 */
import fc from "fast-check";
import {
    BUCKET_PURPOSES,
    DEFAULT_QUEUES,
    DEFAULT_SERVICES,
    NAME_LIMITS,
    TENANT_ID_PATTERN,
    adminGroup,
    awsSecretPath,
    bucketName,
    bucketPolicyName,
    bucketUser,
    databaseName,
    databaseUser,
    dbCredentialsSecretName,
    derivedNames,
    eventTenantId,
    exchangeName,
    ingressName,
    maxTenantIdLength,
    namesOverLimit,
    namespaceName,
    prometheusTenantId,
    queueName,
    rabbitUser,
    tenantSlug,
    tlsSecretName,
    vhostName,
} from "../../../lib/naming";
import { tenantRelabelConfigs } from "../../../lib/monitoring";

const MAX = maxTenantIdLength();

describe("seed name vectors for tenant abc", () => {
    test.each([
        ["namespace", namespaceName("abc"), "e-commerce-client-abc"],
        ["auth database", databaseName("abc", "auth"), "client_abc_auth_db"],
        ["products database", databaseName("abc", "products"), "client_abc_products_db"],
        ["orders database", databaseName("abc", "orders"), "client_abc_orders_db"],
        ["auth user", databaseUser("abc", "auth"), "client_abc_auth_user"],
        ["products user", databaseUser("abc", "products"), "client_abc_products_user"],
        ["orders user", databaseUser("abc", "orders"), "client_abc_orders_user"],
        ["auth credentials Secret", dbCredentialsSecretName("auth"), "auth-db-credentials"],
        ["products credentials Secret", dbCredentialsSecretName("products"), "products-db-credentials"],
        ["orders credentials Secret", dbCredentialsSecretName("orders"), "orders-db-credentials"],
        ["products bucket", bucketName("abc", "products"), "client-abc-products"],
        ["sav bucket", bucketName("abc", "sav"), "client-abc-sav"],
        ["newsletters bucket", bucketName("abc", "newsletters"), "client-abc-newsletters"],
        ["IAM user", bucketUser("abc"), "client-abc-app"],
        ["vhost", vhostName("abc"), "/client-abc"],
        ["exchange", exchangeName("abc"), "client-abc.events"],
        ["auth queue", queueName("abc", "auth"), "client-abc.auth"],
        ["orders queue", queueName("abc", "orders"), "client-abc.orders"],
        ["Ingress", ingressName("abc"), "client-abc-ingress"],
        ["TLS secret", tlsSecretName("abc"), "client-abc-tls"],
        ["AWS path auth", awsSecretPath("abc", "auth"), "/e-commerce/client-abc/auth-db-password"],
        ["AWS path products", awsSecretPath("abc", "products"), "/e-commerce/client-abc/products-db-password"],
        ["AWS path orders", awsSecretPath("abc", "orders"), "/e-commerce/client-abc/orders-db-password"],
        ["Prometheus tenant_id", prometheusTenantId("abc"), "abc"],
        ["event tenant_id", eventTenantId("abc"), "client-abc"],
        ["admin group", adminGroup("abc"), "client-abc-admins"],
        ["tenant label", tenantSlug("abc"), "client-abc"],
    ])("%s", (_what, actual, expected) => {
        expect(actual).toBe(expected);
    });

    test("the default services, bucket purposes and queues are the seed's", () => {
        expect([...DEFAULT_SERVICES]).toEqual(["auth", "products", "orders"]);
        expect([...BUCKET_PURPOSES]).toEqual(["products", "sav", "newsletters"]);
        expect([...DEFAULT_QUEUES]).toEqual(["auth", "orders"]);
    });

    test("the relabel rule the scrape job ships (lib/monitoring.ts) extracts prometheusTenantId from the namespace", () => {
        // The shipped rule is the seed's, literally; Prometheus anchors its regex at both ends.
        const rule = tenantRelabelConfigs().find((r) => r.target_label === "tenant_id");
        expect(rule).toEqual({ source_labels: ["__meta_kubernetes_namespace"], regex: "e-commerce-client-(.+)", target_label: "tenant_id" });
        const extract = (namespace: string) => new RegExp(`^(?:${rule?.regex})$`).exec(namespace)?.[1];
        expect(extract(namespaceName("abc"))).toBe(prometheusTenantId("abc"));
        expect(extract(namespaceName("a-b"))).toBe(prometheusTenantId("a-b"));
        expect(extract("e-commerce-shared")).toBeUndefined();
        fc.assert(fc.property(tenantId(), (id) => expect(extract(namespaceName(id))).toBe(prometheusTenantId(id))));
    });
});

describe("maxTenantIdLength", () => {
    test("is 11 for the default services", () => {
        // The binding limit is MySQL 8's 32-character user name. The longest
        // user name belongs to the longest default service, "products":
        //   "client_" (7) + id + "_products_user" (14) = 21 + id  <=  32  =>  id <= 11.
        // Every other name has more room: namespace "e-commerce-client-" (18) + id <= 63,
        // bucket "client-" + id + "-newsletters" (19 + id) <= 63, database 64.
        expect("client_".length + "_products_user".length).toBe(21);
        expect(NAME_LIMITS.mysqlUser - 21).toBe(11);
        expect(MAX).toBe(11);
    });

    test("an 11-character id fits; at 12 exactly the products user name breaks the 32-character limit", () => {
        expect(namesOverLimit("abcdefghijk")).toEqual([]);
        expect(namesOverLimit("abcdefghijkl")).toEqual([{ kind: "mysqlUser", name: "client_abcdefghijkl_products_user", limit: 32 }]);
    });

    test.each([
        [["auth"], 15], // "client_" + id + "_auth_user" (10): 17 + id <= 32
        [["auth", "orders"], 13], // "_orders_user" (12): 19 + id <= 32
        [["auth", "inventory"], 10], // "_inventory_user" (15): 22 + id <= 32
    ])("follows the longest service: %j -> %d", (services, expected) => {
        expect(maxTenantIdLength(services)).toBe(expected);
    });

    test("for service names that leave room for an id, it is the exact boundary: L fits and L+1 does not", () => {
        // "client_" + id(>=1) + "_" + service + "_user" <= 32 needs service <= 18 characters.
        const service = fc.stringMatching(/^[a-z][a-z0-9]{0,17}$/);
        fc.assert(
            fc.property(fc.uniqueArray(service, { minLength: 1, maxLength: 4 }), (services) => {
                const max = maxTenantIdLength(services);
                expect(max).toBeGreaterThanOrEqual(1);
                expect(namesOverLimit("a".repeat(max), services)).toEqual([]);
                expect(namesOverLimit("a".repeat(max + 1), services).length).toBeGreaterThan(0);
            }),
        );
    });
});

// ---------------------------------------------------------------------------
// Properties over valid tenant ids.

const LETTERS = "abcdefghijklmnopqrstuvwxyz".split("");
const ALNUM = [...LETTERS, ..."0123456789".split("")];

/**
 * Valid tenant ids (TENANT_ID_PATTERN, at most `maxLength` characters):
 * a letter, then letters, digits and single inner hyphens. Hyphens are
 * weighted up so that ids like "a-b" are common.
 */
function tenantId(alphabet: readonly string[] = ALNUM, maxLength = MAX): fc.Arbitrary<string> {
    const char = fc.oneof({ arbitrary: fc.constantFrom(...alphabet), weight: 4 }, { arbitrary: fc.constant("-"), weight: 1 });
    return fc
        .tuple(fc.constantFrom(...alphabet.filter((c) => /[a-z]/.test(c))), fc.array(char, { maxLength: maxLength - 1 }))
        .map(([head, rest]) => head + rest.join(""))
        .filter((id) => TENANT_ID_PATTERN.test(id));
}

/** A tiny alphabet, so that near-collisions ("a-b" / "ab" / "a1b" / "a-1b") are generated often. */
const nearId = tenantId(["a", "b", "1"], 6);

/**
 * The names of an id that live in a namespace shared by all tenants of a
 * region, grouped by that namespace: two tenants' names may only be compared
 * within one system (a MinIO user and a Kubernetes label may spell alike).
 */
function sharedNames(id: string): Record<string, string[]> {
    return {
        "kubernetes namespaces": [namespaceName(id)],
        "kubernetes groups": [adminGroup(id)],
        "tenant label values": [tenantSlug(id)],
        "mysql databases": DEFAULT_SERVICES.map((s) => databaseName(id, s)),
        "mysql users": DEFAULT_SERVICES.map((s) => databaseUser(id, s)),
        "minio buckets": BUCKET_PURPOSES.map((p) => bucketName(id, p)),
        "minio users": [bucketUser(id)],
        "minio policies": [bucketPolicyName(id)],
        "rabbitmq vhosts": [vhostName(id)],
        "rabbitmq users": [rabbitUser(id)],
        "aws secrets": DEFAULT_SERVICES.map((s) => awsSecretPath(id, s)),
    };
}

/** Every name derived from an id, including the ones scoped by its namespace or vhost. */
function allNames(id: string): Record<string, string[]> {
    return {
        ...sharedNames(id),
        "namespaced objects": [ingressName(id), tlsSecretName(id), ...DEFAULT_SERVICES.map(dbCredentialsSecretName)],
        "vhost objects": [exchangeName(id), ...DEFAULT_QUEUES.map((q) => queueName(id, q))],
        "prometheus tenant_id": [prometheusTenantId(id)],
        "event tenant_id": [eventTenantId(id)],
    };
}

const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;
const LABEL_VALUE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
/** S3 bucket naming rules: 3-63 of a-z 0-9 . -, letter or digit at both ends. */
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** MySQL identifiers we want: lowercase word characters only, so no quoting surprises. */
const SQL_IDENT = /^[a-z0-9_]+$/;

describe("properties of names over valid ids", () => {
    test("the id arbitrary generates valid ids only, up to the maximum length", () => {
        fc.assert(
            fc.property(tenantId(), (id) => {
                expect(id).toMatch(TENANT_ID_PATTERN);
                expect(id.length).toBeLessThanOrEqual(MAX);
            }),
        );
    });

    test("names are deterministic", () => {
        fc.assert(
            fc.property(tenantId(), (id) => {
                expect(allNames(id)).toEqual(allNames(id));
                expect(derivedNames(id)).toEqual(derivedNames(id));
            }),
        );
    });

    test("every derived name of a valid id is within its system's limits and character rules", () => {
        fc.assert(
            fc.property(tenantId(), (id) => {
                expect(namesOverLimit(id)).toEqual([]);
                for (const n of derivedNames(id)) expect(n.name.length).toBeLessThanOrEqual(n.limit);

                expect(namespaceName(id)).toMatch(DNS_LABEL);
                expect(namespaceName(id).length).toBeLessThanOrEqual(NAME_LIMITS.namespace);
                expect(tenantSlug(id)).toMatch(LABEL_VALUE);
                for (const p of BUCKET_PURPOSES) {
                    expect(bucketName(id, p)).toMatch(S3_BUCKET);
                    expect(bucketName(id, p).length).toBeLessThanOrEqual(NAME_LIMITS.bucket);
                }
                for (const s of DEFAULT_SERVICES) {
                    expect(databaseName(id, s)).toMatch(SQL_IDENT);
                    expect(databaseName(id, s).length).toBeLessThanOrEqual(NAME_LIMITS.database);
                    expect(databaseUser(id, s)).toMatch(SQL_IDENT);
                    expect(databaseUser(id, s).length).toBeLessThanOrEqual(NAME_LIMITS.mysqlUser);
                    expect(dbCredentialsSecretName(s)).toMatch(DNS_SUBDOMAIN);
                }
                for (const n of [ingressName(id), tlsSecretName(id), adminGroup(id)]) {
                    expect(n).toMatch(DNS_SUBDOMAIN);
                    expect(n.length).toBeLessThanOrEqual(NAME_LIMITS.objectName);
                }
                // AMQP short strings (vhost, exchange, queue names) are at most 255 bytes.
                for (const n of [vhostName(id), exchangeName(id), ...DEFAULT_QUEUES.map((q) => queueName(id, q))]) {
                    expect(n.length).toBeLessThanOrEqual(255);
                }
            }),
        );
    });

    test("names of two different ids never collide (any kind, any service, any bucket purpose)", () => {
        // Ids can hold "-" but never "_" (the pattern refuses it), so the SQL
        // form that maps "-" to "_" stays one-to-one: "a-b" -> client_a_b, "ab" -> client_ab.
        expect(TENANT_ID_PATTERN.test("a_b")).toBe(false);
        fc.assert(
            fc.property(fc.oneof(tenantId(), nearId), fc.oneof(tenantId(), nearId), (x, y) => {
                fc.pre(x !== y);
                const ny = sharedNames(y);
                const collisions = Object.entries(sharedNames(x)).flatMap(([system, names]) =>
                    names.filter((n) => ny[system].includes(n)).map((n) => `${system}: ${x} and ${y} both get ${n}`),
                );
                expect(collisions).toEqual([]);
            }),
            {
                examples: [
                    ["a-b", "ab"],
                    ["a-b", "a1b"],
                    ["a1-b", "a-1b"],
                    ["ab-c", "a-bc"],
                    ["abc", "abc-products"],
                    ["a", "a-sav"],
                ],
            },
        );
    });

    test("within one id, names that share a system are distinct (databases, users, buckets, secrets, queues and exchange)", () => {
        const distinct = (names: string[]) => expect(new Set(names).size).toBe(names.length);
        fc.assert(
            fc.property(tenantId(), (id) => {
                for (const names of Object.values(allNames(id))) distinct(names);
            }),
        );
    });

    test("names do not depend on order: mapping a set of ids, then a shuffle of it, gives the same map", () => {
        const idsAndShuffle = fc
            .uniqueArray(fc.oneof(tenantId(), nearId), { minLength: 1, maxLength: 25 })
            .chain((ids) => fc.tuple(fc.constant(ids), fc.shuffledSubarray(ids, { minLength: ids.length, maxLength: ids.length })));
        fc.assert(
            fc.property(idsAndShuffle, ([ids, shuffled]) => {
                const inOrder = new Map(ids.map((id) => [id, allNames(id)]));
                const reordered = new Map(shuffled.map((id) => [id, allNames(id)]));
                expect(reordered.size).toBe(inOrder.size);
                for (const [id, names] of inOrder) expect(reordered.get(id)).toEqual(names);
            }),
        );
    });
});
