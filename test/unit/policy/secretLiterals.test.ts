import { checkSecretLiterals, plainSecretKeys } from "../../../policy/rules/secretLiterals";
import { secretPathsOf } from "../../../policy/secretness";
import { fromSynth, redactedPaths } from "../../../policy/fromSynth";
import { subject } from "./subjects";

const SECRET = "kubernetes:core/v1:Secret";
const SIG = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

describe("secret-values-are-secrets", () => {
    it("allows a Secret whose values are all secrets, or whose whole data is one secret", () => {
        const perValue = subject(
            SECRET,
            "a",
            { stringData: { DB_PASSWORD: "x", DB_HOST: "h" } },
            { secretPaths: new Set(["stringData.DB_PASSWORD", "stringData.DB_HOST"]) },
        );
        const whole = subject(SECRET, "b", { data: { k: "dg==" } }, { secretPaths: new Set(["data"]) });
        expect(checkSecretLiterals([perValue, whole])).toEqual([]);
    });

    it("reports each plain value, in data and stringData", () => {
        const s = subject(
            SECRET,
            "creds",
            { metadata: { name: "creds", namespace: "e-commerce-client-abc" }, data: { token: "dG9r" }, stringData: { PASSWORD: "hunter2", USER: "u" } },
            { secretPaths: new Set(["stringData.USER"]) },
        );
        expect(plainSecretKeys(s)).toEqual(["data.token", "stringData.PASSWORD"]);
        expect(checkSecretLiterals([s])).toEqual([
            {
                policy: "secret-values-are-secrets",
                urn: s.urn,
                message: expect.stringContaining("Secret e-commerce-client-abc/creds holds data.token, stringData.PASSWORD as plain values"),
            },
        ]);
    });

    it("does not call a value that is not known yet a literal", () => {
        expect(plainSecretKeys(subject(SECRET, "u", { stringData: { P: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" } }))).toEqual([]);
    });

    it("reads secretness from the engine's serialized form and from the synth's redaction", () => {
        expect([...secretPathsOf({ stringData: { A: "a", B: { [SIG]: SECRET_SIG, value: "b" } }, list: [{ [SIG]: SECRET_SIG, value: 1 }] })]).toEqual([
            "stringData.B",
            "list.0",
        ]);
        expect([...redactedPaths({ stringData: { A: "a", B: "[secret]" } })]).toEqual(["stringData.B"]);
        const [s] = fromSynth([{ type: SECRET, name: "n", urn: "u", protect: false, custom: true, options: {}, inputs: { stringData: { A: "[secret]" } } }]);
        expect(plainSecretKeys(s)).toEqual([]);
    });
});
