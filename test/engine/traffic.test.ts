/**
 * Tenant isolation proven by traffic (issue 11): a real `up` of three eu-west tenants (tfa, tfb, tfc: copies of
 * abc, nordic and lumiere)
 * with an external egress allow-list, probe pods in every namespace that matters, and one real connection
 * attempt per cell of the matrix, enforced by kube-router on the local node (scripts/lib/local-netpol.sh).
 *
 * Every "refused" cell has a witness: the same destination and port dialled from a pod no policy restricts
 * (or, for a destination nothing outside may reach, the kubelet's TCP readiness probe that made the pod Ready),
 * which must connect, so a refusal is the policy's and never a missing server. The same matrix against the
 * seed's NetworkPolicy (its `name` label selectors, as the seed writes it) is the negative control: DNS and
 * the ingress controller are broken there. OTLP runs against the platform's policy with tracing on (the local
 * stack has monitoring off, so its tenants get no OTLP rule), applied from the same function the program uses.
 *
 * The matrix is printed as a table (README, "Tenant isolation, proven by traffic").
 */
import * as fs from "node:fs";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { isolationPolicySpec } from "../../components/tenantNamespace";
import { OTEL_COLLECTOR } from "../../lib/monitoring";
import { SHARED_NAMESPACE, namespaceName } from "../../lib/naming";
import { EngineFixture, HOOK_TIMEOUT_MS, assertClusterFree, manifestOf, PROJECT } from "../support/engine";
import { paths, type KubeObject } from "../support/k8s";
import { kubectlExec, nodeEnv, probePod, waitForPod, type ExecResult } from "../support/node";

jest.setTimeout(HOOK_TIMEOUT_MS);

const env = nodeEnv();
const netpolEnv = (key: string): string => {
    const v = process.env[key];
    if (process.env.CV_NETPOL !== "1" || !v) throw new Error(`${key} is not set: kube-router is not running. Run \`make local-up\` and source .work/local.env`);
    return v;
};
const DNS_IP = netpolEnv("CV_DNS_IP");
const EXT_LISTED = netpolEnv("CV_EXT_LISTED");
const EXT_UNLISTED = netpolEnv("CV_EXT_UNLISTED");
const EXT_PORT = Number(netpolEnv("CV_EXT_PORT"));

/**
 * Three tenants of the repository's manifest under ids of their own (premium abc, standard nordic, business
 * lumiere), so this file never meets another engine test's namespaces.
 */
const TENANT_IDS = { abc: "tfa", nordic: "tfb", lumiere: "tfc" } as const;
const MANIFEST = manifestOf(
    Object.keys(TENANT_IDS),
    Object.fromEntries(
        Object.entries(TENANT_IDS).map(([from, id], i) => [
            from,
            {
                id,
                websiteId: 9901 + i,
                domain: `client-${id}.collectverything.com`,
                customDomains: [],
                billingId: `sub_${id}`,
                costCenter: `CC-${id.toUpperCase()}-001`,
            },
        ]),
    ),
);
const A = namespaceName(TENANT_IDS.abc);
const B = namespaceName(TENANT_IDS.nordic);
const C = namespaceName(TENANT_IDS.lumiere);
const INGRESS = "ingress-nginx";
const OUTSIDE = "cv-traffic-outside";
const SEED = "e-commerce-client-seedpolicy";
const TRACING = "e-commerce-client-tracing";
const TENANTS = [A, B, C];
const AUX = [INGRESS, OUTSIDE, SEED, TRACING];
const NETWORK = {
    clusterCidrs: ["10.244.0.0/16", "10.96.0.0/16", "10.89.0.0/24"],
    externalEgress: [{ name: "payment-gateway", cidr: `${EXT_LISTED}/32`, protocol: "TCP", ports: [EXT_PORT] }],
};
const SHARED_PORTS = [5672, 3306, 9000, 4317, 4318, 8081];
const DIAL_TIMEOUT = "1000ms";

const fixture = new EngineFixture("traffic");
const kube = fixture.kube;

