import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientMetrics } from '../../../activities/client-upsert/metrics';
import * as platformMetrics from '../../../infra/metrics';
import { MetricNames, SdkMetricNames } from '../../../infra/metrics';
import { CONFIG_KEYS } from '../../../infra/config';
import { startTelemetry, type Telemetry } from '../../../infra/telemetry';

// docker-compose.yml and the Grafana provisioning it mounts, checked without a Docker engine:
// the compose file against the Compose Specification's JSON Schema (vendored in infra/schemas/),
// its mounts, ports, images and secrets; the dashboard JSON against what our processes export
// (a metric rename or a dashboard typo fails here, not silently on an operator's screen).

// --- reading the files -------------------------------------------------------------------------

const REPO = resolve(import.meta.dirname, '../../..');

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  env_file?: unknown;
  volumes?: Array<string | { type: string; source?: string; target: string; read_only?: boolean }>;
  ports?: Array<string | number | { target: number; published?: string | number; host_ip?: string }>;
  expose?: Array<string | number>;
  depends_on?: unknown;
  healthcheck?: { test?: string | string[] };
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  'x-app-env'?: Record<string, string>;
  [extension: `x-${string}`]: unknown;
}

/** docker-compose.yml as compose sees it before interpolation (YAML merge keys `<<` applied). */
function readCompose(): Compose {
  return parse(readFileSync(resolve(REPO, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
}

interface Mount {
  type: string;
  source: string;
  target: string;
  readOnly: boolean;
}
/** A service's volumes in one shape: short syntax `src:dst[:ro]` (a path source is a bind) or long syntax. */
function serviceMounts(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { type: v.type, source: v.source ?? '', target: v.target, readOnly: v.read_only === true };
    const [source = '', target = '', mode = ''] = v.split(':');
    const bind = source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
    return { type: bind ? 'bind' : 'volume', source, target, readOnly: mode.split(',').includes('ro') };
  });
}

/** Published ports with the host address they bind (undefined = every interface). */
function publishedPorts(s: Service): Array<{ raw: string; hostIp: string | undefined }> {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'object') return { raw: JSON.stringify(p), hostIp: p.host_ip };
    const parts = String(p).split(':');
    // ip:host:container, or host:container / container (all interfaces)
    return { raw: String(p), hostIp: parts.length === 3 ? parts[0] : undefined };
  });
}

/** Every service's image reference, split; `built` = the service builds it itself. */
function composeImages(c: Compose) {
  return Object.entries(c.services)
    .filter(([, s]) => s.image !== undefined)
    .map(([service, s]) => {
      const ref = s.image!;
      const [nameTag = '', digest] = ref.split('@');
      const slash = nameTag.lastIndexOf('/');
      const colon = nameTag.indexOf(':', slash + 1);
      return { service, ref, tag: colon < 0 ? undefined : nameTag.slice(colon + 1), digest, built: s.build !== undefined };
    });
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ refId: string; expr?: string; datasource?: { type?: string; uid?: string } }>;
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
}
/** Every panel, those inside collapsed rows included. */
function dashboardPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

const PROMQL_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);
/**
 * The metric names a PromQL expression selects: identifiers left once strings, label matchers,
 * ranges and grouping clauses are gone, minus functions (followed by `(`), keywords and numbers.
 */
function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = [...bare.matchAll(/(?<![\w.$:])[a-zA-Z_:][a-zA-Z0-9_:]*(?![\w:])(?!\s*\()/g)]
    .map((m) => m[0])
    .filter((n) => !PROMQL_KEYWORDS.has(n));
  return [...new Set(names)];
}

// --- the checks --------------------------------------------------------------------------------

const compose = readCompose();
const services = compose.services;
const readJson = <T>(path: string) => JSON.parse(readFileSync(resolve(REPO, path), 'utf8')) as T;
const readYaml = <T>(path: string) => parse(readFileSync(resolve(REPO, path), 'utf8')) as T;

