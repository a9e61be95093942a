import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { COMPONENT_TOKENS } from "../lib/tokens";
import * as rabbitmq from "@pulumi/rabbitmq";
import * as random from "@pulumi/random";
import { SLOTS, activeSlot, passwordKeepers, type CredentialState } from "../lib/rotation";
import { DEFAULT_QUEUES, RABBITMQ_CREDENTIALS_SECRET, exchangeName, queueName, rabbitUser, vhostName } from "../lib/naming";

export interface TenantVhostArgs {
    readonly tenantId: string;
    /** Namespace that receives the credentials Secret. */
    readonly namespace: pulumi.Input<string>;
    /** Services that get a durable queue bound to the events exchange. Default: auth, orders. */
    readonly queues?: readonly string[];
    /** AMQP host the applications use. Default: rabbitmq.e-commerce-shared.svc.cluster.local. */
    readonly amqpHost?: string;
    /** AMQP port. Default: 5672. */
    readonly amqpPort?: number;
    /** Labels for the Kubernetes objects. */
    readonly labels?: Record<string, string>;
    /** The rotation state of the tenant's RabbitMQ credential (lib/rotation.ts); absent: generation 0. */
    readonly credentials?: CredentialState;
}

/**
 * The tenant user's permissions. They are scoped to the tenant's own vhost by
 * the Permissions resource itself; inside it the tenant manages its topology.
 */
export function vhostPermissions() {
    return { configure: ".*", write: ".*", read: ".*" };
}

/**
 * The entity a service's events are named after. The seed names events
 * `<entity>.<action>` and publishes them with routing key = event name
 * (`order.created`), while its services and queues are plural (`orders`):
 * the entity is the service name without its plural "s" (orders -> order,
 * products -> product; auth stays auth).
 */
export function eventEntity(service: string): string {
    return service.length > 1 && service.endsWith("s") ? service.slice(0, -1) : service;
}

/**
 * Routing key pattern binding a service's queue to the events exchange:
 * `<entity>.#`, so the events named after the service's entity reach its
 * queue (`order.created` -> client-abc.orders).
 */
export function routingKey(service: string): string {
    return `${eventEntity(service)}.#`;
}

/**
 * A RabbitMQ virtual host per tenant with its own user and password,
 * permissions on that vhost only, the topic exchange, durable quorum queues
 * bound to it, and the credentials Secret.
 */
export class TenantVhost extends pulumi.ComponentResource {
    public readonly vhost: string;

    constructor(name: string, args: TenantVhostArgs, opts?: pulumi.ComponentResourceOptions) {
        super(COMPONENT_TOKENS.TenantVhost, name, {}, opts);
        const child = { parent: this };
        this.vhost = vhostName(args.tenantId);
        const active = activeSlot(args.credentials);

        const vhost = new rabbitmq.VHost(`${name}-vhost`, { name: this.vhost }, { ...child, protect: true });
        // Two users (rotation slots a and b, lib/rotation.ts); slot a keeps the names every tenant had.
        const slots = SLOTS.map((slot) => {
            const suffix = slot === "a" ? "" : "-b";
            const keepers = passwordKeepers(args.credentials, slot);
            const password = new random.RandomPassword(
                `${name}-amqp-password${suffix}`,
                { length: 32, special: false, ...(keepers ? { keepers } : {}) },
                child,
            );
            const user = new rabbitmq.User(`${name}-amqp-user${suffix}`, { name: rabbitUser(args.tenantId, slot), password: password.result, tags: [] }, child);
            const permissions = new rabbitmq.Permissions(
                `${name}-amqp-permissions${suffix}`,
                { user: user.name, vhost: vhost.name, permissions: vhostPermissions() },
                child,
            );
            return { slot, userName: rabbitUser(args.tenantId, slot), password, ready: [user, permissions] };
        });
        const current = slots.find((s) => s.slot === active)!;
        const userName = current.userName;
        const password = current.password;
        const exchange = new rabbitmq.Exchange(
            `${name}-events`,
            { name: exchangeName(args.tenantId), vhost: vhost.name, settings: { type: "topic", durable: true, autoDelete: false } },
            child,
        );
        for (const service of args.queues ?? DEFAULT_QUEUES) {
            const queue = new rabbitmq.Queue(
                `${name}-${service}-queue`,
                {
                    name: queueName(args.tenantId, service),
                    vhost: vhost.name,
                    settings: { durable: true, autoDelete: false, argumentsJson: JSON.stringify({ "x-queue-type": "quorum" }) },
                },
                // Queues hold undelivered messages: data.
                { ...child, protect: true },
            );
            new rabbitmq.Binding(
                `${name}-${service}-binding`,
                { vhost: vhost.name, source: exchange.name, destination: queue.name, destinationType: "queue", routingKey: routingKey(service) },
                child,
            );
        }

        const host = args.amqpHost ?? "rabbitmq.e-commerce-shared.svc.cluster.local";
        const port = args.amqpPort ?? 5672;
        new k8s.core.v1.Secret(
            `${name}-amqp-credentials`,
            {
                metadata: { name: RABBITMQ_CREDENTIALS_SECRET, namespace: args.namespace, labels: args.labels },
                type: "Opaque",
                stringData: {
                    AMQP_HOST: host,
                    AMQP_PORT: String(port),
                    AMQP_VHOST: this.vhost,
                    AMQP_USERNAME: userName,
                    AMQP_PASSWORD: password.result,
                    AMQP_EXCHANGE: exchangeName(args.tenantId),
                    AMQP_URL: pulumi.interpolate`amqp://${userName}:${password.result}@${host}:${port}/${encodeURIComponent(this.vhost)}`,
                },
            },
            // The Secret names a user only once that user has the password and its permissions.
            { ...child, dependsOn: current.ready },
        );
        this.registerOutputs({ vhost: this.vhost });
    }
}
