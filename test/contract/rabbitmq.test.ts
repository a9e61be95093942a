/**
 * Contract test against the real RabbitMQ of `make local-up`.
 *
 * The vhosts, users, permissions, exchanges, queues and bindings the program
 * declares (synth recorder: the exact inputs of the rabbitmq.* resources) are
 * applied through the management HTTP API with the calls the Terraform
 * rabbitmq provider (rabbit-hole) makes:
 *   PUT  /api/vhosts/<vhost>
 *   PUT  /api/users/<user>                      {password, tags}
 *   PUT  /api/permissions/<vhost>/<user>        {configure, write, read}
 *   PUT  /api/exchanges/<vhost>/<exchange>      {type, durable, auto_delete}
 *   PUT  /api/queues/<vhost>/<queue>            {durable, auto_delete, arguments: <argumentsJson>}
 *   POST /api/bindings/<vhost>/e/<exchange>/q/<queue> {routing_key}
 * Then each tenant's user, with its own password, publishes and consumes on
 * its vhost over AMQP and is refused on the other tenant's. Events are
 * published as the seed publishes them, routing key = event name
 * (`order.created`), and must reach the service's queue (`client-<id>.orders`).
 */
import * as amqp from "amqplib";
import { routingKey } from "../../components/tenantVhost";
import type { SynthResource } from "../../core/synth";
import { DEFAULT_QUEUES, eventTenantId, exchangeName, queueName, rabbitUser, vhostName } from "../../lib/naming";
import { amqpHandshake, type HandshakeOutcome } from "../support/contractAmqp";
import { TENANT_A, TENANT_B, declaredResources, input, localServices, ofType, rejection, testPassword, type LocalServices } from "../support/contract";

jest.setTimeout(60_000);

const VHOST = "rabbitmq:index/vHost:VHost";
const USER = "rabbitmq:index/user:User";
const PERMISSIONS = "rabbitmq:index/permissions:Permissions";
const EXCHANGE = "rabbitmq:index/exchange:Exchange";
const QUEUE = "rabbitmq:index/queue:Queue";
const BINDING = "rabbitmq:index/binding:Binding";

const TENANTS = [TENANT_A, TENANT_B] as const;

interface TenantBroker {
    readonly vhost: string;
    readonly user: string;
    readonly password: string;
    readonly exchange: string;
    /** Queue name by routing-key prefix (the binding's `<entity>.#`: `order` for the orders queue). */
    readonly queues: Map<string, string>;
}

let services: LocalServices;
let resources: SynthResource[];
const brokers = new Map<string, TenantBroker>();

const enc = encodeURIComponent;

