/**
 * A small Kubernetes API client for the engine tests: the admin credentials
 * of a kubeconfig (client certificate), optional impersonation, dry-run, and
 * SubjectAccessReview. Plain HTTPS, no client library.
 */
import * as https from "node:https";
import { kubeAccess } from "../../core/kube";

export interface KubeResponse<T = KubeObject> {
    readonly status: number;
    readonly body: T;
}

/** A Kubernetes object or Status, loosely typed: tests assert on fields. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KubeObject = Record<string, any>;

export interface RequestOptions {
    /** Impersonate this user (and groups) on the request, as `kubectl --as/--as-group`. */
    readonly as?: { readonly user: string; readonly groups?: readonly string[] };
    /** Send `dryRun=All`: admission runs completely, nothing is stored. */
    readonly dryRun?: boolean;
    readonly contentType?: string;
}

export class KubeClient {
    readonly server: string;
    private readonly agent: https.Agent;
    private readonly token?: string;

    constructor(kubeconfigPath: string, context?: string) {
        const access = kubeAccess(kubeconfigPath, context);
        this.server = access.server.replace(/\/$/, "");
        this.token = access.token;
        this.agent = access.agent;
    }

    /** Any request; never throws for an HTTP status, only for transport errors. */
    request<T = KubeObject>(method: string, apiPath: string, body?: unknown, opts: RequestOptions = {}): Promise<KubeResponse<T>> {
        const url = new URL(`${this.server}${apiPath}`);
        if (opts.dryRun) url.searchParams.set("dryRun", "All");
        const headers: Record<string, string | string[]> = { accept: "application/json" };
        if (this.token) headers.authorization = `Bearer ${this.token}`;
        if (opts.as) {
            headers["Impersonate-User"] = opts.as.user;
            if (opts.as.groups?.length) headers["Impersonate-Group"] = [...opts.as.groups];
        }
        const payload = body === undefined ? undefined : JSON.stringify(body);
        if (payload !== undefined) headers["content-type"] = opts.contentType ?? "application/json";
        return new Promise((resolve, reject) => {
            const req = https.request(url, { method, agent: this.agent, headers }, (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => {
                    const text = Buffer.concat(chunks).toString("utf8");
                    let parsed: unknown = text;
                    try {
                        parsed = text ? JSON.parse(text) : {};
                    } catch {
                        // keep the text
                    }
                    resolve({ status: res.statusCode ?? 0, body: parsed as T });
                });
            });
            req.on("error", reject);
            if (payload !== undefined) req.write(payload);
            req.end();
        });
    }

    /** GET that must succeed. */
    async get<T = KubeObject>(apiPath: string): Promise<T> {
        const res = await this.request<T>("GET", apiPath);
        if (res.status !== 200) throw new Error(`GET ${apiPath} -> ${res.status}: ${JSON.stringify(res.body)}`);
        return res.body;
    }

    /** GET that returns undefined for 404. */
    async find<T = KubeObject>(apiPath: string): Promise<T | undefined> {
        const res = await this.request<T>("GET", apiPath);
        if (res.status === 404) return undefined;
        if (res.status !== 200) throw new Error(`GET ${apiPath} -> ${res.status}: ${JSON.stringify(res.body)}`);
        return res.body;
    }

    /** The items of a list. */
    async list(apiPath: string): Promise<KubeObject[]> {
        return (await this.get<{ items: KubeObject[] }>(apiPath)).items ?? [];
    }

    /** Whether `user` in `groups` may `verb` the resource, by the API server's authorizer (SubjectAccessReview). */
    async canI(
        who: { user: string; groups: readonly string[] },
        attrs: { verb: string; resource: string; namespace?: string; group?: string; subresource?: string; name?: string },
    ): Promise<{ allowed: boolean; reason?: string }> {
        const res = await this.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
            apiVersion: "authorization.k8s.io/v1",
            kind: "SubjectAccessReview",
            spec: { user: who.user, groups: [...who.groups], resourceAttributes: { group: attrs.group ?? "", ...attrs } },
        });
        if (res.status !== 201 && res.status !== 200) throw new Error(`SubjectAccessReview -> ${res.status}: ${JSON.stringify(res.body)}`);
        return { allowed: res.body.status?.allowed === true, reason: res.body.status?.reason };
    }

    /** Creates or replaces the Opaque Secret `name` in `ns` with `stringData` (what an apply or external-secrets writes). */
    async putSecret(ns: string, name: string, stringData: Readonly<Record<string, string>>): Promise<void> {
        const body = { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, type: "Opaque", stringData };
        const put = await this.request("PUT", `/api/v1/namespaces/${ns}/secrets/${name}`, body);
        if (put.status === 404) {
            const created = await this.request("POST", `/api/v1/namespaces/${ns}/secrets`, body);
            if (created.status !== 201) throw new Error(`create Secret ${ns}/${name} -> ${created.status}`);
        } else if (put.status !== 200) {
            throw new Error(`update Secret ${ns}/${name} -> ${put.status}`);
        }
    }

    /** The decoded data of the Secret `name` in `ns` (what a pod mounting it reads). */
    async secretData(ns: string, name: string): Promise<Record<string, string>> {
        const s = await this.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${ns}/secrets/${name}`);
        return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
    }

    /** Polls until `apiPath` returns 404, or fails after `timeoutMs`. */
    async waitGone(apiPath: string, timeoutMs = 180_000): Promise<void> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const res = await this.request("GET", apiPath);
            if (res.status === 404) return;
            if (Date.now() > deadline) throw new Error(`${apiPath} still exists after ${timeoutMs} ms: ${JSON.stringify(res.body?.status ?? res.body)}`);
            await new Promise((r) => setTimeout(r, 1000));
        }
    }
}

/** API paths of the namespaced kinds the tenant program creates. */
export const paths = {
    namespace: (name: string) => `/api/v1/namespaces/${name}`,
    namespaces: () => `/api/v1/namespaces`,
    resourceQuotas: (ns: string) => `/api/v1/namespaces/${ns}/resourcequotas`,
    limitRanges: (ns: string) => `/api/v1/namespaces/${ns}/limitranges`,
    pods: (ns: string) => `/api/v1/namespaces/${ns}/pods`,
    pvcs: (ns: string) => `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
    serviceAccounts: (ns: string) => `/api/v1/namespaces/${ns}/serviceaccounts`,
    secrets: (ns: string) => `/api/v1/namespaces/${ns}/secrets`,
    networkPolicies: (ns: string) => `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`,
    ingresses: (ns: string) => `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses`,
    roles: (ns: string) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
    roleBindings: (ns: string) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
    hpas: (ns: string) => `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`,
    cronJobs: (ns: string) => `/apis/batch/v1/namespaces/${ns}/cronjobs`,
    jobs: (ns: string) => `/apis/batch/v1/namespaces/${ns}/jobs`,
};
