/**
 * Minimal Kubernetes API access for the CLI (demo report, purge checks):
 * GET/PATCH with the credentials of a kubeconfig context. Supports the
 * embedded-certificate and file-path forms of cluster CA and client certs.
 */
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";

export interface KubeAccess {
    readonly server: string;
    readonly agent: https.Agent;
    readonly token?: string;
}

interface KubeconfigDoc {
    "current-context"?: string;
    contexts: { name: string; context: { cluster: string; user: string } }[];
    clusters: { name: string; cluster: { server: string; "certificate-authority-data"?: string; "certificate-authority"?: string } }[];
    users: {
        name: string;
        user: { "client-certificate-data"?: string; "client-key-data"?: string; "client-certificate"?: string; "client-key"?: string; token?: string };
    }[];
}

export function kubeAccess(kubeconfigPath: string, context?: string): KubeAccess {
    const doc = parseYaml(fs.readFileSync(kubeconfigPath, "utf8")) as KubeconfigDoc;
    const name = context ?? doc["current-context"];
    const ctx = doc.contexts.find((c) => c.name === name)?.context;
    if (!ctx) throw new Error(`kubeconfig ${kubeconfigPath} has no context "${name}"`);
    const cluster = doc.clusters.find((c) => c.name === ctx.cluster)?.cluster;
    const user = doc.users.find((u) => u.name === ctx.user)?.user;
    if (!cluster || !user) throw new Error(`kubeconfig ${kubeconfigPath}: context "${name}" names a missing cluster or user`);
    const dir = path.dirname(kubeconfigPath);
    const material = (data?: string, file?: string) => (data ? Buffer.from(data, "base64") : file ? fs.readFileSync(path.resolve(dir, file)) : undefined);
    return {
        server: cluster.server,
        token: user.token,
        agent: new https.Agent({
            ca: material(cluster["certificate-authority-data"], cluster["certificate-authority"]),
            cert: material(user["client-certificate-data"], user["client-certificate"]),
            key: material(user["client-key-data"], user["client-key"]),
        }),
    };
}

export class KubeError extends Error {
    constructor(
        readonly status: number,
        message: string,
    ) {
        super(message);
    }
}

export function kubeRequest<T = Record<string, unknown>>(
    access: KubeAccess,
    method: string,
    apiPath: string,
    body?: unknown,
    contentType = "application/json",
): Promise<T> {
    return new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = https.request(
            `${access.server}${apiPath}`,
            {
                method,
                agent: access.agent,
                headers: {
                    Accept: "application/json",
                    ...(payload ? { "Content-Type": contentType, "Content-Length": Buffer.byteLength(payload) } : {}),
                    ...(access.token ? { Authorization: `Bearer ${access.token}` } : {}),
                },
            },
            (res) => {
                let text = "";
                res.on("data", (c: Buffer) => (text += c.toString()));
                res.on("end", () => {
                    const status = res.statusCode ?? 0;
                    if (status >= 200 && status < 300) resolve(JSON.parse(text) as T);
                    else reject(new KubeError(status, `${method} ${apiPath}: ${status} ${text.slice(0, 300)}`));
                });
            },
        );
        req.on("error", reject);
        if (payload) req.write(payload);
        req.end();
    });
}

export const kubeGet = <T = Record<string, unknown>>(access: KubeAccess, apiPath: string) => kubeRequest<T>(access, "GET", apiPath);