async function mgmt(method: string, apiPath: string, body?: unknown, auth?: { user: string; password: string }): Promise<Response> {
    const who = auth ?? { user: services.rabbitmq.user, password: services.rabbitmq.password };
    return fetch(`${services.rabbitmq.mgmtUrl}${apiPath}`, {
        method,
        headers: {
            authorization: `Basic ${Buffer.from(`${who.user}:${who.password}`).toString("base64")}`,
            "content-type": "application/json",
        },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
}

/** A management call that must succeed, as the provider requires (status < 400). */
async function apply(method: string, apiPath: string, body: unknown, urn: string): Promise<void> {
    const res = await mgmt(method, apiPath, body);
    if (res.status >= 400) throw new Error(`${urn}: ${method} ${apiPath} -> ${res.status} ${await res.text()}`);
}

async function getJson<T>(apiPath: string): Promise<T> {
    const res = await mgmt("GET", apiPath);
    if (res.status !== 200) throw new Error(`GET ${apiPath} -> ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
}

/** Removes the declared vhosts (with their exchanges and queues) and users; absent ones are fine. */
async function removeEverything(): Promise<void> {
    for (const r of resources.filter((x) => x.type === VHOST)) await mgmt("DELETE", `/api/vhosts/${enc(input(r, "name"))}`);
    for (const r of resources.filter((x) => x.type === USER)) await mgmt("DELETE", `/api/users/${enc(input(r, "name"))}`);
}

function connect(user: string, password: string, vhost: string): Promise<amqp.ChannelModel> {
    return amqp.connect({
        protocol: "amqp",
        hostname: services.rabbitmq.host,
        port: services.rabbitmq.amqpPort,
        username: user,
        password,
        vhost,
        heartbeat: 0,
    });
}

function handshake(user: string, password: string, vhost: string): Promise<HandshakeOutcome> {
    return amqpHandshake({ host: services.rabbitmq.host, port: services.rabbitmq.amqpPort, user, password, vhost });
}

async function withChannel<T>(b: { user: string; password: string; vhost: string }, fn: (ch: amqp.ConfirmChannel) => Promise<T>): Promise<T> {
    const conn = await connect(b.user, b.password, b.vhost);
    conn.on("error", () => undefined);
    try {
        const ch = await conn.createConfirmChannel();
        ch.on("error", () => undefined);
        return await fn(ch);
    } finally {
        await conn.close().catch(() => undefined);
    }
}

/**
 * The next message on `queue`, or a failure after `ms`. Taken with
 * auto-acknowledgement, so it is settled at delivery: an explicit ack sent just
 * before the connection closes was not always settled on the quorum queue, and
 * the message came back for the next test.
 */
async function nextMessage(ch: amqp.Channel, queue: string, ms = 10_000): Promise<amqp.Message> {
    const deadline = Date.now() + ms;
    for (;;) {
        const msg = await ch.get(queue, { noAck: true });
        if (msg) return msg;
        if (Date.now() > deadline) throw new Error(`no message on ${queue} within ${ms} ms`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

beforeAll(async () => {
    services = localServices();
    resources = await declaredResources();
    await removeEverything();

    for (const tenant of TENANTS) {
        const [vhost] = ofType(resources, VHOST, tenant);
        // Both rotation slots' users exist, each with its permissions; the clients here use slot a's (the active one at generation 0).
        const [user, ...others] = ofType(resources, USER, tenant);
        const [permission, ...otherPermissions] = ofType(resources, PERMISSIONS, tenant);
        const [exchange] = ofType(resources, EXCHANGE, tenant);
        const vhostName = input(vhost, "name");
        await apply("PUT", `/api/vhosts/${enc(vhostName)}`, { tracing: false }, vhost.urn);

        const password = testPassword();
        await apply("PUT", `/api/users/${enc(input(user, "name"))}`, { password, tags: (user.inputs.tags as string[]).join(",") }, user.urn);
        await apply(
            "PUT",
            `/api/permissions/${enc(input(permission, "vhost"))}/${enc(input(permission, "user"))}`,
            permission.inputs.permissions,
            permission.urn,
        );
        for (const u of others) await apply("PUT", `/api/users/${enc(input(u, "name"))}`, { password: testPassword(), tags: "" }, u.urn);
        for (const p of otherPermissions) {
            await apply("PUT", `/api/permissions/${enc(input(p, "vhost"))}/${enc(input(p, "user"))}`, p.inputs.permissions, p.urn);
        }

        const xs = exchange.inputs.settings as { type: string; durable: boolean; autoDelete: boolean };
        await apply(
            "PUT",
            `/api/exchanges/${enc(input(exchange, "vhost"))}/${enc(input(exchange, "name"))}`,
            { type: xs.type, durable: xs.durable, auto_delete: xs.autoDelete, arguments: {} },
            exchange.urn,
        );
        for (const queue of ofType(resources, QUEUE, tenant)) {
            const qs = queue.inputs.settings as { durable: boolean; autoDelete: boolean; argumentsJson: string };
            await apply(
                "PUT",
                `/api/queues/${enc(input(queue, "vhost"))}/${enc(input(queue, "name"))}`,
                { durable: qs.durable, auto_delete: qs.autoDelete, arguments: JSON.parse(qs.argumentsJson) },
                queue.urn,
            );
        }
        const queues = new Map<string, string>();
        for (const binding of ofType(resources, BINDING, tenant)) {
            expect(input(binding, "destinationType")).toBe("queue");
            await apply(
                "POST",
                `/api/bindings/${enc(input(binding, "vhost"))}/e/${enc(input(binding, "source"))}/q/${enc(input(binding, "destination"))}`,
                { routing_key: input(binding, "routingKey"), arguments: {} },
                binding.urn,
            );
            queues.set(input(binding, "routingKey").replace(/\.#$/, ""), input(binding, "destination"));
        }
        brokers.set(tenant, { vhost: vhostName, user: input(user, "name"), password, exchange: input(exchange, "name"), queues });
    }
});

afterAll(async () => {
    if (resources) await removeEverything();
});

const broker = (tenant: string) => brokers.get(tenant)!;

/** The seed's example event (seed-architecture.md, "Event Publishing"). */
function seedEvent(tenantId: string) {
    return { event: "order.created", tenant_id: tenantId, website_id: 123, timestamp: "2025-01-15T10:30:00Z", payload: { order_id: 456, total: 99.99 } };
}
const otherTenant = (tenant: string) => (tenant === TENANT_A ? TENANT_B : TENANT_A);

describe("declarations (synth of the contract manifest, stack eu-west)", () => {
    test("each tenant declares its own vhost, user, permissions on that vhost, exchange, queues and bindings", () => {
        for (const tenant of TENANTS) {
            const slug = `client-${tenant}`;
            expect(ofType(resources, VHOST, tenant).map((r) => input(r, "name"))).toEqual([`/${slug}`]);
            expect(ofType(resources, USER, tenant).map((r) => input(r, "name"))).toEqual([`${slug}-app`, `${slug}-app-b`]);
            const perms = ofType(resources, PERMISSIONS, tenant);
            expect(perms.map((r) => ({ user: r.inputs.user, vhost: r.inputs.vhost }))).toEqual([
                { user: `${slug}-app`, vhost: `/${slug}` },
                { user: `${slug}-app-b`, vhost: `/${slug}` },
            ]);
            expect(ofType(resources, EXCHANGE, tenant).map((r) => input(r, "vhost"))).toEqual([`/${slug}`]);
            expect(
                ofType(resources, QUEUE, tenant)
                    .map((r) => input(r, "name"))
                    .sort(),
            ).toEqual([`${slug}.auth`, `${slug}.orders`]);
            expect(ofType(resources, BINDING, tenant)).toHaveLength(2);
            for (const r of [...ofType(resources, QUEUE, tenant), ...ofType(resources, BINDING, tenant)]) {
                expect({ urn: r.urn, vhost: r.inputs.vhost }).toEqual({ urn: r.urn, vhost: `/${slug}` });
            }
        }
    });

    test("tenant users carry no management tags", () => {
        for (const r of resources.filter((x) => x.type === USER)) expect({ urn: r.urn, tags: r.inputs.tags }).toEqual({ urn: r.urn, tags: [] });
    });
});

describe("the server accepts the declarations", () => {
    test.each(TENANTS)("tenant %s: durable quorum queues, a durable topic exchange and the declared bindings exist", async (tenant) => {
        const b = broker(tenant);
        const exchange = await getJson<{ type: string; durable: boolean; auto_delete: boolean }>(`/api/exchanges/${enc(b.vhost)}/${enc(b.exchange)}`);
        expect({ type: exchange.type, durable: exchange.durable, auto_delete: exchange.auto_delete }).toEqual({
            type: "topic",
            durable: true,
            auto_delete: false,
        });
        for (const queue of b.queues.values()) {
            const q = await getJson<{ type: string; durable: boolean; auto_delete: boolean; arguments: Record<string, unknown> }>(
                `/api/queues/${enc(b.vhost)}/${enc(queue)}`,
            );
            expect({ queue, type: q.type, durable: q.durable, auto_delete: q.auto_delete, arguments: q.arguments }).toEqual({
                queue,
                type: "quorum",
                durable: true,
                auto_delete: false,
                arguments: { "x-queue-type": "quorum" },
            });
        }
        const bindings = await getJson<{ source: string; destination: string; routing_key: string }[]>(
            `/api/exchanges/${enc(b.vhost)}/${enc(b.exchange)}/bindings/source`,
        );
        expect(bindings.map((x) => `${x.routing_key} -> ${x.destination}`).sort()).toEqual([...b.queues].map(([svc, q]) => `${svc}.# -> ${q}`).sort());
        const perms = await getJson<{ vhost: string }[]>(`/api/users/${enc(b.user)}/permissions`);
        expect(perms.map((p) => p.vhost)).toEqual([b.vhost]);
    });
});

