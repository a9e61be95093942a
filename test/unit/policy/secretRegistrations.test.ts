/**
 * The secret rule over what a program really registers: the typed Secret
 * class marks data/stringData secret, a CustomResource of kind Secret does
 * not. Captured from the mock monitor before any provider sees it.
 */
import * as pulumi from "@pulumi/pulumi";
import { checkSecretLiterals } from "../../../policy/rules/secretLiterals";
import { secretPathsOf } from "../../../policy/secretness";
import type { Subject } from "../../../policy/model";

const registered: Subject[] = [];

beforeAll(async () => {
    pulumi.runtime.setAllConfig({});
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
            call: (args) => {
                throw new Error(`unexpected call ${args.token}`);
            },
        },
        "secrets",
        "test",
        false,
    );
    const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource: (req: RegisterRequest, cb: unknown) => unknown };
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, cb) => {
        const raw = req.getObject()?.toJavaScript() ?? {};
        const plain = JSON.parse(JSON.stringify(raw, (_k, v) => (v && typeof v === "object" && "value" in v && Object.keys(v).length === 2 ? v.value : v)));
        registered.push({
            type: req.getType(),
            name: req.getName(),
            urn: `urn:pulumi:test::secrets::${req.getType()}::${req.getName()}`,
            props: plain,
            protect: false,
            secretPaths: secretPathsOf(raw),
        });
        return original(req, cb);
    };
});

interface RegisterRequest {
    getType(): string;
    getName(): string;
    getObject(): { toJavaScript(): unknown } | undefined;
}

it("passes the typed Secret (the SDK makes data and stringData secret) and reports a literal CustomResource Secret", async () => {
    const k8s = await import("@pulumi/kubernetes");
    new k8s.core.v1.Secret("typed", { metadata: { name: "typed" }, stringData: { PASSWORD: "literal-but-wrapped" } });
    new k8s.apiextensions.CustomResource("raw", {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "raw", namespace: "e-commerce-client-abc" },
        stringData: { PASSWORD: "hunter2", TOKEN: pulumi.secret("t") },
    });
    await new Promise((r) => setTimeout(r, 200));
    const secrets = registered.filter((s) => s.name === "typed" || s.name === "raw");
    expect(secrets.map((s) => s.name).sort()).toEqual(["raw", "typed"]);
    const vs = checkSecretLiterals(secrets);
    expect(vs.map((v) => v.message)).toEqual([expect.stringContaining("Secret e-commerce-client-abc/raw holds stringData.PASSWORD as plain values")]);
});