/** The seed's NetworkPolicy, as the seed writes it (../shared/seed-architecture.md), in namespace `ns`. */
function seedPolicy(ns: string): KubeObject {
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "client-isolation", namespace: ns },
        spec: {
            podSelector: {},
            policyTypes: ["Ingress", "Egress"],
            ingress: [{ from: [{ namespaceSelector: { matchLabels: { name: "ingress-nginx" } } }] }, { from: [{ podSelector: {} }] }],
            egress: [
                { to: [{ namespaceSelector: { matchLabels: { name: "e-commerce-shared" } } }], ports: [{ protocol: "TCP", port: 5672 }] },
                { to: [{ namespaceSelector: { matchLabels: { name: "kube-system" } } }], ports: [{ protocol: "TCP", port: 53 }] },
            ],
        },
    };
}

async function create(apiPath: string, body: KubeObject): Promise<KubeObject> {
    const res = await kube.request("POST", apiPath, body);
    if (res.status !== 201) throw new Error(`POST ${apiPath} -> ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
}

const RESTRICTED_NS = { "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" };
/** Requests and limits inside every tier's LimitRange and quota (the tenant namespaces demand both). */
const TENANT_RESOURCES = { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "100m", memory: "128Mi" } };

interface PodSpec {
    readonly ns: string;
    readonly name: string;
    readonly labels?: Record<string, string>;
    readonly tcp?: readonly number[];
    readonly udp?: readonly number[];
}
const POD_SPECS: PodSpec[] = [
    ...TENANTS.map((ns) => ({ ns, name: "web", labels: { "app.kubernetes.io/name": "web" }, tcp: [8080], udp: [8080] })),
    { ns: A, name: "worker", labels: { "app.kubernetes.io/name": "worker" }, tcp: [8080], udp: [8080] },
    { ns: SEED, name: "web", tcp: [8080], udp: [8080] },
    { ns: SEED, name: "worker", tcp: [8080], udp: [8080] },
    { ns: TRACING, name: "web", tcp: [8080] },
    { ns: SHARED_NAMESPACE, name: "cv-traffic-services", labels: { "app.kubernetes.io/name": "cv-traffic-services" }, tcp: SHARED_PORTS },
    { ns: SHARED_NAMESPACE, name: "cv-traffic-otel", labels: { ...OTEL_COLLECTOR.podLabels }, tcp: [OTEL_COLLECTOR.grpcPort, OTEL_COLLECTOR.httpPort] },
    { ns: SHARED_NAMESPACE, name: "cv-traffic-prometheus", labels: { "app.kubernetes.io/name": "prometheus" }, tcp: [9090] },
    { ns: SHARED_NAMESPACE, name: "cv-traffic-other", labels: { "app.kubernetes.io/name": "cv-traffic-other" }, tcp: [9091] },
    { ns: "kube-system", name: "cv-traffic-probe", tcp: [8080] },
    { ns: INGRESS, name: "controller", labels: { "app.kubernetes.io/name": "ingress-nginx" }, tcp: [80] },
    { ns: OUTSIDE, name: "outsider", tcp: [8080] },
];
/** Pod IPs and Service ClusterIPs, by "ns/name". */
const podIp = new Map<string, string>();
const serviceIp = new Map<string, string>();
const ip = (ns: string, name: string) => podIp.get(`${ns}/${name}`) ?? "?";
const svc = (ns: string, name: string) => serviceIp.get(`${ns}/${name}`) ?? "?";

type Proto = "tcp" | "udp" | "dns/udp" | "dns/tcp";
interface Cell {
    /** What the cell shows, e.g. "tenant → other tenant (pod IP)". */
    readonly what: string;
    readonly from: { ns: string; pod: string };
    /** Readable destination, e.g. "nordic/web 10.244.0.7". */
    readonly to: string;
    readonly target: string;
    readonly proto: Proto;
    readonly expectOpen: boolean;
    /** For a refused cell: a pod no policy restricts, from which the same dial must connect. */
    readonly witness?: { ns: string; pod: string };
    /** Why the expectation differs from the NetworkPolicy spec, if it does. */
    readonly note?: string;
}

/** One real attempt: `probe dial` or `probe dns` inside the source pod. */
async function attempt(from: { ns: string; pod: string }, proto: Proto, target: string): Promise<ExecResult> {
    const argv =
        proto === "tcp" || proto === "udp"
            ? ["/probe", "dial", proto, target, "--timeout", DIAL_TIMEOUT]
            : ["/probe", "dns", proto.slice(4), target, "kubernetes.default.svc.cluster.local.", "--timeout", DIAL_TIMEOUT];
    return kubectlExec(env, from.ns, from.pod, argv, { timeoutMs: 20_000 });
}

/** Runs `jobs` with at most `limit` at a time (each a kubectl exec). */
async function pool<T>(jobs: (() => Promise<T>)[], limit = 6): Promise<T[]> {
    const results: T[] = new Array<T>(jobs.length);
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.min(limit, jobs.length) }, async () => {
            while (next < jobs.length) {
                const i = next++;
                results[i] = await jobs[i]();
            }
        }),
    );
    return results;
}

interface Outcome {
    readonly cell: Cell;
    readonly got: string;
    readonly open: boolean;
    readonly witness?: string;
}

async function runMatrix(cells: readonly Cell[]): Promise<Outcome[]> {
    const jobs = cells.flatMap((cell) => [
        () => attempt(cell.from, cell.proto, cell.target),
        () => (cell.witness ? attempt(cell.witness, cell.proto, cell.target) : Promise.resolve(undefined)),
    ]);
    const results = await pool<ExecResult | undefined>(jobs);
    return cells.map((cell, i) => {
        const main = results[2 * i] as ExecResult;
        const w = results[2 * i + 1];
        return { cell, got: (main.stdout || main.stderr).trim(), open: main.code === 0, witness: w ? (w.stdout || w.stderr).trim() : undefined };
    });
}

const short = (ns: string) => ns.replace(/^e-commerce-client-/, "").replace(/^e-commerce-/, "");
function table(title: string, outcomes: readonly Outcome[]): string {
    const rows = outcomes.map((o, i) =>
        [
            String(i + 1),
            o.cell.what,
            `${short(o.cell.from.ns)}/${o.cell.from.pod}`,
            o.cell.to,
            o.cell.proto,
            `${o.cell.expectOpen ? "allowed" : "refused"}${o.cell.note ? ` (${o.cell.note})` : ""}`,
            `${o.open ? "allowed" : "refused"} (${o.got})`,
            o.witness === undefined ? "" : `${short(o.cell.witness?.ns ?? "")}/${o.cell.witness?.pod}: ${o.witness}`,
        ].join(" | "),
    );
    return [
        `${title}`,
        "| # | cell | from | to | proto | expected | got | witness (same dial, unrestricted source) |",
        "|---|---|---|---|---|---|---|---|",
        ...rows.map((r) => `| ${r} |`),
    ].join("\n");
}

/** The matrix with `subject` as the tenant under test (its pods web and worker), the other tenants B and C. */
function matrix(subject: string, expectations: Record<string, boolean>, notes: Record<string, string> = {}): Cell[] {
    const web = { ns: subject, pod: "web" };
    const ingress = { ns: INGRESS, pod: "controller" };
    const outsider = { ns: OUTSIDE, pod: "outsider" };
    const sharedOther = { ns: SHARED_NAMESPACE, pod: "cv-traffic-other" };
    const s = short(subject);
    const cells: (Omit<Cell, "expectOpen"> & { key: string })[] = [
        { key: "within-pod", what: "within the tenant (pod IP)", from: web, to: `${s}/worker`, target: `${ip(subject, "worker")}:8080`, proto: "tcp" },
        {
            key: "within-svc",
            what: "within the tenant (Service)",
            from: web,
            to: `${s}/worker Service`,
            target: `${svc(subject, "worker")}:8080`,
            proto: "tcp",
        },
        { key: "within-udp", what: "within the tenant (pod IP, UDP)", from: web, to: `${s}/worker`, target: `${ip(subject, "worker")}:8080`, proto: "udp" },
        {
            key: "b-pod",
            what: "tenant → other tenant (pod IP)",
            from: web,
            to: `${short(B)}/web`,
            target: `${ip(B, "web")}:8080`,
            proto: "tcp",
            witness: ingress,
        },
        {
            key: "b-svc",
            what: "tenant → other tenant (Service)",
            from: web,
            to: `${short(B)}/web Service`,
            target: `${svc(B, "web")}:8080`,
            proto: "tcp",
            witness: ingress,
        },
        {
            key: "b-udp",
            what: "tenant → other tenant (pod IP, UDP)",
            from: web,
            to: `${short(B)}/web`,
            target: `${ip(B, "web")}:8080`,
            proto: "udp",
            witness: ingress,
        },
        {
            key: "c-pod",
            what: "tenant → third tenant (pod IP)",
            from: web,
            to: `${short(C)}/web`,
            target: `${ip(C, "web")}:8080`,
            proto: "tcp",
            witness: ingress,
        },
        {
            key: "from-b",
            what: "other tenant → tenant (pod IP)",
            from: { ns: B, pod: "web" },
            to: `${s}/web`,
            target: `${ip(subject, "web")}:8080`,
            proto: "tcp",
            witness: ingress,
        },
        ...[5672, 3306, 9000].map((port) => ({
            key: `shared-${port}`,
            what: `tenant → shared namespace :${port}`,
            from: web,
            to: "shared/services",
            target: `${ip(SHARED_NAMESPACE, "cv-traffic-services")}:${port}`,
            proto: "tcp" as const,
            witness: outsider,
        })),
        {
            key: "shared-8081",
            what: "tenant → shared namespace, another port",
            from: web,
            to: "shared/services",
            target: `${ip(SHARED_NAMESPACE, "cv-traffic-services")}:8081`,
            proto: "tcp",
            witness: outsider,
        },
        {
            key: "dns-udp",
            what: "DNS over UDP → kube-system (kube-dns)",
            from: web,
            to: `kube-dns ${DNS_IP}`,
            target: `${DNS_IP}:53`,
            proto: "dns/udp",
            witness: outsider,
        },
        {
            key: "dns-tcp",
            what: "DNS over TCP → kube-system (kube-dns)",
            from: web,
            to: `kube-dns ${DNS_IP}`,
            target: `${DNS_IP}:53`,
            proto: "dns/tcp",
            witness: outsider,
        },
        {
            key: "kube-system-8080",
            what: "tenant → kube-system, not DNS",
            from: web,
            to: "kube-system/probe",
            target: `${ip("kube-system", "cv-traffic-probe")}:8080`,
            proto: "tcp",
            witness: outsider,
        },
        { key: "ingress", what: "ingress controller's namespace → tenant", from: ingress, to: `${s}/web`, target: `${ip(subject, "web")}:8080`, proto: "tcp" },
        {
            key: "prometheus",
            what: "Prometheus (shared namespace) → tenant",
            from: { ns: SHARED_NAMESPACE, pod: "cv-traffic-prometheus" },
            to: `${s}/web`,
            target: `${ip(subject, "web")}:8080`,
            proto: "tcp",
        },
        {
            key: "outsider",
            what: "another namespace → tenant",
            from: outsider,
            to: `${s}/web`,
            target: `${ip(subject, "web")}:8080`,
            proto: "tcp",
            witness: ingress,
        },
        {
            key: "shared-other",
            what: "shared namespace, not Prometheus → tenant",
            from: sharedOther,
            to: `${s}/web`,
            target: `${ip(subject, "web")}:8080`,
            proto: "tcp",
            witness: ingress,
        },
        {
            key: "ext-listed",
            what: "external, listed (TCP)",
            from: web,
            to: `${EXT_LISTED} (allow-list)`,
            target: `${EXT_LISTED}:${EXT_PORT}`,
            proto: "tcp",
            witness: outsider,
        },
        {
            key: "ext-listed-udp",
            what: "external, listed address, unlisted protocol",
            from: web,
            to: `${EXT_LISTED} (allow-list)`,
            target: `${EXT_LISTED}:${EXT_PORT}`,
            proto: "udp",
            witness: outsider,
        },
        {
            key: "ext-unlisted",
            what: "external, not listed",
            from: web,
            to: `${EXT_UNLISTED}`,
            target: `${EXT_UNLISTED}:${EXT_PORT}`,
            proto: "tcp",
            witness: outsider,
        },
    ];
    return cells.map(({ key, ...cell }) => {
        const expectOpen = expectations[key];
        if (expectOpen === undefined) throw new Error(`no expectation for cell ${key}`);
        // A witness proves a refusal; an allowed cell proves itself. Nothing outside reaches the seed's pods (its
        // ingress rule for the controller matches no namespace), so their readiness probes are the witnesses there.
        const intoSubject = cell.target.startsWith(`${ip(subject, "web")}:`) || cell.target.startsWith(`${ip(subject, "worker")}:`);
        return { ...cell, expectOpen, witness: expectOpen || (subject === SEED && intoSubject) ? undefined : cell.witness, note: notes[key] };
    });
}

/** Issue 11's matrix for the platform's policy. */
const PLATFORM: Record<string, boolean> = {
    "within-pod": true,
    "within-svc": true,
    "within-udp": true,
    "b-pod": false,
    "b-svc": false,
    "b-udp": false,
    "c-pod": false,
    "from-b": false,
    "shared-5672": true,
    "shared-3306": true,
    "shared-9000": true,
    "shared-8081": false,
    "dns-udp": true,
    "dns-tcp": true,
    "kube-system-8080": false,
    ingress: true,
    prometheus: true,
    outsider: false,
    "shared-other": false,
    "ext-listed": true,
    "ext-listed-udp": false,
    "ext-unlisted": false,
};
/**
 * The seed's policy: its `name` selectors match no namespace, so DNS, RabbitMQ and the ingress controller are
 * cut off; it has no Prometheus rule and no allow-list. It has no egress rule within the namespace either
 * (deviation 3), which the NetworkPolicy spec refuses; kube-router v2.1.0 admits it (KUBE_ROUTER_WITHIN).
 */
const SEED_EXPECTED: Record<string, boolean> = {
    ...Object.fromEntries(Object.keys(PLATFORM).map((k) => [k, false])),
    "within-pod": true,
    "within-svc": true,
    "within-udp": true,
};
/**
 * Why kube-router v2.1.0 lets the seed's pods talk within their namespace although no egress rule allows it: a
 * pod's chain (KUBE-POD-FW-*) is entered both for traffic to it and from it and runs the same policy chain
 * (KUBE-NWPLCY-*), whose ingress rule `from: podSelector {}` is "source in the namespace's pods, destination in
 * the selected pods" (two ipsets, no direction): the sender's egress check matches it too. Read from the rules it
 * writes (iptables -S KUBE-NWPLCY-…). Without effect on the platform's policy, which allows that traffic anyway.
 */
const KUBE_ROUTER_WITHIN = "by kube-router v2.1.0; the NetworkPolicy spec refuses it";
const NOTES: Record<string, string> = { "within-pod": KUBE_ROUTER_WITHIN, "within-svc": KUBE_ROUTER_WITHIN, "within-udp": KUBE_ROUTER_WITHIN };

/** The witnesses of the refused cells: each must connect, or the refusal proves nothing. */
function unwitnessed(outcomes: readonly Outcome[]): string[] {
    return outcomes.filter((o) => o.cell.witness && !o.witness?.startsWith("open")).map((o) => `${o.cell.what}: witness got ${o.witness}`);
}
const verdicts = (outcomes: readonly Outcome[]) => Object.fromEntries(outcomes.map((o, i) => [`${i + 1} ${o.cell.what}`, o.open ? "allowed" : "refused"]));
const expected = (outcomes: readonly Outcome[]) =>
    Object.fromEntries(outcomes.map((o, i) => [`${i + 1} ${o.cell.what}`, o.cell.expectOpen ? "allowed" : "refused"]));

/** Polls until a dial gives the wanted verdict: kube-router programs a new pod or policy within a few seconds. */
async function settle(from: { ns: string; pod: string }, target: string, open: boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const r = await attempt(from, "tcp", target);
        if ((r.code === 0) === open) return;
        if (Date.now() > deadline) throw new Error(`${from.ns}/${from.pod} → ${target}: still ${r.stdout.trim() || r.stderr.trim()} after ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 500));
    }
}

