/**
 * The generated scrape configuration and rules, checked by the real promtool
 * (Debian's Prometheus 2.42): `check config`, `check rules`, and the rule unit
 * tests of test/fixtures/prometheus/rules.test.yaml, which fire every alert on
 * input series and keep it silent on healthy ones.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { additionalScrapeConfigsYaml, alertingRules, recordingRules, ruleFileYaml } from "../../lib/monitoring";
import { REPO_ROOT } from "../support/contract";
import { PROMETHEUS_TIMEOUT_MS, ensurePrometheus, promtool, workDir } from "./prometheusHarness";

const FIXTURE = path.join(REPO_ROOT, "test", "fixtures", "prometheus", "rules.test.yaml");
let dir: string;

beforeAll(() => {
    ensurePrometheus();
    dir = workDir("rules");
    fs.writeFileSync(path.join(dir, "rules.yaml"), ruleFileYaml());
    fs.copyFileSync(FIXTURE, path.join(dir, "rules.test.yaml"));
}, PROMETHEUS_TIMEOUT_MS);

afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("promtool check config accepts the kubernetes-pods job, its relabelling exactly as generated", () => {
    // Debian's build of Prometheus has no Kubernetes service discovery compiled in
    // (its promtool refuses `kubernetes_sd_configs`), so the check runs on the job
    // with that one block swapped for file discovery; every relabel rule is checked as generated.
    const jobs = parse(additionalScrapeConfigsYaml()) as Record<string, unknown>[];
    expect(jobs.map((j) => j.kubernetes_sd_configs)).toEqual([[{ role: "pod" }]]);
    const checked = jobs.map(({ kubernetes_sd_configs: _sd, ...job }) => ({ ...job, file_sd_configs: [{ files: [path.join(dir, "targets.json")] }] }));
    fs.writeFileSync(path.join(dir, "prometheus.yml"), stringify({ global: { scrape_interval: "30s" }, scrape_configs: checked }));
    const out = promtool(["check", "config", path.join(dir, "prometheus.yml")]);
    expect(out).toContain("SUCCESS");
});

test("promtool check rules accepts the region's rule file: 12 recording rules and 5 alerts", () => {
    const out = promtool(["check", "rules", path.join(dir, "rules.yaml")]);
    expect(out).toContain("SUCCESS: 17 rules found");
    expect(recordingRules()).toHaveLength(12);
    expect(alertingRules()).toHaveLength(5);
});

test("promtool test rules: every recording rule gives the hand-computed value, every alert fires on its input and stays silent on the healthy series", () => {
    const out = promtool(["test", "rules", "rules.test.yaml"], dir);
    expect(out).toContain("SUCCESS");
    // Every alert and every recorded series is exercised by the fixture.
    const fixture = parse(fs.readFileSync(FIXTURE, "utf8")) as {
        tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[]; promql_expr_test?: { expr: string }[] }[];
    };
    const fired = new Set(fixture.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    const silent = new Set(fixture.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length === 0).map((a) => a.alertname)));
    const alerts = alertingRules().map((a) => a.alert);
    expect([...fired].sort()).toEqual([...alerts].sort());
    // Each test's healthy series are checked by listing only the unhealthy ones; an early evaluation checks "not yet".
    expect([...silent].sort()).toEqual(["TenantBackupMissing", "TenantCertificateExpiring", "TenantQueueGrowing", "TenantQuotaNearlyFull"]);
    const recorded = new Set(fixture.tests.flatMap((t) => (t.promql_expr_test ?? []).map((e) => e.expr)));
    expect([...recorded].sort()).toEqual(
        recordingRules()
            .map((r) => r.record)
            .sort(),
    );
});
