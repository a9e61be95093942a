/**
 * Types of the Grafana Foundation SDK's subpath exports under this project's
 * `moduleResolution: node` (which ignores package.json `exports`): the SDK
 * ships them in dist/<module>/; Node resolves the same subpaths at run time
 * through `exports`.
 */
declare module "@grafana/grafana-foundation-sdk/dashboard" {
    export * from "@grafana/grafana-foundation-sdk/dist/dashboard";
}
declare module "@grafana/grafana-foundation-sdk/prometheus" {
    export * from "@grafana/grafana-foundation-sdk/dist/prometheus";
}
declare module "@grafana/grafana-foundation-sdk/timeseries" {
    export * from "@grafana/grafana-foundation-sdk/dist/timeseries";
}