describe.each(TENANTS)("tenant %s, with its own credentials over AMQP", (tenant) => {
    test("publishes on its events exchange and consumes each service's message from the bound quorum queue", async () => {
        const b = broker(tenant);
        await withChannel(b, async (ch) => {
            for (const [entity, queue] of b.queues) {
                const body = `${tenant}:${entity}:${Date.now()}`;
                ch.publish(b.exchange, `${entity}.created`, Buffer.from(body), { persistent: true, headers: { tenant_id: `client-${tenant}` } });
                await ch.waitForConfirms();
                const msg = await nextMessage(ch, queue);
                expect({ queue, body: msg.content.toString(), routingKey: msg.fields.routingKey }).toEqual({ queue, body, routingKey: `${entity}.created` });
            }
        });
    });

    test("the seed's order.created (routing key = event name) reaches client-<id>.orders, and only it", async () => {
        const b = broker(tenant);
        const orders = `client-${tenant}.orders`;
        expect([...b.queues.values()]).toContain(orders);
        await withChannel(b, async (ch) => {
            const body = JSON.stringify(seedEvent(`client-${tenant}`));
            ch.publish(b.exchange, "order.created", Buffer.from(body), { persistent: true, contentType: "application/json" });
            await ch.waitForConfirms();
            const msg = await nextMessage(ch, orders);
            expect({ body: msg.content.toString(), routingKey: msg.fields.routingKey }).toEqual({ body, routingKey: "order.created" });
            for (const other of [...b.queues.values()].filter((q) => q !== orders)) expect(await ch.get(other, { noAck: true })).toBe(false);
        });
    });

    test("is refused on the other tenant's vhost: 530 NOT_ALLOWED at connection.open, after a successful login", async () => {
        const b = broker(tenant);
        const theirs = broker(otherTenant(tenant));
        // amqplib: the broker closed the connection instead of answering connection.open.
        const err = await rejection(connect(b.user, b.password, theirs.vhost).then((c) => c.close()));
        expect(err.message).toBe("Expected ConnectionOpenOk; got <ConnectionClose channel:0>");
        // The broker's exact answer.
        expect(await handshake(b.user, b.password, theirs.vhost)).toEqual({
            outcome: "closed",
            after: "open",
            replyCode: 530,
            replyText: `NOT_ALLOWED - access to vhost '${theirs.vhost}' refused for user '${b.user}'`,
        });
        // Control: the same handshake opens its own vhost.
        expect(await handshake(b.user, b.password, b.vhost)).toEqual({ outcome: "opened" });
    });

    test("is refused on the default vhost /", async () => {
        const b = broker(tenant);
        expect(await handshake(b.user, b.password, "/")).toEqual({
            outcome: "closed",
            after: "open",
            replyCode: 530,
            replyText: `NOT_ALLOWED - access to vhost '/' refused for user '${b.user}'`,
        });
    });

    test("cannot address the other tenant's queues or exchange from its own vhost (404 NOT_FOUND)", async () => {
        const b = broker(tenant);
        const theirs = broker(otherTenant(tenant));
        for (const queue of theirs.queues.values()) {
            const err = await withChannel(b, (ch) => rejection(ch.checkQueue(queue)));
            expect(err.message).toContain(`404 (NOT-FOUND) with message "NOT_FOUND - no queue '${queue}' in vhost '${b.vhost}'"`);
        }
        const err = await withChannel(b, (ch) => rejection(ch.checkExchange(theirs.exchange)));
        expect(err.message).toContain(`NOT_FOUND - no exchange '${theirs.exchange}' in vhost '${b.vhost}'`);
    });

    test("the other tenant's password does not log in as this tenant's user: 403 ACCESS_REFUSED", async () => {
        const b = broker(tenant);
        const err = await rejection(connect(b.user, broker(otherTenant(tenant)).password, b.vhost).then((c) => c.close()));
        expect(err.message).toContain("403 (ACCESS-REFUSED)");
        const outcome = await handshake(b.user, broker(otherTenant(tenant)).password, b.vhost);
        expect(outcome).toEqual({
            outcome: "closed",
            after: "start-ok",
            replyCode: 403,
            replyText: expect.stringContaining("ACCESS_REFUSED - Login was refused"),
        });
    });

    test("has no access to the management API", async () => {
        const b = broker(tenant);
        for (const apiPath of ["/api/overview", "/api/vhosts", `/api/queues/${enc(b.vhost)}`]) {
            const res = await mgmt("GET", apiPath, undefined, b);
            expect({ apiPath, status: res.status }).toEqual({ apiPath, status: 401 });
        }
    });
});

