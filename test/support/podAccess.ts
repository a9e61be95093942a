/**
 * How pods on the local node reach the loopback-only MariaDB (127.0.0.1:13306) and object store
 * (127.0.0.1:17070), the way a tenant reaches the shared services in production: through the shared
 * namespace, so the tenant's NetworkPolicy (egress to e-commerce-shared on 3306 and 9000 only) is what
 * lets the traffic through.
 *
 *   tenant pod --3306/9000--> Service mysql / minio in e-commerce-shared (fixed ClusterIPs)
 *              --> relay pod there (`probe forward`) --> node IP 10.89.0.1:13306 / :17070
 *              --> host relay (`probe forward`, started here, listening on the node IP only) --> 127.0.0.1
 *
 * The services themselves keep listening on loopback; only the host relays listen on the node's dummy
 * interface (cv-node0), which pods reach through the CNI bridge and which no tenant pod may reach directly
 * (it is not a pod of the shared namespace). The relays live as long as the test that starts them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import type { KubeClient } from "./k8s";
import { probeContainer, waitForPod, RESTRICTED_POD, type NodeEnv } from "./node";

export const SHARED_NS = "e-commerce-shared";
/** Inside the API server's Service CIDR (10.96.0.0/16), fixed so that the stack config can name them before `up`. */
export const MYSQL_SERVICE_IP = "10.96.77.6";
export const S3_SERVICE_IP = "10.96.77.9";
export const MYSQL_HOST_PORT = 13306;
export const S3_HOST_PORT = 17070;

/** The host's probe binary (the node cache's, next to mkimage; the same program as the probe image). */
export function hostProbe(): string {
    const mk = process.env.CV_MKIMAGE;
    if (!mk) throw new Error("CV_MKIMAGE is not set: source .work/local.env after `make local-up` (the node)");
    return path.join(path.dirname(mk), "probe");
}

/** Starts `probe forward --listen <node ip>:<port> --to 127.0.0.1:<port>` for MariaDB and the object store; resolves once both listen. */
export async function startHostRelays(env: NodeEnv): Promise<{ stop: () => Promise<void> }> {
    const children: ChildProcess[] = [];
    const started = [MYSQL_HOST_PORT, S3_HOST_PORT].map(
        (port) =>
            new Promise<void>((resolve, reject) => {
                const child = spawn(hostProbe(), ["forward", "--listen", `${env.ip}:${port}`, "--to", `127.0.0.1:${port}`], {
                    stdio: ["ignore", "pipe", "pipe"],
                });
                children.push(child);
                let err = "";
                child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
                child.stdout?.on("data", (c: Buffer) => {
                    if (c.toString().includes("forwarding")) resolve();
                });
                child.on("exit", (code) => reject(new Error(`host relay on ${env.ip}:${port} exited ${code}: ${err.trim()}`)));
                setTimeout(() => reject(new Error(`host relay on ${env.ip}:${port} did not start within 10 s: ${err.trim()}`)), 10_000);
            }),
    );
    const stop = async () => {
        await Promise.all(
            children.map(
                (c) =>
                    new Promise<void>((resolve) => {
                        if (c.exitCode !== null || c.signalCode !== null) return resolve();
                        c.once("exit", () => resolve());
                        c.kill("SIGTERM");
                    }),
            ),
        );
    };
    try {
        await Promise.all(started);
    } catch (err) {
        await stop();
        throw err;
    }
    return { stop };
}

/**
 * The relay pods and Services `mysql` (3306) and `minio` (9000) in the shared namespace, toward the host relays.
 * Call after `up` created the namespace; waits until both pods are Ready.
 */
export async function createSharedRelays(kube: KubeClient, env: NodeEnv): Promise<void> {
    const relays = [
        { name: "mysql", ip: MYSQL_SERVICE_IP, port: 3306, to: `${env.ip}:${MYSQL_HOST_PORT}` },
        { name: "minio", ip: S3_SERVICE_IP, port: 9000, to: `${env.ip}:${S3_HOST_PORT}` },
    ];
    for (const r of relays) {
        const pod = {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: `${r.name}-relay`, labels: { app: `${r.name}-relay` } },
            spec: {
                securityContext: RESTRICTED_POD,
                automountServiceAccountToken: false,
                terminationGracePeriodSeconds: 1,
                containers: [
                    {
                        ...probeContainer(env, { args: ["forward", "--listen", `:${r.port}`, "--to", r.to] }),
                        ports: [{ containerPort: r.port, protocol: "TCP" }],
                        readinessProbe: { tcpSocket: { port: r.port }, periodSeconds: 1 },
                    },
                ],
            },
        };
        const created = await kube.request("POST", `/api/v1/namespaces/${SHARED_NS}/pods`, pod);
        if (created.status !== 201) throw new Error(`relay pod ${r.name}: ${created.status} ${JSON.stringify(created.body)}`);
        const svc = await kube.request("POST", `/api/v1/namespaces/${SHARED_NS}/services`, {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: r.name },
            spec: { clusterIP: r.ip, selector: { app: `${r.name}-relay` }, ports: [{ name: r.name, port: r.port, targetPort: r.port, protocol: "TCP" }] },
        });
        if (svc.status !== 201) throw new Error(`Service ${r.name}: ${svc.status} ${JSON.stringify(svc.body)}`);
    }
    for (const r of relays) await waitForPod(kube, SHARED_NS, `${r.name}-relay`);
}
