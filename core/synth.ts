/**
 * Offline synth: evaluates the real program (index.ts) for a stack under a
 * recording mock runtime. No cloud, cluster or credentials are needed.
 *
 * The recorder sits on the mock resource monitor and captures every
 * registration exactly as `pulumi up` would send it to the engine: type,
 * name, parent, options and inputs. Secret values are redacted at capture,
 * so nothing downstream (JSON, tables, diffs) can print them.
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
// The SDK's generated gRPC messages, to answer registrations without its mock's serialization round trip.
import * as resproto from "@pulumi/pulumi/proto/resource_pb";
import { CONFIG_NAMESPACE, SECRET_KEYS } from "../stacks/config";

export const PROJECT_DIR = path.resolve(__dirname, "..");
export const PROJECT_NAME = "tenant-platform";
export const REDACTED = "[secret]";
export const UNKNOWN = "[computed]";

const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e";
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export interface SynthResource {
    readonly type: string;
    readonly name: string;
    readonly urn: string;
    /** URN of the parent resource; undefined for top-level resources and providers. */
    readonly parent?: string;
    /** Id of the tenant this resource belongs to; undefined for the region's shared resources. */
    readonly tenant?: string;
    readonly protect: boolean;
    readonly custom: boolean;
    readonly inputs: Record<string, unknown>;
}

export interface SynthResult {
    readonly stack: string;
    readonly region: string;
    readonly resources: SynthResource[];
    /** Seconds from program start until every registration drained. */
    readonly seconds: number;
}

export class SynthError extends Error {}

/** Turns serialized property values into plain JSON, redacting secrets. */
export function plainValue(value: unknown): unknown {
    if (value === UNKNOWN_VALUE) return UNKNOWN;
    if (Array.isArray(value)) return value.map(plainValue);
    if (value !== null && typeof value === "object") {
        const obj = value as Record<string, unknown>;
        if (obj[SIG_KEY] === SECRET_SIG) return REDACTED;
        if (obj[SIG_KEY] === RESOURCE_SIG) return { urn: obj.urn };
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(obj)) out[k] = plainValue(v);
        return out;
    }
    return value;
}

/** Reads a stack file's config into the runtime's string form, marking `secure:` values as secrets. */
export function stackConfig(stack: string, projectDir = PROJECT_DIR, configFile?: string): { config: Record<string, string>; secretKeys: string[] } {
    const file = configFile ? path.resolve(configFile) : path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) {
        throw new SynthError(`no stack file ${path.basename(file)} in ${projectDir}; stacks: ${listStacks(projectDir).join(", ")}`);
    }
    const doc = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, value] of Object.entries(doc.config ?? {})) {
        const fullKey = key.includes(":") ? key : `${PROJECT_NAME}:${key}`;
        if (value !== null && typeof value === "object" && "secure" in (value as object)) {
            config[fullKey] = `synth-placeholder-${key}`;
            secretKeys.push(fullKey);
        } else {
            config[fullKey] = typeof value === "string" ? value : JSON.stringify(value);
        }
    }
    // Secrets are set per machine with `pulumi config set --secret`; synth supplies placeholders.
    for (const key of Object.keys(SECRET_KEYS)) {
        const fullKey = `${CONFIG_NAMESPACE}:${key}`;
        if (!(fullKey in config)) {
            config[fullKey] = `synth-placeholder-${key}`;
            secretKeys.push(fullKey);
        }
    }
    return { config, secretKeys };
}

export function listStacks(projectDir = PROJECT_DIR): string[] {
    return fs
        .readdirSync(projectDir)
        .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}

/** Mock outputs for the values providers compute, so dependent inputs are realistic. */
function mockState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
    switch (type) {
        case "random:index/randomPassword:RandomPassword":
            return { ...inputs, result: `synth-generated-password-${name}` };
        case "minio:index/s3Bucket:S3Bucket":
            return { ...inputs, arn: `arn:aws:s3:::${String(inputs.bucket)}` };
        case "pulumi:pulumi:StackReference":
            // Offline: peer region stacks report no tenants.
            return { ...inputs, outputs: {}, secretOutputNames: [] };
        case "aws:secretsmanager/secret:Secret":
            return { ...inputs, arn: `arn:aws:secretsmanager:region:000000000000:secret:${String(inputs.name)}` };
        default:
            return inputs;
    }
}