describe("the seed's own example: order.created on client-abc.events is consumed from client-abc.orders", () => {
    // Tenant abc's topology, from the functions the component names and binds it with (lib/naming.ts, routingKey).
    const id = "abc";
    const vhost = vhostName(id);
    const user = rabbitUser(id);
    const exchange = exchangeName(id);
    const password = testPassword();

    beforeAll(async () => {
        await mgmt("DELETE", `/api/vhosts/${enc(vhost)}`);
        const urn = `client-abc (${vhost})`;
        await apply("PUT", `/api/vhosts/${enc(vhost)}`, { tracing: false }, urn);
        await apply("PUT", `/api/users/${enc(user)}`, { password, tags: "" }, urn);
        await apply("PUT", `/api/permissions/${enc(vhost)}/${enc(user)}`, { configure: ".*", write: ".*", read: ".*" }, urn);
        await apply("PUT", `/api/exchanges/${enc(vhost)}/${enc(exchange)}`, { type: "topic", durable: true, auto_delete: false, arguments: {} }, urn);
        for (const service of DEFAULT_QUEUES) {
            const queue = queueName(id, service);
            await apply("PUT", `/api/queues/${enc(vhost)}/${enc(queue)}`, { durable: true, auto_delete: false, arguments: { "x-queue-type": "quorum" } }, urn);
            await apply("POST", `/api/bindings/${enc(vhost)}/e/${enc(exchange)}/q/${enc(queue)}`, { routing_key: routingKey(service), arguments: {} }, urn);
        }
    });

    afterAll(async () => {
        await mgmt("DELETE", `/api/vhosts/${enc(vhost)}`);
        await mgmt("DELETE", `/api/users/${enc(user)}`);
    });

    test("published with routing key = event name, it lands in client-abc.orders and nowhere else", async () => {
        expect([exchange, queueName(id, "orders"), routingKey("orders")]).toEqual(["client-abc.events", "client-abc.orders", "order.#"]);
        await withChannel({ user, password, vhost }, async (ch) => {
            const body = JSON.stringify(seedEvent(eventTenantId(id)));
            ch.publish("client-abc.events", "order.created", Buffer.from(body), { persistent: true, contentType: "application/json" });
            await ch.waitForConfirms();
            const msg = await nextMessage(ch, "client-abc.orders");
            expect({ body: JSON.parse(msg.content.toString()) as unknown, routingKey: msg.fields.routingKey }).toEqual({
                body: seedEvent("client-abc"),
                routingKey: "order.created",
            });
            expect(await ch.get("client-abc.auth", { noAck: true })).toBe(false);
        });
    });
});
