/**
 * `tenantctl report --stack S`: prints, per tenant of a deployed stack, what
 * exists in the cluster, read back from the API server, not from Pulumi's
 * state. Used by `make demo`.
 */
import type { Command } from "commander";
import * as path from "node:path";
import { kubeAccess, kubeGet, type KubeAccess } from "../core/kube";
import { PROJECT_DIR } from "../core/project";

const get = (access: KubeAccess, apiPath: string) =>
    kubeGet<{ items?: { metadata: { name: string; labels?: Record<string, string> }; spec?: Record<string, unknown> }[] } & Record<string, unknown>>(
        access,
        apiPath,
    );

async function report(stackName: string, kubeconfigOption?: string): Promise<void> {
    const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
    const workDir = PROJECT_DIR;
    const stack = await LocalWorkspace.selectStack({ stackName, workDir });
    const outputs = await stack.outputs();
    const tenants = (outputs.tenants?.value ?? {}) as Record<string, { namespace: string; tier: string; status: string; hosts: string[] }>;
    const kubeconfig = kubeconfigOption ?? process.env.KUBECONFIG ?? path.join(workDir, ".work", "kubeconfig");
    const access = kubeAccess(kubeconfig);
    console.log(`stack ${stackName}: region ${String(outputs.region?.value)}, ${Object.keys(tenants).length} tenants`);
    for (const [id, t] of Object.entries(tenants)) {
        const ns = t.namespace;
        const nsObj = (await get(access, `/api/v1/namespaces/${ns}`)) as unknown as { metadata: { labels: Record<string, string> } };
        const count = async (p: string) => ((await get(access, p)).items ?? []).map((i) => i.metadata.name);
        const quota = (await get(access, `/api/v1/namespaces/${ns}/resourcequotas/client-quota`)) as unknown as { spec: { hard: Record<string, string> } };
        const hpas = (await get(access, `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`)).items ?? [];
        const ingresses = await count(`/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses`);
        const labels = nsObj.metadata.labels;
        console.log(`\n${id} (${t.tier}, ${t.status})  namespace ${ns}`);
        console.log(`  pod security: ${labels["pod-security.kubernetes.io/enforce"]}; deletion date: ${labels["collectverything.com/deletion-date"] ?? "-"}`);
        console.log(
            `  quota: cpu ${quota.spec.hard["requests.cpu"]}/${quota.spec.hard["limits.cpu"]}, memory ${quota.spec.hard["requests.memory"]}/${quota.spec.hard["limits.memory"]}, storage ${quota.spec.hard["requests.storage"]}, pods ${quota.spec.hard.pods}`,
        );
        console.log(`  limitranges: ${(await count(`/api/v1/namespaces/${ns}/limitranges`)).join(", ")}`);
        console.log(`  networkpolicies: ${(await count(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`)).join(", ")}`);
        console.log(
            `  roles: ${(await count(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`)).join(", ")}; rolebindings: ${(await count(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`)).join(", ")}`,
        );
        console.log(
            `  hpas: ${hpas.map((h) => `${h.metadata.name} ${String((h.spec as { minReplicas: number }).minReplicas)}-${String((h.spec as { maxReplicas: number }).maxReplicas)}`).join(", ")}`,
        );
        console.log(
            `  cronjobs: ${(await count(`/apis/batch/v1/namespaces/${ns}/cronjobs`)).join(", ")}; jobs: ${(await count(`/apis/batch/v1/namespaces/${ns}/jobs`)).join(", ") || "-"}`,
        );
        console.log(`  ingress: ${ingresses.length ? `${ingresses.join(", ")} → ${t.hosts.join(", ")}` : "none (not served)"}`);
    }
}

export function register(program: Command): void {
    program
        .command("report")
        .description("Print what exists in the cluster for each tenant of a deployed stack (read from the API server).")
        .requiredOption("--stack <stack>", "the deployed stack, e.g. local")
        .option("--kubeconfig <file>", "kubeconfig of the cluster (default: $KUBECONFIG, else .work/kubeconfig)")
        .action(async (opts: { stack: string; kubeconfig?: string }) => {
            await report(opts.stack, opts.kubeconfig);
        });
}