interface Registration {
    type: string;
    name: string;
    parent: string;
    protect: boolean;
    custom: boolean;
    /** The inputs as serialized for the engine (secrets and unknowns still marked). */
    object: unknown;
}

/** Types whose mocked outputs differ from their inputs (see mockState); they go through the SDK's mock. */
const MOCKED_OUTPUT_TYPES = new Set(["random:index/randomPassword:RandomPassword", "minio:index/s3Bucket:S3Bucket", "aws:secretsmanager/secret:Secret"]);

export interface SynthOptions {
    readonly stack: string;
    /** Manifest to evaluate instead of the stack's configured one. */
    readonly manifest?: string;
    /** Extra config values (full keys), applied over the stack file. */
    readonly configOverrides?: Record<string, string>;
    readonly projectDir?: string;
}

/**
 * Evaluates index.ts for `stack` once per process (the Pulumi runtime is a
 * process-wide singleton). Throws SynthError with the program's own message
 * when the program refuses its input.
 */
export async function synthesize(options: SynthOptions): Promise<SynthResult> {
    const projectDir = options.projectDir ?? PROJECT_DIR;
    const { config, secretKeys } = stackConfig(options.stack, projectDir);
    if (options.manifest) config[`${CONFIG_NAMESPACE}:manifest`] = path.resolve(options.manifest);
    Object.assign(config, options.configOverrides ?? {});

    // The SDK records a source position for every resource by formatting a
    // full stack trace; with source maps on, mapping those frames was a tenth
    // of the evaluation time. Synth reports no source positions (its errors
    // are messages), so this process formats plain JavaScript frames.
    process.setSourceMapsEnabled(false);
    const started = process.hrtime.bigint();
    pulumi.runtime.setAllConfig(config, secretKeys);
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => ({ id: `${args.name}-id`, state: mockState(args.type, args.name, args.inputs) }),
            call: (args) => {
                throw new Error(`synth: unexpected provider function call ${args.token}`);
            },
        },
        PROJECT_NAME,
        options.stack,
        false,
    );

    const registrations: Registration[] = [];
    const monitor = pulumi.runtime.getMonitor() as unknown as {
        registerResource: (req: RegisterRequest, cb: (err: unknown, res?: unknown) => void) => unknown;
        registerResourceOutputs: (req: unknown, cb: (err: unknown, res?: unknown) => void) => unknown;
    };
    const mockRegister = monitor.registerResource.bind(monitor);
    const qualifiedTypes = new Map<string, string>();
    monitor.registerResource = (req, cb) => {
        const type = req.getType();
        const object = req.getObject();
        registrations.push({
            type,
            name: req.getName(),
            parent: req.getParent(),
            protect: req.getProtect?.() ?? false,
            custom: req.getCustom(),
            object: object?.toJavaScript() ?? {},
        });
        if (MOCKED_OUTPUT_TYPES.has(type)) return mockRegister(req, cb);
        // Every other resource echoes its inputs as its outputs, as the SDK's
        // mock does, but answered with the request's own serialized inputs:
        // no deserialize/serialize round trip per resource (a tenth of the
        // evaluation time at 1,000 tenants).
        const parent = req.getParent();
        const qualified = parent ? `${qualifiedTypes.get(parent) ?? parent.split("::")[2]}$${type}` : type;
        const urn = `urn:pulumi:${options.stack}::${PROJECT_NAME}::${qualified}::${req.getName()}`;
        qualifiedTypes.set(urn, qualified);
        const response = new resproto.RegisterResourceResponse();
        response.setUrn(urn);
        response.setId(`${req.getName()}-id`);
        if (object) response.setObject(object as Parameters<typeof response.setObject>[0]);
        queueMicrotask(() => cb(null, response));
        return undefined;
    };
    // Component outputs are not recorded; acknowledge them.
    monitor.registerResourceOutputs = (_req, cb) => {
        queueMicrotask(() => cb(null, {}));
        return undefined;
    };

    const failures: unknown[] = [];
    const onError = (err: unknown) => failures.push(err);
    process.on("unhandledRejection", onError);
    try {
        try {
            await require(path.join(projectDir, "index.ts"));
        } catch (err) {
            throw new SynthError(err instanceof Error ? err.message : String(err));
        }
        // Public API: waits until every registration has drained, then closes the mock monitor.
        await pulumi.runtime.disconnect();
    } finally {
        process.off("unhandledRejection", onError);
    }
    if (failures.length > 0) {
        const first = failures[0];
        throw new SynthError(first instanceof Error ? first.message : String(first));
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { stack: options.stack, region: config[`${CONFIG_NAMESPACE}:region`] ?? "", resources: toResources(registrations, options.stack), seconds };
}

