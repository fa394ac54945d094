import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { useGoTool } from '../../helpers/go-tool';
import { MetricNames, SdkMetricNames } from '../../../infra/metrics';

// The alert rules, checked offline by promtool (built by `make tools` from the pinned Prometheus
// module): the rules file and the scrape config are valid, every rule test passes, and a failing
// expectation does fail. Then what promtool cannot see: every alert has a `for`, a severity, a
// summary and a runbook entry, tests that fire it and tests where it must stay quiet, and reads
// only metrics we export (a rename in infra/metrics.ts breaks this test, not an operator's pager).

const DIR = path.join(REPO_ROOT, 'infra/prometheus');
const read = (f: string) => readFileSync(path.join(DIR, f), 'utf8');

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleTest {
  name: string;
  input_series: { series: string; values: string }[];
  alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: unknown[] }[];
}

const rules = (parse(read('alerts.yml')) as { groups: { name: string; rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules);
const tests = (parse(read('alerts.test.yml')) as { tests: RuleTest[] }).tests;
const runbook = read('runbook.md');

/** Histograms are read through their series; everything else by its own name. */
const EXPORTED = new Set<string>([...Object.values(MetricNames), ...Object.values(SdkMetricNames)]);
const HISTOGRAM_SERIES = /_(bucket|sum|count)$/;
const isExported = (name: string) =>
  EXPORTED.has(name) || (HISTOGRAM_SERIES.test(name) && EXPORTED.has(name.replace(HISTOGRAM_SERIES, '')));

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool']);

/** Metric names a PromQL expression reads: identifiers outside strings, selectors, ranges and groupings that are no function or keyword. */
export function metricsOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?/g)]
    .filter((m) => !m[2] && !PROMQL_WORDS.has(m[1]!) && !/^\d/.test(m[1]!))
    .map((m) => m[1]!);
  return [...new Set(names)];
}

function promtool(bin: string, args: string[], cwd = DIR) {
  const r = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

describe('alert rules (promtool, offline)', () => {
  const tool = useGoTool('promtool');

  it('promtool check rules: alerts.yml is valid', () => {
    const r = promtool(tool.bin, ['check', 'rules', 'alerts.yml']);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('promtool check config: prometheus.yml is valid and loads the rules', () => {
    const r = promtool(tool.bin, ['check', 'config', 'prometheus.yml']);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('prometheus.yml scrapes the API at /health/metrics and the worker at /metrics', () => {
    const cfg = parse(read('prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    expect(cfg.rule_files).toEqual(['alerts.yml']);
    const jobs = Object.fromEntries(
      cfg.scrape_configs.map((j) => [j.job_name, { path: j.metrics_path, targets: j.static_configs.flatMap((s) => s.targets) }]),
    );
    expect(jobs).toEqual({
      api: { path: '/health/metrics', targets: ['api:3000'] },
      worker: { path: '/metrics', targets: ['worker:9464'] },
    });
  });

  it('promtool test rules: every case of alerts.test.yml passes', () => {
    const r = promtool(tool.bin, ['test', 'rules', 'alerts.test.yml']);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
    process.stdout.write(r.output.trim() ? `${r.output.trim()}\n` : '');
  });

  it('promtool test rules fails on a wrong expectation (the tests can fail)', () => {
    copyFileSync(path.join(DIR, 'alerts.yml'), path.join(tool.scratch, 'alerts.yml'));
    const wrong = {
      rule_files: ['alerts.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [{ series: 'sync_breaker_state{instance="api:3000"}', values: '0x10' }],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'LoginBreakerOpen', exp_alerts: [{ exp_labels: { severity: 'warning', instance: 'api:3000' } }] },
          ],
        },
      ],
    };
    writeFileSync(path.join(tool.scratch, 'wrong.test.yml'), JSON.stringify(wrong));
    const r = promtool(tool.bin, ['test', 'rules', 'wrong.test.yml'], tool.scratch);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/FAILED/);
  });

  it('every alert has a for, a severity, a summary and a runbook link', () => {
    expect(rules.length).toBeGreaterThanOrEqual(14);
    for (const r of rules) {
      expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.runbook, r.alert).toBe(`infra/prometheus/runbook.md#${r.alert.toLowerCase()}`);
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
  });

  it('every alert has a runbook entry: what it means and three things to check', () => {
    for (const { alert } of rules) {
      const at = runbook.indexOf(`\n### ${alert}\n`);
      expect(at, `runbook.md has no "### ${alert}"`).toBeGreaterThan(-1);
      const entry = runbook.slice(at + 1).split('\n### ')[0]!;
      expect(entry, alert).toMatch(/\*\*Means:\*\* \S/);
      expect(entry.match(/^\d\. \S/gm), alert).toHaveLength(3);
    }
    const headings = [...runbook.matchAll(/^### (\w+)$/gm)].map((m) => m[1]);
    expect(headings.sort()).toEqual(rules.map((r) => r.alert).sort());
  });

  it('every alert has test cases that fire it and cases where it must stay quiet', () => {
    for (const { alert } of rules) {
      const checks = tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.alertname === alert);
      expect(
        checks.some((c) => c.exp_alerts.length > 0),
        `${alert}: no case fires it`,
      ).toBe(true);
      expect(
        checks.some((c) => c.exp_alerts.length === 0),
        `${alert}: no case where it stays quiet`,
      ).toBe(true);
    }
  });

  it('rules and their test series read only metrics we export (MetricNames, SdkMetricNames)', () => {
    expect(metricsOf('sum by (le) (rate(a_seconds_bucket{x="rate("}[5m])) / max(b) > 0.2 and c offset 30m')).toEqual([
      'a_seconds_bucket',
      'b',
      'c',
    ]);
    for (const r of rules) {
      const used = metricsOf(r.expr);
      expect(used.length, r.alert).toBeGreaterThan(0);
      expect(
        used.filter((m) => !isExported(m)),
        `${r.alert} reads metrics nobody exports`,
      ).toEqual([]);
    }
    const inputs = tests.flatMap((t) => t.input_series.map((s) => s.series.split('{')[0]!));
    expect(inputs.filter((m) => !isExported(m))).toEqual([]);
  });
});
