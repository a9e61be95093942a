/**
 * The engine settings every stack runs with (core/engineSettings.ts): added
 * unless the caller or this process's environment sets them.
 */
import * as os from "node:os";
import { ENGINE_SETTINGS, effectiveSettings, withEngineSettings } from "../../../core/engineSettings";

const CACHE = `${os.homedir()}/.cache/collectverything/node-compile-cache`;

test("the platform's settings: diffs in parallel, compressed checkpoints, the program's compile cache", () => {
    expect(ENGINE_SETTINGS).toEqual({ PULUMI_PARALLEL_DIFF: "true", PULUMI_DIY_BACKEND_GZIP: "true", NODE_COMPILE_CACHE: CACHE });
});

test("added to the caller's environment; the caller's value and this process's environment win", () => {
    expect(withEngineSettings({ PULUMI_BACKEND_URL: "file:///b" }, {})).toEqual({
        PULUMI_BACKEND_URL: "file:///b",
        PULUMI_PARALLEL_DIFF: "true",
        PULUMI_DIY_BACKEND_GZIP: "true",
        NODE_COMPILE_CACHE: CACHE,
    });
    expect(withEngineSettings({ PULUMI_PARALLEL_DIFF: "false" }, {})).toEqual({
        PULUMI_PARALLEL_DIFF: "false",
        PULUMI_DIY_BACKEND_GZIP: "true",
        NODE_COMPILE_CACHE: CACHE,
    });
    expect(withEngineSettings({}, { PULUMI_PARALLEL_DIFF: "false", PULUMI_DIY_BACKEND_GZIP: "false", NODE_COMPILE_CACHE: "/elsewhere" })).toEqual({});
});

test("effectiveSettings names the platform's settings and the measured ones that are set", () => {
    expect(effectiveSettings(withEngineSettings({}, {}), ["PULUMI_DIY_BACKEND_GZIP", "PULUMI_K8S_CLIENT_QPS"], { PULUMI_K8S_CLIENT_QPS: "500" })).toEqual([
        "PULUMI_PARALLEL_DIFF=true",
        "PULUMI_DIY_BACKEND_GZIP=true",
        `NODE_COMPILE_CACHE=${CACHE}`,
        "PULUMI_K8S_CLIENT_QPS=500",
    ]);
});