interface RegisterRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
    getProtect?(): boolean;
    getCustom(): boolean;
    getObject(): { toJavaScript(): unknown } | undefined;
}

function urnOf(stack: string, parentUrn: string, type: string, name: string, typeOf: Map<string, string>): string {
    const parentChain = parentUrn ? `${typeOf.get(parentUrn)}$` : "";
    return `urn:pulumi:${stack}::${PROJECT_NAME}::${parentChain}${type}::${name}`;
}

function toResources(registrations: readonly Registration[], stack: string): SynthResource[] {
    // URN qualified type chains, as the engine builds them.
    const chainOf = new Map<string, string>();
    const byUrn = new Map<string, SynthResource>();
    const resources: SynthResource[] = [];
    for (const r of registrations) {
        const urn = urnOf(stack, r.parent, r.type, r.name, chainOf);
        chainOf.set(urn, r.parent ? `${chainOf.get(r.parent)}$${r.type}` : r.type);
        const parentRes = r.parent ? byUrn.get(r.parent) : undefined;
        const tenant = r.type === "collectverything:tenant:Tenant" ? r.name : parentRes?.tenant;
        const res: SynthResource = {
            type: r.type,
            name: r.name,
            urn,
            parent: r.parent || undefined,
            tenant,
            protect: r.protect,
            custom: r.custom,
            inputs: plainValue(r.object) as Record<string, unknown>,
        };
        byUrn.set(urn, res);
        resources.push(res);
    }
    // Registration order depends on promise scheduling; URN order does not.
    return resources.sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
}

/** The JSON form: `{"stack","region","resources":[{"type","name","parent","inputs",...}]}`. */
export function synthJson(result: SynthResult): string {
    return JSON.stringify(
        {
            stack: result.stack,
            region: result.region,
            resources: result.resources.map((r) => ({
                type: r.type,
                name: r.name,
                parent: r.parent ?? null,
                tenant: r.tenant ?? null,
                protect: r.protect,
                inputs: r.inputs,
            })),
        },
        null,
        2,
    );
}

/** Per-tenant resource counts. */
export function synthTable(result: SynthResult): string {
    const counts = new Map<string, { total: number; protect: number; types: Set<string> }>();
    for (const r of result.resources) {
        const key = r.tenant ?? "(shared)";
        const c = counts.get(key) ?? { total: 0, protect: 0, types: new Set<string>() };
        c.total++;
        if (r.protect) c.protect++;
        c.types.add(r.type);
        counts.set(key, c);
    }
    const rows = [...counts.entries()].sort(([a], [b]) => (a === "(shared)" ? -1 : b === "(shared)" ? 1 : a.localeCompare(b)));
    const width = Math.max(8, ...rows.map(([k]) => k.length));
    const lines = [`stack ${result.stack} (region ${result.region}): ${result.resources.length} resources, ${rows.length - (counts.has("(shared)") ? 1 : 0)} tenants`];
    lines.push(`${"tenant".padEnd(width)}  resources  protected  types`);
    for (const [tenant, c] of rows) {
        lines.push(`${tenant.padEnd(width)}  ${String(c.total).padStart(9)}  ${String(c.protect).padStart(9)}  ${String(c.types.size).padStart(5)}`);
    }
    return lines.join("\n");
}
