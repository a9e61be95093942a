/**
 * Pods on the local node (scripts/lib/local-node.sh, started by `make local-up`): the node's settings from
 * .work/local.env, a Pod Security "restricted" compliant probe pod, waiting for a pod, and `kubectl exec`.
 *
 *   CV_NODE=1          the node runs (kubelet "cv-node", Ready)
 *   CV_NODE_IP         10.89.0.1: the node's address, reachable from every pod (host services listen there only
 *                      if they bind it or 0.0.0.0; loopback-only services need a `probe forward` pod)
 *   CV_PROBE_IMAGE     localhost/cv/probe:<tag>, imported into containerd (imagePullPolicy: Never)
 *   KUBECTL            the kubectl of the toolchain (same version as the API server)
 */
import { execFile } from "node:child_process";
import type { KubeClient, KubeObject } from "./k8s";

export interface NodeEnv {
    readonly name: string;
    readonly ip: string;
    readonly podCidr: string;
    readonly probeImage: string;
    readonly kubectl: string;
    readonly kubeconfig: string;
}

/** The node's settings; throws (the test fails, it is not skipped) when the node is not up. */
export function nodeEnv(): NodeEnv {
    const e = process.env;
    if (e.CV_NODE !== "1") throw new Error("CV_NODE is not 1: the local node is not running. Run `make local-up` and source .work/local.env");
    const need = (k: string): string => {
        const v = e[k];
        if (!v) throw new Error(`${k} is not set: source .work/local.env after \`make local-up\``);
        return v;
    };
    return {
        name: need("CV_NODE_NAME"),
        ip: need("CV_NODE_IP"),
        podCidr: need("CV_POD_CIDR"),
        probeImage: need("CV_PROBE_IMAGE"),
        kubectl: need("KUBECTL"),
        kubeconfig: need("KUBECONFIG"),
    };
}

/** The container security context Pod Security "restricted" asks for. */
export const RESTRICTED_CONTAINER = {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
};
export const RESTRICTED_POD = { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: "RuntimeDefault" } };

export interface ProbeOptions {
    readonly labels?: Record<string, string>;
    /** `probe serve` ports; default TCP 8080. */
    readonly tcp?: readonly number[];
    readonly udp?: readonly number[];
    /** Another command instead of `probe serve` (argv after the probe binary), e.g. ["forward", "--listen", ...]. */
    readonly args?: readonly string[];
    readonly resources?: KubeObject;
}

/** The probe container: `probe serve`, restricted-compliant, its pod name in POD_NAME, never pulled. */
export function probeContainer(env: NodeEnv, opts: ProbeOptions = {}): KubeObject {
    const tcp = opts.tcp ?? (opts.udp ? [] : [8080]);
    const udp = opts.udp ?? [];
    const args = opts.args ?? ["serve", ...(tcp.length ? ["--tcp", tcp.join(",")] : []), ...(udp.length ? ["--udp", udp.join(",")] : [])];
    return {
        name: "probe",
        image: env.probeImage,
        imagePullPolicy: "Never",
        args: [...args],
        env: [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
        ports: [...tcp.map((p) => ({ containerPort: p, protocol: "TCP" })), ...udp.map((p) => ({ containerPort: p, protocol: "UDP" }))],
        ...(tcp.length && !opts.args ? { readinessProbe: { tcpSocket: { port: tcp[0] }, periodSeconds: 1 } } : {}),
        resources: opts.resources ?? { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "32Mi" } },
        securityContext: RESTRICTED_CONTAINER,
    };
}

/** A bare probe pod. */
export function probePod(env: NodeEnv, name: string, opts: ProbeOptions = {}): KubeObject {
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, labels: { app: name, ...(opts.labels ?? {}) } },
        spec: {
            securityContext: RESTRICTED_POD,
            automountServiceAccountToken: false,
            terminationGracePeriodSeconds: 1,
            containers: [probeContainer(env, opts)],
        },
    };
}

function podReady(pod: KubeObject): boolean {
    return (pod.status?.conditions ?? []).some((c: KubeObject) => c.type === "Ready" && c.status === "True");
}

/**
 * Polls a pod until it is Ready (or, with `phase`, until it reaches that phase); fails early when it cannot
 * start (ErrImageNeverPull, CreateContainerError, ...) with the pod's status and events in the message.
 */
export async function waitForPod(kube: KubeClient, ns: string, name: string, opts: { timeoutMs?: number; phase?: string } = {}): Promise<KubeObject> {
    const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
    for (;;) {
        const res = await kube.request("GET", `/api/v1/namespaces/${ns}/pods/${name}`);
        const pod = res.body;
        if (res.status === 200) {
            if (opts.phase ? pod.status?.phase === opts.phase : podReady(pod)) return pod;
            const waiting = (pod.status?.containerStatuses ?? [])
                .map((c: KubeObject) => c.state?.waiting?.reason as string | undefined)
                .find((r: string | undefined) => r && /ErrImage|ImagePull|CreateContainer|InvalidImageName|CrashLoopBackOff/.test(r));
            if (waiting || pod.status?.phase === "Failed" || Date.now() > deadline) {
                const events = await kube.list(`/api/v1/namespaces/${ns}/events?fieldSelector=involvedObject.name=${name}`);
                const what = waiting ?? (pod.status?.phase === "Failed" ? "Failed" : `not ${opts.phase ?? "Ready"} in time`);
                throw new Error(
                    `pod ${ns}/${name}: ${what}; status ${JSON.stringify(pod.status)}; events ${JSON.stringify(events.map((e) => `${e.reason}: ${e.message}`))}`,
                );
            }
        } else if (Date.now() > deadline) {
            throw new Error(`pod ${ns}/${name}: GET -> ${res.status}: ${JSON.stringify(pod)}`);
        }
        await new Promise((r) => setTimeout(r, 500));
    }
}

export interface ExecResult {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
}

/** `kubectl exec -n ns pod -c container -- argv...`: the exit code is the command's (kubectl passes it on). */
export function kubectlExec(
    env: NodeEnv,
    ns: string,
    pod: string,
    argv: readonly string[],
    opts: { container?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
    const args = ["--kubeconfig", env.kubeconfig, "exec", "-n", ns, pod, ...(opts.container ? ["-c", opts.container] : []), "--", ...argv];
    return new Promise((resolve) => {
        execFile(env.kubectl, args, { timeout: opts.timeoutMs ?? 30_000 }, (err, stdout, stderr) => {
            const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
            resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
        });
    });
}

/** `probe dial` from inside a pod: "open <reply>" (code 0) or "closed <reason>" (code 1). */
export function probeDial(env: NodeEnv, ns: string, pod: string, proto: "tcp" | "udp", target: string, timeout = "1500ms"): Promise<ExecResult> {
    return kubectlExec(env, ns, pod, ["/probe", "dial", proto, target, "--timeout", timeout]);
}
