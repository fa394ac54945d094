import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { useGoTool } from '../../helpers/go-tool';

// Every query of the provisioned Grafana dashboard parses as PromQL: promtool (the pinned build of
// `make tools`, the same release as docker-compose's Prometheus) checks them as recording rules,
// Grafana's range macros replaced by durations as Grafana itself would.

const run = promisify(execFile);
const DASHBOARD = path.join(REPO_ROOT, 'infra/grafana/provisioning/dashboards/sync-orchestrator.json');

interface Panel {
  id: number;
  title: string;
  targets?: Array<{ refId: string; expr?: string }>;
  panels?: Panel[];
}

/** Grafana's interval macros as durations, so the query is plain PromQL. */
const withoutMacros = (expr: string) =>
  expr.replace(/\$__(rate_interval|interval|range)\b/g, (_m, name: string) => (name === 'range' ? '1h' : '1m'));

function dashboardQueries(): Array<{ record: string; expr: string; panel: string }> {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  return d.panels
    .flatMap((p) => [p, ...(p.panels ?? [])])
    .flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        record: `dashboard:panel_${p.id}:${t.refId.toLowerCase()}`,
        expr: withoutMacros(t.expr ?? ''),
        panel: p.title,
      })),
    );
}

const tool = useGoTool('promtool');

/** promtool check rules over one rules file of `rules`; its exit status and output. */
async function checkRules(rules: Array<{ record: string; expr: string }>) {
  const file = path.join(tool.scratch, `rules-${Date.now()}-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
  try {
    const { stdout, stderr } = await run(tool.bin, ['check', 'rules', '--lint=none', file]);
    return { ok: true, out: `${stdout}${stderr}` };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('Grafana dashboard queries', () => {
  it('has a PromQL query in every target', () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(30);
    expect(queries.filter((q) => q.expr.trim() === '' || q.expr.includes('$')).map((q) => q.panel)).toEqual([]);
  });

  it('parses every query (promtool check rules)', async () => {
    const queries = dashboardQueries();
    const r = await checkRules(queries.map(({ record, expr }) => ({ record, expr })));
    expect(r.out).toContain(`SUCCESS: ${queries.length} rules found`);
    expect(r.ok, r.out).toBe(true);
  });

  it('refuses a malformed query (the check bites)', async () => {
    const r = await checkRules([{ record: 'dashboard:broken', expr: 'sum by (le (rate(sync_duration_seconds_bucket[1m]))' }]);
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/parse error|unexpected/);
  });
});
