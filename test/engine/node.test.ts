/**
 * The local node (scripts/lib/local-node.sh): pods really run. A Pod Security "restricted" namespace, the probe
 * image (localhost/cv/probe, never pulled), kubectl exec through the API server and the kubelet, a Deployment
 * the scheduler places, and a Service ClusterIP that kube-proxy (nftables) sends to the Deployment's pods.
 */
import { execFileSync } from "node:child_process";
import { lookup } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { KubeClient, paths, type KubeObject } from "../support/k8s";
import { kubectlExec, nodeEnv, probeContainer, probeDial, probePod, RESTRICTED_POD, waitForPod } from "../support/node";

jest.setTimeout(180_000);

const NS = "cv-node-smoke";
const env = nodeEnv();
const kube = new KubeClient(process.env.KUBECONFIG ?? "");

async function create(apiPath: string, body: KubeObject): Promise<KubeObject> {
    const res = await kube.request("POST", apiPath, body);
    if (res.status !== 201) throw new Error(`POST ${apiPath} -> ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
}

beforeAll(async () => {
    if ((await kube.find(paths.namespace(NS))) !== undefined) {
        await kube.request("DELETE", paths.namespace(NS));
        await kube.waitGone(paths.namespace(NS));
    }
    await create(paths.namespaces(), {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: {
            name: NS,
            labels: { "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" },
        },
    });
});

afterAll(async () => {
    await kube.request("DELETE", paths.namespace(NS));
    await kube.waitGone(paths.namespace(NS));
});

test("the node is registered and Ready at its node IP", async () => {
    const node = await kube.get(`/api/v1/nodes/${env.name}`);
    const ready = (node.status.conditions as KubeObject[]).find((c) => c.type === "Ready");
    expect(ready?.status).toBe("True");
    expect((node.status.addresses as KubeObject[]).find((a) => a.type === "InternalIP")?.address).toBe("10.89.0.1");
    expect(node.status.nodeInfo.kubeletVersion).toBe("v1.34.4");
    expect(node.status.nodeInfo.containerRuntimeVersion).toBe("containerd://2.4.2");
});

describe("a restricted probe pod", () => {
    let ip = "";

    beforeAll(async () => {
        const t0 = Date.now();
        await create(paths.pods(NS), probePod(env, "probe-a", { tcp: [8080], udp: [5353] }));
        const pod = await waitForPod(kube, NS, "probe-a");
        ip = pod.status.podIP as string;
        process.stdout.write(`node.test: probe-a Ready ${Date.now() - t0} ms after its creation, pod IP ${ip}\n`);
    });

    test("runs on the node, as 65532, with an address of the pod CIDR", async () => {
        const pod = await kube.get(`/api/v1/namespaces/${NS}/pods/probe-a`);
        expect(pod.spec.nodeName).toBe("cv-node");
        expect(pod.status.phase).toBe("Running");
        expect(ip).toMatch(/^10\.244\.0\.\d{1,3}$/);
        expect(pod.spec.securityContext).toEqual(RESTRICTED_POD);
    });

    test("answers `probe dial` on TCP and UDP, by kubectl exec through the kubelet", async () => {
        expect(await probeDial(env, NS, "probe-a", "tcp", "127.0.0.1:8080")).toEqual({ code: 0, stdout: "open ok probe-a\n", stderr: "" });
        expect(await probeDial(env, NS, "probe-a", "udp", "127.0.0.1:5353")).toEqual({ code: 0, stdout: "open ok probe-a\n", stderr: "" });
        expect(await probeDial(env, NS, "probe-a", "tcp", "127.0.0.1:8081", "500ms")).toMatchObject({ code: 1, stdout: "closed refused\n" });
    });

    test("its log comes from the kubelet through the API server; an unknown subcommand exits 2", async () => {
        expect(await kubectlExec(env, NS, "probe-a", ["/probe", "nosuch"])).toMatchObject({ code: 2, stdout: "" });
        const logs = await kube.request<string>("GET", `/api/v1/namespaces/${NS}/pods/probe-a/log`);
        expect(logs.status).toBe(200);
        expect(logs.body).toBe("serving tcp [8080] udp [5353] as ok probe-a\n");
    });

    test("a second pod reaches it by pod IP, and the node at CV_NODE_IP", async () => {
        await create(paths.pods(NS), probePod(env, "probe-b"));
        await waitForPod(kube, NS, "probe-b");
        expect(await probeDial(env, NS, "probe-b", "tcp", `${ip}:8080`)).toEqual({ code: 0, stdout: "open ok probe-a\n", stderr: "" });
        expect(await probeDial(env, NS, "probe-b", "udp", `${ip}:5353`)).toEqual({ code: 0, stdout: "open ok probe-a\n", stderr: "" });
        // The kubelet listens on the node IP (TLS: it says nothing first, so the reply is empty).
        expect(await probeDial(env, NS, "probe-b", "tcp", `${env.ip}:10250`)).toEqual({ code: 0, stdout: "open \n", stderr: "" });
    });
});

describe("a Deployment behind a Service", () => {
    test("is scheduled on the node and becomes available with 2 replicas", async () => {
        await create(`/apis/apps/v1/namespaces/${NS}/deployments`, {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "web" },
            spec: {
                replicas: 2,
                selector: { matchLabels: { app: "web" } },
                template: {
                    metadata: { labels: { app: "web" } },
                    spec: {
                        securityContext: RESTRICTED_POD,
                        automountServiceAccountToken: false,
                        terminationGracePeriodSeconds: 1,
                        containers: [probeContainer(env, { tcp: [8080] })],
                    },
                },
            },
        });
        const deadline = Date.now() + 120_000;
        let dep = await kube.get(`/apis/apps/v1/namespaces/${NS}/deployments/web`);
        while ((dep.status?.availableReplicas ?? 0) < 2 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 500));
            dep = await kube.get(`/apis/apps/v1/namespaces/${NS}/deployments/web`);
        }
        expect(dep.status.availableReplicas).toBe(2);
        const pods = await kube.list(`${paths.pods(NS)}?labelSelector=app%3Dweb`);
        expect(pods.map((p) => [p.spec.nodeName, p.status.phase])).toEqual([
            ["cv-node", "Running"],
            ["cv-node", "Running"],
        ]);
    });

    test("its ClusterIP reaches the Deployment's pods through kube-proxy", async () => {
        const svc = await create(`/api/v1/namespaces/${NS}/services`, {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "web" },
            spec: { selector: { app: "web" }, ports: [{ name: "tcp", port: 80, targetPort: 8080, protocol: "TCP" }] },
        });
        const clusterIP = svc.spec.clusterIP as string;
        expect(clusterIP).toMatch(/^10\.96\.\d{1,3}\.\d{1,3}$/);
        const names = new Set((await kube.list(`${paths.pods(NS)}?labelSelector=app%3Dweb`)).map((p) => p.metadata.name as string));
        // kube-proxy programs the Service within a few seconds of its EndpointSlice.
        const deadline = Date.now() + 30_000;
        let res = await probeDial(env, NS, "probe-b", "tcp", `${clusterIP}:80`);
        while (res.code !== 0 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 500));
            res = await probeDial(env, NS, "probe-b", "tcp", `${clusterIP}:80`);
        }
        expect(res.code).toBe(0);
        const reply = /^open ok (\S+)\n$/.exec(res.stdout);
        expect(reply).not.toBeNull();
        expect(names.has(reply![1])).toBe(true);
        // No Service on that port: refused by kube-proxy's reject rule, not a timeout.
        expect(await probeDial(env, NS, "probe-b", "tcp", `${clusterIP}:81`, "1s")).toMatchObject({ code: 1 });
    });
});

describe("the machine's own way out, while the node and the external destinations run", () => {
    // The registries the scripts install from and the resolvers: no route of the local stack may capture them
    // (an external destination once routed 203.0.113.0/24, this sandbox's registry range, into a namespace).
    const HOSTS = ["registry.npmjs.org", "pypi.org", "proxy.golang.org"];

    function routeDevice(address: string): string {
        const out = execFileSync("ip", ["-o", "route", "get", address], { encoding: "utf8" });
        return /\bdev (\S+)/.exec(out)?.[1] ?? `(no device in: ${out.trim()})`;
    }

    test("resolvers and registries are routed through the default route's interface", async () => {
        const defaultDev = /\bdev (\S+)/.exec(execFileSync("ip", ["-o", "-4", "route", "show", "default"], { encoding: "utf8" }))?.[1];
        expect(defaultDev).toBeDefined();
        const nameservers = readFileSync("/etc/resolv.conf", "utf8")
            .split("\n")
            .map((l) => /^nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(l)?.[1])
            .filter((a): a is string => a !== undefined);
        const registries = await Promise.all(HOSTS.map(async (h) => (await lookup(h, { family: 4 })).address));
        const addresses = [...new Set([...nameservers, ...registries])];
        expect(addresses.length).toBeGreaterThan(0);
        expect(Object.fromEntries(addresses.map((a) => [a, routeDevice(a)]))).toEqual(Object.fromEntries(addresses.map((a) => [a, defaultDev])));
    });

    test("a TCP connection to the npm registry's port 443 opens", async () => {
        const opened = await new Promise<string>((resolve) => {
            const socket = connect({ host: HOSTS[0], port: 443, timeout: 10_000 });
            socket.once("connect", () => (socket.destroy(), resolve("open")));
            socket.once("timeout", () => (socket.destroy(), resolve("timeout")));
            socket.once("error", (e) => resolve(e.message));
        });
        expect(opened).toBe("open");
    });
});
