/**
 * The residency check's read of another stack's `tenants` output
 * (stacks/program.ts, readTenantsOutput): a missing stack holds no tenant; a
 * checkpoint read empty while that stack's own update rewrites it (file
 * backend, "failed to load checkpoint: EOF") is tried again; anything else
 * fails at once.
 */
import { readTenantsOutput } from "../../../stacks/program";

const TENANTS = { abc: { namespace: "e-commerce-client-abc" } };

/** An invoke that fails with the given messages, in turn, then answers the outputs. */
function invokeFailing(...messages: string[]) {
    const calls: string[] = [];
    const invoke = (args: { name: string }) => {
        calls.push(args.name);
        const next = messages.shift();
        return next === undefined ? Promise.resolve({ outputs: { tenants: TENANTS } }) : Promise.reject(new Error(next));
    };
    return { invoke, calls };
}

const EOF_ERROR = "invocation of pulumi:pulumi:readStackOutputs returned an error: failed to load checkpoint: EOF";

describe("readTenantsOutput", () => {
    it("answers the stack's tenants output", async () => {
        const { invoke, calls } = invokeFailing();
        expect(await readTenantsOutput(invoke, "local-s01", 10, 1)).toEqual(TENANTS);
        expect(calls).toEqual(["local-s01"]);
    });

    it("a stack that does not exist holds no tenant", async () => {
        const { invoke, calls } = invokeFailing('unknown stack "local-s02"');
        expect(await readTenantsOutput(invoke, "local-s02", 10, 1)).toBeUndefined();
        expect(calls).toEqual(["local-s02"]);
    });

    it("reads again a checkpoint found empty while its stack's update rewrites it", async () => {
        const { invoke, calls } = invokeFailing(EOF_ERROR, EOF_ERROR);
        expect(await readTenantsOutput(invoke, "local-s00", 10, 1)).toEqual(TENANTS);
        expect(calls).toEqual(["local-s00", "local-s00", "local-s00"]);
    });

    it("gives up after the given number of attempts with the backend's error", async () => {
        const { invoke, calls } = invokeFailing(EOF_ERROR, EOF_ERROR, EOF_ERROR);
        await expect(readTenantsOutput(invoke, "local-s00", 3, 1)).rejects.toThrow(EOF_ERROR);
        expect(calls).toHaveLength(3);
    });

    it("fails at once on any other error (backend unreachable, no permission)", async () => {
        const { invoke, calls } = invokeFailing("failed to load checkpoint: permission denied");
        await expect(readTenantsOutput(invoke, "local-s00", 10, 1)).rejects.toThrow("permission denied");
        expect(calls).toEqual(["local-s00"]);
    });
});