const timings: Record<string, number> = {};
const reports: string[] = [];

beforeAll(async () => {
    const t0 = Date.now();
    await assertClusterFree(kube, [...TENANTS, ...AUX]);
    // kube-system is not ours to delete: our probe pod there goes by name (a crashed run may have left it).
    await kube.request("DELETE", `${paths.pods("kube-system")}/cv-traffic-probe?gracePeriodSeconds=0`);
    await kube.waitGone(`${paths.pods("kube-system")}/cv-traffic-probe`);
    await fixture.init(MANIFEST);
    // The region's allow-list, in the stack config like an operator writes it.
    const settings = parseYaml(fs.readFileSync(fixture.configFile, "utf8")) as { config: Record<string, unknown> };
    settings.config[`${PROJECT}:network`] = NETWORK;
    fs.writeFileSync(fixture.configFile, stringifyYaml(settings));
    const up = await fixture.stack.up({ ...fixture.opts });
    if (up.summary.result !== "succeeded") throw new Error(`up failed: ${up.stderr}`);
    timings.up = Date.now() - t0;

    const t1 = Date.now();
    for (const ns of AUX) await create(paths.namespaces(), { apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: RESTRICTED_NS } });
    await create(`/apis/networking.k8s.io/v1/namespaces/${SEED}/networkpolicies`, seedPolicy(SEED));
    await create(`/apis/networking.k8s.io/v1/namespaces/${TRACING}/networkpolicies`, {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "client-isolation", namespace: TRACING },
        spec: isolationPolicySpec(INGRESS, true, { clusterCidrs: NETWORK.clusterCidrs, externalEgress: [] }),
    });
    await Promise.all(
        POD_SPECS.map((p) =>
            create(
                paths.pods(p.ns),
                probePod(env, p.name, {
                    labels: p.labels,
                    tcp: p.tcp,
                    udp: p.udp,
                    resources: TENANTS.includes(p.ns) ? TENANT_RESOURCES : undefined,
                }),
            ),
        ),
    );
    for (const [ns, name] of [
        [A, "worker"],
        [B, "web"],
        [SEED, "worker"],
    ]) {
        const s = await create(`/api/v1/namespaces/${ns}/services`, {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name },
            spec: { selector: { app: name }, ports: [{ name: "tcp", port: 8080, protocol: "TCP" }] },
        });
        serviceIp.set(`${ns}/${name}`, s.spec.clusterIP as string);
    }
    const pods = await Promise.all(POD_SPECS.map((p) => waitForPod(kube, p.ns, p.name, { timeoutMs: 180_000 })));
    POD_SPECS.forEach((p, i) => podIp.set(`${p.ns}/${p.name}`, pods[i].status.podIP as string));
    timings.pods = Date.now() - t1;
    // kube-router has programmed the newest pods and policies once a refusal and an admission both show.
    const t2 = Date.now();
    await settle({ ns: A, pod: "web" }, `${ip(B, "web")}:8080`, false);
    await settle({ ns: INGRESS, pod: "controller" }, `${ip(SEED, "web")}:8080`, false);
    await settle({ ns: INGRESS, pod: "controller" }, `${ip(C, "web")}:8080`, true);
    timings.settle = Date.now() - t2;
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
    process.stdout.write(`${reports.join("\n\n")}\n\ntraffic.test timings (ms): ${JSON.stringify(timings)}\n`);
    try {
        await fixture.teardown([...TENANTS, SHARED_NAMESPACE]);
    } finally {
        await kube.request("DELETE", `${paths.pods("kube-system")}/cv-traffic-probe?gracePeriodSeconds=0`);
        for (const ns of AUX) await kube.request("DELETE", paths.namespace(ns));
        for (const ns of AUX) await kube.waitGone(paths.namespace(ns));
    }
}, HOOK_TIMEOUT_MS);

