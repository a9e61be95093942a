/**
 * Offline synth: evaluates the real program (index.ts) for a stack under a
 * recording mock runtime. No cloud, cluster or credentials are needed.
 *
 * The recorder sits on the mock resource monitor and captures every
 * registration exactly as `pulumi up` would send it to the engine: type,
 * name, parent, resource options and inputs. Secret values are redacted at
 * capture, so nothing downstream (JSON, tables, diffs) can print them.
 *
 * This is the one module coupled to the SDK's internals (the mock monitor,
 * the gRPC request and response messages, the wire sentinels, imported from
 * the SDK rather than copied): an SDK upgrade that changes them breaks here,
 * loudly, and nowhere else.
 */
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
// The SDK's generated gRPC messages, to answer registrations without its mock's serialization round trip.
import * as resproto from "@pulumi/pulumi/proto/resource_pb";
import { specialResourceSig, specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { TENANT_TYPE } from "../lib/tokens";
import { CONFIG_NAMESPACE } from "../stacks/config";
import { PROJECT_DIR, PROJECT_NAME } from "./project";
import { runtimeConfig, StackFileError } from "./stackFile";

export const REDACTED = "[secret]";
export const UNKNOWN = "[computed]";

/** The resource options the engine receives with a registration (those the program uses; defaults omitted). */
export interface SynthOptionsRecorded {
    readonly ignoreChanges?: readonly string[];
    readonly retainOnDelete?: boolean;
    readonly deleteBeforeReplace?: boolean;
    readonly replaceOnChanges?: readonly string[];
    /** URNs of the explicit dependencies (dependsOn and the resources inputs refer to). */
    readonly dependencies?: readonly string[];
    readonly aliases?: number;
}

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
    /** The other resource options, as registered. */
    readonly options: SynthOptionsRecorded;
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
    if (value === unknownValue) return UNKNOWN;
    if (Array.isArray(value)) return value.map(plainValue);
    if (value !== null && typeof value === "object") {
        const obj = value as Record<string, unknown>;
        if (obj[specialSigKey] === specialSecretSig) return REDACTED;
        if (obj[specialSigKey] === specialResourceSig) return { urn: obj.urn };
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(obj)) out[k] = plainValue(v);
        return out;
    }
    return value;
}

/**
 * The URN the engine gives a resource: its type qualified by the chain of its
 * ancestors' types, which the parent's URN carries (`a$b$type`).
 */