describe('docker-compose.yml', () => {
  const schemaText = readFileSync(resolve(REPO, 'infra/schemas/compose-spec.json'));
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false });
  const validate = ajv.compile(JSON.parse(schemaText.toString('utf8')) as object);

  it('is checked against the vendored schema the README of infra/schemas/ names (sha256)', () => {
    const readme = readFileSync(resolve(REPO, 'infra/schemas/README.md'), 'utf8');
    const sha = createHash('sha256').update(schemaText).digest('hex');
    expect(readme).toContain(sha);
  });

  it('is valid against the Compose Specification schema', () => {
    expect(validate(compose), ajv.errorsText(validate.errors, { separator: '\n' })).toBe(true);
  });

  it('is refused by that schema once a service key is misspelt or a port has an unknown key (the check bites)', () => {
    const misspelt = structuredClone(compose) as Compose & { services: Record<string, Record<string, unknown>> };
    misspelt.services.grafana!.enviroment = { A: 'b' };
    expect(validate(misspelt)).toBe(false);
    const badPort = structuredClone(compose) as Compose & { services: Record<string, Record<string, unknown>> };
    badPort.services.prometheus!.ports = [{ target: 9090, hostip: '0.0.0.0' }] as unknown as Service['ports'];
    expect(validate(badPort)).toBe(false);
  });

  it('mounts host paths that exist, infra/ files read-only', () => {
    const mounts = Object.entries(services).flatMap(([name, s]) => serviceMounts(s).map((m) => ({ service: name, ...m })));
    const binds = mounts.filter((m) => m.type === 'bind');
    expect(binds.length).toBeGreaterThanOrEqual(4);
    const missing = binds.filter((m) => !existsSync(resolve(REPO, m.source))).map((m) => `${m.service}: ${m.source}`);
    expect(missing, 'host paths mounted but absent').toEqual([]);
    const writable = binds.filter((m) => m.source.startsWith('./infra/') && !m.readOnly).map((m) => `${m.service}: ${m.source}`);
    expect(writable, 'config mounts must be :ro').toEqual([]);
    // Named volumes are declared at the top level.
    const volumes = mounts.filter((m) => m.type === 'volume').map((m) => m.source);
    expect(volumes.filter((v) => !(v in (compose.volumes ?? {})))).toEqual([]);
    // Build contexts and Dockerfiles too.
    for (const s of Object.values(services)) {
      if (!s.build) continue;
      const ctx = typeof s.build === 'string' ? s.build : (s.build.context ?? '.');
      expect(statSync(resolve(REPO, ctx)).isDirectory()).toBe(true);
      if (typeof s.build !== 'string' && s.build.dockerfile) expect(existsSync(resolve(REPO, ctx, s.build.dockerfile))).toBe(true);
    }
  });

  it('publishes ports on 127.0.0.1 only', () => {
    const ports = Object.entries(services).flatMap(([name, s]) => publishedPorts(s).map((p) => ({ service: name, ...p })));
    expect(ports.map((p) => p.service)).toEqual(expect.arrayContaining(['api', 'prometheus', 'grafana']));
    expect(ports.filter((p) => p.hostIp !== '127.0.0.1').map((p) => `${p.service}: ${p.raw}`)).toEqual([]);
  });

  it('pins every image to a version (no :latest, no bare name), except the locally built one', () => {
    const images = composeImages(compose);
    expect(images.length).toBeGreaterThanOrEqual(8);
    const unpinned = images.filter((i) => !i.built && !/^v?\d/.test(i.tag ?? '') && !i.digest).map((i) => `${i.service}: ${i.ref}`);
    expect(unpinned).toEqual([]);
    expect(images.filter((i) => i.tag === 'latest').map((i) => i.service)).toEqual([]);
  });

  it('commits no secret: every password, secret or key comes from a required variable with no default', () => {
    const secretKey = /(PASSWORD|PASSWD|PWD|SECRET|TOKEN|_KEY)$/;
    const required = /^\$\{[A-Z][A-Z0-9_]*:\?[^}]*\}$/;
    const envs = [
      ...Object.entries(services).map(([name, s]) => [name, s.environment ?? {}] as const),
      ...Object.entries(compose)
        .filter(([k]) => k.startsWith('x-'))
        .map(([k, v]) => [k, v as Record<string, unknown>] as const),
    ];
    const checked: string[] = [];
    const bad: string[] = [];
    for (const [where, env] of envs) {
      const entries = Array.isArray(env) ? env.map((e: string) => e.split(/=(.*)/s).slice(0, 2)) : Object.entries(env);
      for (const [k, v] of entries) {
        if (!secretKey.test(String(k))) continue;
        checked.push(`${where}.${k}`);
        if (!required.test(String(v))) bad.push(`${where}.${k}=${String(v)}`);
      }
    }
    expect(checked).toEqual(
      expect.arrayContaining(['x-app-env.AUTH_JWT_SECRET', 'x-app-env.SECRETS_KEY', 'grafana.GF_SECURITY_ADMIN_PASSWORD']),
    );
    expect(bad).toEqual([]);
    const text = readFileSync(resolve(REPO, 'docker-compose.yml'), 'utf8');
    // No credentials inside a URI, and nothing that looks like a generated key (long hex or base64).
    expect(text.match(/[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^@\s/$]+@/gi)).toBeNull();
    const randomLooking = (text.match(/[A-Za-z0-9+/=_-]{32,}/g) ?? []).filter((w) => /\d/.test(w) && /[a-z]/.test(w) && /[A-Z]/.test(w));
    expect(randomLooking).toEqual([]);
    expect(text.match(/\b[0-9a-f]{32,}\b/g)).toBeNull();
  });

  it('documents every variable it interpolates: an app setting, or named in its header comment', () => {
    const text = readFileSync(resolve(REPO, 'docker-compose.yml'), 'utf8');
    const header = text.slice(0, text.search(/^name:/m));
    const vars = [...new Set([...text.matchAll(/(?<!\$)\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!))];
    expect(vars).toEqual(expect.arrayContaining(['GRAFANA_ADMIN_PASSWORD', 'TEMPORAL_DB_PASSWORD', 'PROMETHEUS_RETENTION']));
    const keys = new Set<string>(CONFIG_KEYS);
    expect(vars.filter((v) => !keys.has(v) && !new RegExp(`\\b${v}\\b`).test(header))).toEqual([]);
  });

  it('runs Prometheus on the repo scrape config and alert rules, with retention and a healthcheck', () => {
    const p = services.prometheus!;
    const mounts = serviceMounts(p);
    expect(mounts).toEqual(
      expect.arrayContaining([
        { type: 'bind', source: './infra/prometheus/prometheus.yml', target: '/etc/prometheus/prometheus.yml', readOnly: true },
        { type: 'bind', source: './infra/prometheus/alerts.yml', target: '/etc/prometheus/alerts.yml', readOnly: true },
      ]),
    );
    // The release promtool tests the rules with (infra/tools/promtool: Go module v0.3MM.P = Prometheus v3.MM.P).
    const gomod = readFileSync(resolve(REPO, 'infra/tools/promtool/go.mod'), 'utf8');
    const [, minor, patch] = /github\.com\/prometheus\/prometheus v0\.3(\d\d)\.(\d+)/.exec(gomod) ?? [];
    expect(minor, 'infra/tools/promtool/go.mod pins no Prometheus module').toBeDefined();
    expect(p.image).toBe(`prom/prometheus:v3.${Number(minor)}.${patch}`);
    const flags = p.command as string[];
    expect(flags).toContain('--config.file=/etc/prometheus/prometheus.yml');
    expect(flags.some((f) => f.startsWith('--storage.tsdb.retention.time='))).toBe(true);
    expect(mounts.find((m) => m.target === '/prometheus')?.type).toBe('volume');
    expect(JSON.stringify(p.healthcheck?.test)).toContain('/-/ready');
  });

  it('lets Prometheus scrape the API and the worker on the compose network', () => {
    const env = (name: string) => ({ ...compose['x-app-env'], ...(services[name]!.environment as Record<string, string>) });
    // Both listen beyond loopback inside their containers; the worker's port stays unpublished.
    expect(env('api').HOST).toBe('0.0.0.0');
    expect(env('worker').WORKER_METRICS_HOST).toBe('0.0.0.0');
    expect(services.worker!.expose).toContain(String(env('worker').WORKER_METRICS_PORT));
    expect(publishedPorts(services.worker!)).toEqual([]);
    // The scrape config (infra/prometheus/prometheus.yml) targets those ports and paths, and loads the mounted rules.
    const prom = readYaml<{
      rule_files?: string[];
      scrape_configs: Array<{ job_name: string; metrics_path?: string; static_configs?: Array<{ targets: string[] }> }>;
    }>('infra/prometheus/prometheus.yml');
    const targets = prom.scrape_configs.flatMap((j) =>
      (j.static_configs ?? []).flatMap((c) => c.targets.map((t) => `${t}${j.metrics_path ?? '/metrics'}`)),
    );
    expect(targets).toEqual(
      expect.arrayContaining([`api:${env('api').PORT}/health/metrics`, `worker:${env('worker').WORKER_METRICS_PORT}/metrics`]),
    );
    const ruleMounts = serviceMounts(services.prometheus!).map((m) => m.target);
    const rules = (prom.rule_files ?? []).map((f) => (isAbsolute(f) ? f : `/etc/prometheus/${f}`));
    expect(rules.length).toBeGreaterThan(0);
    expect(rules.filter((r) => !ruleMounts.includes(r))).toEqual([]);
  });

  it('runs Grafana with a required admin password, no anonymous access or sign-up, provisioning read-only', () => {
    const g = services.grafana!;
    const env = g.environment as Record<string, string>;
    expect(env.GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:\?/);
    expect(env.GF_AUTH_ANONYMOUS_ENABLED).toBe('false');
    expect(env.GF_USERS_ALLOW_SIGN_UP).toBe('false');
    expect(serviceMounts(g)).toContainEqual({
      type: 'bind',
      source: './infra/grafana/provisioning',
      target: '/etc/grafana/provisioning',
      readOnly: true,
    });
    expect(g.image).toMatch(/^grafana\/grafana(-oss)?:\d+\.\d+\.\d+$/);
    expect(g.depends_on).toMatchObject({ prometheus: { condition: 'service_healthy' } });
  });
});