describe("tenant isolation, proven by traffic through kube-router", () => {
    test("the platform's policy (tfa as the tenant): every cell of issue 11's matrix, each refusal witnessed", async () => {
        const t = Date.now();
        const outcomes = await runMatrix(matrix(A, PLATFORM));
        timings.platformMatrix = Date.now() - t;
        reports.push(table(`Platform policy (client-isolation of ${A}), ${outcomes.length} cells in ${timings.platformMatrix} ms`, outcomes));
        expect(verdicts(outcomes)).toEqual(expected(outcomes));
        expect(unwitnessed(outcomes)).toEqual([]);
        // The DNS answers come from CoreDNS's kubernetes plugin: the API server's Service address.
        expect(outcomes.filter((o) => o.cell.proto.startsWith("dns")).map((o) => o.got)).toEqual(["open 10.96.0.1", "open 10.96.0.1"]);
        expect(outcomes.find((o) => o.cell.to.includes("allow-list") && o.cell.proto === "tcp")?.got).toBe("open ok cv-ext0");
    });

    test("the seed's policy (negative control, the `name` labels): DNS and the ingress controller are broken, so is everything else it meant to allow", async () => {
        const t = Date.now();
        const outcomes = await runMatrix(matrix(SEED, SEED_EXPECTED, NOTES));
        timings.seedMatrix = Date.now() - t;
        reports.push(table(`Seed policy (negative control, ${SEED}), ${outcomes.length} cells in ${timings.seedMatrix} ms`, outcomes));
        expect(verdicts(outcomes)).toEqual(expected(outcomes));
        expect(unwitnessed(outcomes)).toEqual([]);
        const broken = outcomes.filter((o) => ["DNS over UDP", "DNS over TCP", "ingress controller"].some((w) => o.cell.what.includes(w)));
        expect(broken.map((o) => [o.cell.what, o.open])).toEqual([
            ["DNS over UDP → kube-system (kube-dns)", false],
            ["DNS over TCP → kube-system (kube-dns)", false],
            ["ingress controller's namespace → tenant", false],
        ]);
    });

    test("OTLP (the platform's policy with tracing on): 4317 and 4318 reach the collector's pods only", async () => {
        const web = { ns: TRACING, pod: "web" };
        const outsider = { ns: OUTSIDE, pod: "outsider" };
        const collector = ip(SHARED_NAMESPACE, "cv-traffic-otel");
        const services = ip(SHARED_NAMESPACE, "cv-traffic-services");
        const cells: Cell[] = [
            { what: "tenant → collector :4317 (gRPC)", from: web, to: "shared/otel-collector", target: `${collector}:4317`, proto: "tcp", expectOpen: true },
            { what: "tenant → collector :4318 (HTTP)", from: web, to: "shared/otel-collector", target: `${collector}:4318`, proto: "tcp", expectOpen: true },
            {
                what: "tenant → another shared pod :4317",
                from: web,
                to: "shared/services",
                target: `${services}:4317`,
                proto: "tcp",
                expectOpen: false,
                witness: outsider,
            },
            {
                what: "tenant → another shared pod :4318",
                from: web,
                to: "shared/services",
                target: `${services}:4318`,
                proto: "tcp",
                expectOpen: false,
                witness: outsider,
            },
        ];
        const t = Date.now();
        const outcomes = await runMatrix(cells);
        timings.otlpMatrix = Date.now() - t;
        reports.push(table(`OTLP (isolationPolicySpec with tracing, ${TRACING}), ${outcomes.length} cells in ${timings.otlpMatrix} ms`, outcomes));
        expect(verdicts(outcomes)).toEqual({
            "1 tenant → collector :4317 (gRPC)": "allowed",
            "2 tenant → collector :4318 (HTTP)": "allowed",
            "3 tenant → another shared pod :4317": "refused",
            "4 tenant → another shared pod :4318": "refused",
        });
        expect(unwitnessed(outcomes)).toEqual([]);
    });

    test("the local stack's tenants get no OTLP rule (monitoring is off there): the collector is refused", async () => {
        const outcomes = await runMatrix([
            {
                what: "tenant → collector :4317",
                from: { ns: A, pod: "web" },
                to: "shared/otel-collector",
                target: `${ip(SHARED_NAMESPACE, "cv-traffic-otel")}:4317`,
                proto: "tcp",
                expectOpen: false,
                witness: { ns: OUTSIDE, pod: "outsider" },
            },
        ]);
        reports.push(table(`OTLP from ${A} (local stack, monitoring off)`, outcomes));
        expect(outcomes.map((o) => o.open)).toEqual([false]);
        expect(unwitnessed(outcomes)).toEqual([]);
    });
});