export function resourceUrn(stack: string, parentUrn: string, type: string, name: string): string {
    const qualified = parentUrn ? `${parentUrn.split("::")[2]}$${type}` : type;
    return `urn:pulumi:${stack}::${PROJECT_NAME}::${qualified}::${name}`;
}
/** Mock outputs for the values providers compute, so dependent inputs are realistic. */
function mockState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
    switch (type) {
        case "random:index/randomPassword:RandomPassword":
            return { ...inputs, result: `synth-generated-password-${name}` };
        case "minio:index/s3Bucket:S3Bucket":
            return { ...inputs, arn: `arn:aws:s3:::${String(inputs.bucket)}` };
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
    options: SynthOptionsRecorded;
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
    let loaded: ReturnType<typeof runtimeConfig>;
    try {
        loaded = runtimeConfig(options.stack, { projectDir });
    } catch (err) {
        if (err instanceof StackFileError) throw new SynthError(err.message);
        throw err;
    }
    const { config, secretKeys } = loaded;
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
            newResource: (args) => ({ id: `${args.name}-id`, state: mockState(args.type, args.name, args.inputs as Record<string, unknown>) }),
            call: (args) => {
                // Offline, the other stacks (peer regions, sibling shards) do not exist: they hold no tenant.
                // (The SDK rethrows an invoke's error from its gRPC `details`, as the engine sends them.)
                if (args.token === "pulumi:pulumi:readStackOutputs") {
                    const message = `unknown stack "${String((args.inputs as { name?: unknown }).name)}"`;
                    throw Object.assign(new Error(message), { details: message });
                }
                throw new Error(`synth: unexpected provider function call ${args.token}`);
            },
        },
        PROJECT_NAME,
        options.stack,
        false,
        // The organization a self-managed backend reports (stack references are `organization/<project>/<stack>`).
        "organization",
    );

    const registrations: Registration[] = [];
    const monitor = pulumi.runtime.getMonitor() as unknown as {
        registerResource: (req: RegisterRequest, cb: (err: unknown, res?: unknown) => void) => unknown;
        registerResourceOutputs: (req: unknown, cb: (err: unknown, res?: unknown) => void) => unknown;
    };
    const mockRegister = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, cb) => {
        const type = req.getType();
        const object = req.getObject();
        registrations.push({
            type,
            name: req.getName(),
            parent: req.getParent(),
            protect: req.getProtect() ?? false,
            custom: req.getCustom(),
            options: recordedOptions(req),
            object: object?.toJavaScript() ?? {},
        });
        if (MOCKED_OUTPUT_TYPES.has(type)) return mockRegister(req, cb);
        // Every other resource echoes its inputs as its outputs, as the SDK's
        // mock does, but answered with the request's own serialized inputs:
        // no deserialize/serialize round trip per resource (a tenth of the
        // evaluation time at 1,000 tenants).
        const urn = resourceUrn(options.stack, req.getParent(), type, req.getName());
        const response = new resproto.RegisterResourceResponse();
        response.setUrn(urn);
        response.setId(`${req.getName()}-id`);
        if (object) response.setObject(object);
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

type RegisterRequest = Pick<
    resproto.RegisterResourceRequest,
    | "getType"
    | "getName"
    | "getParent"
    | "getProtect"
    | "getCustom"
    | "getObject"
    | "getIgnorechangesList"
    | "getRetainondelete"
    | "getDeletebeforereplace"
    | "getReplaceonchangesList"
    | "getDependenciesList"
    | "getAliasesList"
>;

/** The options of a registration that differ from their defaults. */
function recordedOptions(req: RegisterRequest): SynthOptionsRecorded {
    const out: { -readonly [K in keyof SynthOptionsRecorded]: SynthOptionsRecorded[K] } = {};
    const ignore = req.getIgnorechangesList();
    if (ignore.length > 0) out.ignoreChanges = [...ignore].sort();
    if (req.getRetainondelete() === true) out.retainOnDelete = true;
    if (req.getDeletebeforereplace()) out.deleteBeforeReplace = true;
    const replace = req.getReplaceonchangesList();
    if (replace.length > 0) out.replaceOnChanges = [...replace].sort();
    const deps = req.getDependenciesList();
    if (deps.length > 0) out.dependencies = [...new Set(deps)].sort();
    const aliases = req.getAliasesList();
    if (aliases.length > 0) out.aliases = aliases.length;
    return out;
}

function toResources(registrations: readonly Registration[], stack: string): SynthResource[] {
    const byUrn = new Map<string, SynthResource>();
    const resources: SynthResource[] = [];
    for (const r of registrations) {
        const urn = resourceUrn(stack, r.parent, r.type, r.name);
        const parentRes = r.parent ? byUrn.get(r.parent) : undefined;
        const tenant = r.type === TENANT_TYPE ? r.name : parentRes?.tenant;
        const res: SynthResource = {
            type: r.type,
            name: r.name,
            urn,
            parent: r.parent || undefined,
            tenant,
            protect: r.protect,
            custom: r.custom,
            options: r.options,
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
                options: r.options,
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
    const lines = [
        `stack ${result.stack} (region ${result.region}): ${result.resources.length} resources, ${rows.length - (counts.has("(shared)") ? 1 : 0)} tenants`,
    ];
    lines.push(`${"tenant".padEnd(width)}  resources  protected  types`);
    for (const [tenant, c] of rows) {
        lines.push(`${tenant.padEnd(width)}  ${String(c.total).padStart(9)}  ${String(c.protect).padStart(9)}  ${String(c.types.size).padStart(5)}`);
    }
    return lines.join("\n");
}