describe('Grafana provisioning', () => {
  const grafanaPath = (inContainer: string) => {
    expect(inContainer.startsWith('/etc/grafana/provisioning/'), inContainer).toBe(true);
    return resolve(REPO, 'infra/grafana/provisioning', inContainer.slice('/etc/grafana/provisioning/'.length));
  };
  const datasources = readYaml<{ datasources: Array<{ uid: string; type: string; url: string; isDefault?: boolean }> }>(
    'infra/grafana/provisioning/datasources/prometheus.yml',
  ).datasources;
  const providers = readYaml<{ providers: Array<{ type: string; options: { path: string } }> }>(
    'infra/grafana/provisioning/dashboards/provider.yml',
  ).providers;

  it('provisions one default Prometheus datasource pointing at the compose service', () => {
    expect(datasources).toHaveLength(1);
    const ds = datasources[0]!;
    expect(ds).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
    expect(services.prometheus).toBeDefined();
  });

  it('loads dashboards from the folder holding sync-orchestrator.json, which is also the home dashboard', () => {
    expect(providers).toHaveLength(1);
    expect(providers[0]!.type).toBe('file');
    expect(existsSync(resolve(grafanaPath(`${providers[0]!.options.path}/`), 'sync-orchestrator.json'))).toBe(true);
    const home = (services.grafana!.environment as Record<string, string>).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!;
    expect(existsSync(grafanaPath(home))).toBe(true);
  });

  describe('dashboard sync-orchestrator.json', () => {
    const dashboard = readJson<Dashboard>('infra/grafana/provisioning/dashboards/sync-orchestrator.json');
    const panels = dashboardPanels(dashboard);
    const queried = panels.filter((p) => p.type !== 'row');
    const exprs = queried.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? '' })));
    let exported: Set<string>;
    let telemetry: Telemetry | undefined;

    // What our processes export, read from a real exposition: every platform instrument is made
    // through its factory and recorded once, and the OpenTelemetry Prometheus exporter names them
    // (with its suffixes) exactly as /health/metrics and /metrics do.
    beforeAll(async () => {
      telemetry = await startTelemetry({ serviceName: 'compose-test' });
      const factories = Object.entries(platformMetrics).filter(([k, v]) => k.startsWith('create') && typeof v === 'function');
      const groups = [...factories.map(([, f]) => (f as () => Record<string, unknown>)()), createClientMetrics()];
      type Instrument = {
        add?: (n: number) => void;
        record?: (n: number) => void;
        addCallback?: (cb: (r: { observe(n: number): void }) => void) => void;
      };
      for (const group of groups)
        for (const inst of Object.values(group) as Instrument[]) {
          if (typeof inst.record === 'function') inst.record(1);
          else if (typeof inst.add === 'function') inst.add(1);
          else inst.addCallback?.((r) => r.observe(1));
        }
      await new Promise((r) => setTimeout(r, 100)); // one event-loop lag sample
      const text = await telemetry.metricsText();
      exported = new Set([...text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )/gm)].map((m) => m[1]!));
      // The SDK's names as workers/telemetry.ts configures its exporter; histograms as their series.
      for (const name of Object.values(SdkMetricNames))
        for (const series of name.endsWith('_seconds') ? ['_bucket', '_sum', '_count'].map((x) => name + x) : [name]) exported.add(series);
    });
    afterAll(() => telemetry?.shutdown());

    it('sees every MetricNames entry in the exposition it derives the allowed names from', () => {
      const missing = Object.values(MetricNames).filter((n) => !exported.has(n) && !exported.has(`${n}_bucket`));
      expect(missing, 'a factory of infra/metrics.ts was not recorded').toEqual([]);
    });

    it('has a uid, a title, unique panel ids and panels inside the 24-column grid, not overlapping', () => {
      expect(dashboard.uid).toBe('sync-orchestrator');
      expect(dashboard.title).toBeTruthy();
      const ids = panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      const boxes = panels.map((p) => ({ title: p.title, ...p.gridPos }));
      for (const b of boxes) expect(b.x + b.w, b.title).toBeLessThanOrEqual(24);
      const overlaps = boxes.flatMap((a, i) =>
        boxes
          .slice(i + 1)
          .filter((b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h)
          .map((b) => `${a.title} × ${b.title}`),
      );
      expect(overlaps).toEqual([]);
    });

    it('queries only the provisioned datasource, in every panel and target', () => {
      const uid = datasources[0]!.uid;
      const bad = queried.flatMap((p) => [
        ...(p.datasource?.uid === uid && p.datasource.type === 'prometheus' ? [] : [`${p.title}: ${JSON.stringify(p.datasource)}`]),
        ...(p.targets ?? [])
          .filter((t) => t.datasource && t.datasource.uid !== uid)
          .map((t) => `${p.title} ${t.refId}: ${JSON.stringify(t.datasource)}`),
      ]);
      expect(bad).toEqual([]);
      expect(queried.every((p) => (p.targets ?? []).length > 0)).toBe(true);
    });

    it('references only metrics our processes export (plus Prometheus `up`)', () => {
      const unknown = exprs.flatMap(({ panel, expr }) =>
        metricNamesIn(expr)
          .filter((n) => !exported.has(n) && n !== 'up')
          .map((n) => `${panel}: ${n}`),
      );
      expect(unknown).toEqual([]);
    });

    it('catches a renamed metric (the name check bites)', () => {
      const names = metricNamesIn('histogram_quantile(0.95, sum by (le, method) (rate(sync_duration_second_bucket{method="direct"}[5m])))');
      expect(names).toEqual(['sync_duration_second_bucket']);
      expect(exported.has('sync_duration_second_bucket')).toBe(false);
    });

    it('shows what the issue asks for: logins, fallbacks, breaker, reconcile, runs, cache, lag, memory, SDK metrics', () => {
      const used = new Set(exprs.flatMap(({ expr }) => metricNamesIn(expr)));
      expect([...used]).toEqual(
        expect.arrayContaining([
          `${MetricNames.syncDuration}_bucket`,
          `${MetricNames.httpDuration}_bucket`,
          MetricNames.syncRequests,
          MetricNames.syncFallbacks,
          MetricNames.syncBreakerState,
          MetricNames.reconcileRecords,
          MetricNames.reconcileChunks,
          MetricNames.workflowFailures,
          MetricNames.cacheHits,
          MetricNames.cacheMisses,
          MetricNames.eventLoopLag,
          'process_memory_usage',
          MetricNames.syncActive,
          MetricNames.syncStuck,
          MetricNames.failedRuns,
          `${SdkMetricNames.workflowTaskScheduleToStart}_bucket`,
          SdkMetricNames.slotsAvailable,
          SdkMetricNames.pollers,
        ]),
      );
      const latency = exprs.find(({ expr }) => expr.includes(`${MetricNames.syncDuration}_bucket`))!.expr;
      expect(latency).toMatch(/histogram_quantile\(0\.\d+, sum by \((le, method|method, le)\)/);
    });
  });
});
