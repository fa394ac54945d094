import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { tsEntryCommand } from '../../../infra/dev/ts-entry';
import { useGoTool } from '../../helpers/go-tool';
import { apiListenProblems, CONFIG_KEYS, ConfigError, loadConfig } from '../../../infra/config';
import { TEMPORAL_DYNAMIC_CONFIG } from '../../../infra/temporal-dynamic-config';
import { SEARCH_ATTRIBUTE_NAMES } from '../../../shared/constants';
import { laneQueues, workflowQueuesOf } from '../../../shared/lanes';

// deploy/k8s, checked offline since no cluster runs here: kubeconform (built by `make tools` from the
// pinned module in infra/tools/kubeconform) validates every object with -strict against the schemas
// vendored in infra/schemas/k8s (Kubernetes 1.34 and KEDA's ScaledObject, additional properties
// refused), and a broken manifest does fail. Then what a schema cannot see: resources on every
// container, probes on our real health routes, no secret in any committed manifest, every setting
// named as infra/config.ts names it, grace periods longer than the processes' own shutdown bounds,
// KEDA's triggers on exactly the task queues shared/lanes.ts makes, and the Temporal dynamic config
// equal to the one the dev stack runs with.

const DIR = path.join(REPO_ROOT, 'deploy/k8s');
const SCHEMAS = path.join(REPO_ROOT, 'infra/schemas/k8s');
const SCHEMA_LOCATION = `${SCHEMAS}/{{ .ResourceKind }}{{ .KindSuffix }}.json`;
const SECRET_TEMPLATE = 'secret.example.yaml';

/** A manifest read as loose YAML (kubeconform checks its shape; the checks below read fields). */
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<
  string,
  any
>;
interface Kustomization {
  resources: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

const readKustomization = (dir: string) => parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
const docsOf = (file: string): Obj[] =>
  parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as Obj;
  });

const app = readKustomization(DIR);
const temporal = readKustomization(path.join(DIR, 'temporal'));
/** What `kubectl apply -k deploy/k8s` applies (the tiny loader: resources, nothing else). */
const objects = app.resources.flatMap((f) => docsOf(path.join(DIR, f)));
const secretTemplate = docsOf(path.join(DIR, SECRET_TEMPLATE));
/** Every file kubeconform reads: both kustomizations' resources and the Secret template. */
const validatedFiles = [
  ...app.resources.map((f) => path.join(DIR, f)),
  ...temporal.resources.map((f) => path.join(DIR, 'temporal', f)),
  path.join(DIR, SECRET_TEMPLATE),
];

const one = (kind: string, name: string) => {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  expect(found, `${kind}/${name}`).toHaveLength(1);
  return found[0]!;
};
const configMap = one('ConfigMap', 'sync-orchestrator-config').data as Record<string, string>;
const api = one('Deployment', 'api');
const worker = one('Deployment', 'worker');
const deployments = objects.filter((o) => o.kind === 'Deployment');
const podSpecs = objects.flatMap((o) => (o.kind === 'Deployment' || o.kind === 'Job' ? [{ owner: o, spec: o.spec.template.spec }] : []));
const containerOf = (d: Obj) => d.spec.template.spec.containers[0];
const ms = (key: string) => Number(configMap[key]);

function kubeconform(bin: string, files: string[]) {
  const r = spawnSync(bin, ['-strict', '-summary', '-output', 'json', '-schema-location', SCHEMA_LOCATION, ...files], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const out = JSON.parse(r.stdout) as {
    resources: { filename: string; kind: string; name: string; status: string; msg: string }[];
    summary: { valid: number; invalid: number; errors: number; skipped: number };
  };
  return { status: r.status, ...out, text: `${r.stdout}\n${r.stderr}` };
}

describe('Kubernetes manifests (kubeconform, offline)', () => {
  const tool = useGoTool('kubeconform');

  it('each kustomization lists every manifest of its folder, and only resources and images', () => {
    for (const [dir, k] of [
      [DIR, app],
      [path.join(DIR, 'temporal'), temporal],
    ] as const) {
      expect(Object.keys(k).sort(), dir).toEqual(expect.arrayContaining(['apiVersion', 'kind', 'resources']));
      // The loader above knows resources and images; a transformer would make it lie.
      expect(Object.keys(k).filter((f) => !['apiVersion', 'kind', 'resources', 'images'].includes(f))).toEqual([]);
      const manifests = readdirSync(dir).filter(
        (f) => f.endsWith('.yaml') && !['kustomization.yaml', SECRET_TEMPLATE, 'helm-values.yaml'].includes(f),
      );
      expect([...k.resources].sort()).toEqual(manifests.sort());
    }
    expect(app.resources).not.toContain(SECRET_TEMPLATE);
  });

  it('kubeconform -strict: every object is valid against the vendored schemas, none skipped', () => {
    const r = kubeconform(tool.bin, validatedFiles);
    const count = validatedFiles.flatMap(docsOf).length;
    expect(r.status, r.text).toBe(0);
    expect(r.summary, r.text).toEqual({ valid: count, invalid: 0, errors: 0, skipped: 0 });
  });

  it('kubeconform fails a broken manifest (unknown field, bad quantity, misspelled KEDA key, unknown kind)', () => {
    const breakages: [string, string, string, string][] = [
      ['api-deployment.yaml', 'livenessProbe:', 'livenesProbe:', "additional properties 'livenesProbe' not allowed"],
      ['api-deployment.yaml', 'memory: 512Mi', 'memory: 512MB', 'does not match pattern'],
      ['worker-scaledobject.yaml', 'taskQueue: sync-orchestrator--bulk', 'taskqueue: sync-orchestrator--bulk', "'taskqueue' not allowed"],
      ['worker-scaledobject.yaml', 'minReplicaCount: 2', "minReplicaCount: '2'", 'want integer'],
      ['api-pdb.yaml', 'kind: PodDisruptionBudget', 'kind: PodDisruptionBudgt', 'could not find schema'],
    ];
    for (const [i, [file, from, to, message]] of breakages.entries()) {
      const source = readFileSync(path.join(DIR, file), 'utf8');
      expect(source, `${file} contains ${from}`).toContain(from);
      const broken = path.join(tool.scratch, `${i}-${file}`);
      writeFileSync(broken, source.replace(from, to));
      const r = kubeconform(tool.bin, [broken]);
      expect(r.status, `${file}: ${to}`).toBe(1);
      expect(r.summary.invalid + r.summary.errors, r.text).toBe(1);
      expect(r.resources[0]!.msg, r.text).toContain(message);
    }
  });

  it('every container has cpu and memory requests and limits', () => {
    for (const { owner, spec } of podSpecs) {
      for (const c of spec.containers) {
        for (const kind of ['requests', 'limits']) {
          expect(Object.keys(c.resources?.[kind] ?? {}).sort(), `${owner.metadata.name}/${c.name} ${kind}`).toEqual(['cpu', 'memory']);
        }
      }
    }
  });

  it('probes use our real health routes and ports', () => {
    const routes = readFileSync(path.join(REPO_ROOT, 'api/routes/health.ts'), 'utf8');
    const served = [...routes.matchAll(/app\.get\(\s*'([^']+)'/g)].map((m) => m[1]);
    const documented = Object.keys(
      (JSON.parse(readFileSync(path.join(REPO_ROOT, 'openapi/openapi.json'), 'utf8')) as { paths: object }).paths,
    );
    const a = containerOf(api);
    expect(a.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(a.livenessProbe.httpGet.path).toBe('/health');
    expect(a.startupProbe.httpGet.path).toBe('/health');
    for (const p of ['/health', '/health/ready']) {
      expect(served).toContain(p);
      expect(documented).toContain(p);
    }
    const port = (c: { ports: { name: string; containerPort: number }[] }, name: string) =>
      c.ports.find((p) => p.name === name)?.containerPort;
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) expect(port(a, a[probe].httpGet.port)).toBe(ms('PORT'));
    // The readiness answer waits up to READY_TIMEOUT_MS for its slowest dependency.
    expect(a.readinessProbe.timeoutSeconds * 1000).toBeGreaterThan(ms('READY_TIMEOUT_MS'));

    const telemetry = readFileSync(path.join(REPO_ROOT, 'infra/telemetry.ts'), 'utf8');
    expect(telemetry).toContain("!== '/metrics'");
    const w = containerOf(worker);
    expect(w.readinessProbe).toBeUndefined(); // no Service traffic
    for (const probe of ['livenessProbe', 'startupProbe']) {
      expect(w[probe].httpGet.path).toBe('/metrics');
      expect(port(w, w[probe].httpGet.port)).toBe(ms('WORKER_METRICS_PORT'));
    }
    expect(configMap.WORKER_METRICS_HOST).toBe('0.0.0.0');
    expect(configMap.HOST).toBe('0.0.0.0');

    const svc = one('Service', 'api');
    expect(svc.spec.selector).toEqual(api.spec.template.metadata.labels);
    expect(port(a, svc.spec.ports[0].targetPort)).toBe(ms('PORT'));
  });

  it('the app runs the image of the Dockerfile with its two commands', () => {
    const image = app.images?.[0]?.name;
    expect(image).toBe('sync-orchestrator');
    expect(containerOf(api).image).toBe(image);
    expect(containerOf(worker).image).toBe(image);
    expect(containerOf(api).command).toEqual(tsEntryCommand('api/server.ts'));
    expect(containerOf(worker).command).toEqual(tsEntryCommand('workers/worker.ts'));
    for (const c of [containerOf(api), containerOf(worker)]) expect(existsSync(path.join(REPO_ROOT, c.command.at(-1)!))).toBe(true);
    const dockerfile = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain('USER node'); // uid 1000 in the node images: runAsUser below
  });

  it('commits no secret: the Secret is a template of invalid placeholders, kept out of the kustomization', () => {
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(secretTemplate).toHaveLength(1);
    const secret = secretTemplate[0]!;
    const values = secret.stringData as Record<string, string>;
    expect(secret.data).toBeUndefined();
    expect(Object.keys(values).sort()).toEqual(['AUTH_JWT_SECRET', 'MONGODB_URI', 'SECRETS_KEY']);
    for (const v of Object.values(values)) expect(v).toBe('REPLACE-ME');
    // Applied as it is, the pods refuse to start: each placeholder fails the config schema.
    const problems = (() => {
      try {
        loadConfig({ ...configMap, ...values });
        return [];
      } catch (err) {
        return err instanceof ConfigError ? err.problems : [String(err)];
      }
    })();
    for (const key of Object.keys(values))
      expect(
        problems.some((p) => p.startsWith(`${key}:`)),
        problems.join('\n'),
      ).toBe(true);

    const secretish = /SECRET|PASSWORD|TOKEN|_KEY$|MONGODB_URI/;
    expect(Object.keys(configMap).filter((k) => secretish.test(k))).toEqual([]);
    for (const { owner, spec } of podSpecs) {
      for (const c of spec.containers) {
        for (const e of c.env ?? [])
          expect(secretish.test(e.name) && e.value !== undefined, `${owner.metadata.name}: ${e.name}`).toBe(false);
      }
    }
    // Nothing that looks like a credential anywhere in what is applied.
    const strings: string[] = [];
    JSON.stringify(objects, (_k, v: unknown) => (typeof v === 'string' ? (strings.push(v), v) : v));
    for (const s of strings) {
      expect(s, 'user:password@ in a URI').not.toMatch(/:\/\/[^/\s@:]+:[^/\s@]+@/);
      expect(s, 'a hex or base64 key').not.toMatch(/\b[0-9a-f]{32,}\b|[A-Za-z0-9+/]{40,}={0,2}/);
    }
  });

  it('every setting is named as infra/config.ts names it, and the ConfigMap is a valid configuration', () => {
    const known = new Set<string>(CONFIG_KEYS);
    const names = [
      ...Object.keys(configMap),
      ...Object.keys(secretTemplate[0]!.stringData as object),
      ...podSpecs.flatMap(({ spec }) => spec.containers.flatMap((c: { env?: { name: string }[] }) => (c.env ?? []).map((e) => e.name))),
    ];
    expect(names.filter((n) => !known.has(n))).toEqual([]);
    for (const d of deployments) {
      expect(containerOf(d).envFrom).toEqual([
        { configMapRef: { name: 'sync-orchestrator-config' } },
        { secretRef: { name: secretTemplate[0]!.metadata.name } },
      ]);
    }
    for (const { spec } of podSpecs) {
      for (const e of spec.containers.flatMap((c: { env?: object[] }) => c.env ?? []) as {
        valueFrom?: { configMapKeyRef?: { key: string } };
      }[]) {
        if (e.valueFrom?.configMapKeyRef) expect(Object.keys(configMap)).toContain(e.valueFrom.configMapKeyRef.key);
      }
    }
    // With real secrets in place, the settings load, in production, and the API may listen beyond loopback.
    const config = loadConfig({
      ...configMap,
      AUTH_JWT_SECRET: randomBytes(32).toString('hex'),
      SECRETS_KEY: `k1:${randomBytes(32).toString('base64')}`,
      MONGODB_URI: 'mongodb://user:pw@db-0:27017,db-1:27017,db-2:27017/?replicaSet=rs0',
    });
    expect(config.NODE_ENV).toBe('production');
    expect(apiListenProblems(config)).toEqual([]);
  });

  it('pods are given longer to stop than the processes take, and the API drains first', () => {
    const drain = ms('SHUTDOWN_DRAIN_DELAY_MS');
    expect(drain).toBeGreaterThan(0);
    expect(drain).toBeLessThan(ms('SHUTDOWN_TIMEOUT_MS'));
    expect(api.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(ms('SHUTDOWN_TIMEOUT_MS') + drain);
    // The worker's own bound (workers/worker.ts): SHUTDOWN_TIMEOUT_MS plus a margin.
    const margin = /onShutdownSignal\(log, config\.SHUTDOWN_TIMEOUT_MS \+ ([\d_]+),/.exec(
      readFileSync(path.join(REPO_ROOT, 'workers/worker.ts'), 'utf8'),
    )?.[1];
    expect(margin, 'workers/worker.ts bounds its shutdown by SHUTDOWN_TIMEOUT_MS + <ms>').toBeDefined();
    expect(worker.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      ms('SHUTDOWN_TIMEOUT_MS') + Number(margin!.replace(/_/g, '')),
    );
    // The drain delay replaces a preStop sleep; both would wait twice.
    for (const d of deployments) expect(containerOf(d).lifecycle).toBeUndefined();
  });

  it('pods run non-root, without privileges, on a read-only root filesystem, in a restricted namespace', () => {
    const ns = one('Namespace', 'sync-orchestrator');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const o of objects.filter((x) => x.kind !== 'Namespace')) expect(o.metadata.namespace, o.kind).toBe(ns.metadata.name);
    for (const { owner, spec } of podSpecs) {
      expect(spec.securityContext, owner.metadata.name).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 1000,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(spec.automountServiceAccountToken).toBe(false);
      for (const c of spec.containers) {
        expect(c.securityContext, c.name).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        // The one writable place: an emptyDir at /tmp (tsx's cache).
        expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
      }
      expect(spec.volumes.map((v: { name: string; emptyDir?: object }) => [v.name, v.emptyDir !== undefined])).toEqual([['tmp', true]]);
    }
  });

  it('both Deployments have a disruption budget and an autoscaler, which owns their replica count', () => {
    const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v);
    for (const d of deployments) {
      const labels = d.spec.template.metadata.labels as Record<string, string>;
      expect(d.spec.selector.matchLabels).toEqual(labels);
      const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget' && matches(o.spec.selector.matchLabels, labels));
      expect(
        pdbs.map((p) => p.metadata.name),
        d.metadata.name,
      ).toEqual([d.metadata.name]);
      const scalers = objects.filter(
        (o) => (o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject') && o.spec.scaleTargetRef.name === d.metadata.name,
      );
      expect(scalers, d.metadata.name).toHaveLength(1);
      expect(d.spec.replicas, `${d.metadata.name}: replicas belong to the autoscaler`).toBeUndefined();
    }
    const hpa = one('HorizontalPodAutoscaler', 'api');
    expect(hpa.spec.metrics).toEqual([
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
    ]);
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
  });

  it('KEDA scales the worker on the backlog of exactly the task queues it polls (shared/lanes.ts)', () => {
    const so = one('ScaledObject', 'worker');
    expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'worker' });
    expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(2);
    const triggers = so.spec.triggers as { type: string; name: string; metadata: Record<string, string> }[];
    const base = configMap.TEMPORAL_TASK_QUEUE!;
    const queues = configMap.TEMPORAL_LANES === 'true' ? laneQueues(base) : { main: base };
    expect(Object.fromEntries(triggers.map((t) => [t.name, t.metadata.taskQueue]))).toEqual(queues);
    for (const t of triggers) {
      expect(t.type).toBe('temporal');
      expect(t.metadata.endpoint).toBe(configMap.TEMPORAL_ADDRESS);
      expect(t.metadata.namespace).toBe(configMap.TEMPORAL_NAMESPACE);
      expect(Number(t.metadata.targetQueueSize)).toBeGreaterThanOrEqual(1);
      // A queue no workflow runs on has activity tasks only.
      if (!workflowQueuesOf(base).includes(t.metadata.taskQueue!)) expect(t.metadata.queueTypes).toBe('activity');
    }
  });

  it('the Temporal dynamic config (ConfigMap and Helm values) is the one the dev stack and compose use', () => {
    const asFile = Object.fromEntries(Object.entries(TEMPORAL_DYNAMIC_CONFIG).map(([k, v]) => [k, [{ value: v }]]));
    const cm = docsOf(path.join(DIR, 'temporal/dynamic-config.yaml'))[0]!;
    expect(parse(cm.data['dynamicconfig.yaml'] as string)).toEqual(asFile);
    const helm = parse(readFileSync(path.join(DIR, 'temporal/helm-values.yaml'), 'utf8')) as { server: { dynamicConfig: unknown } };
    expect(helm.server.dynamicConfig).toEqual(asFile);
    expect(parse(readFileSync(path.join(REPO_ROOT, 'infra/temporal/dynamicconfig.yaml'), 'utf8'))).toEqual(asFile);
  });

  it('the setup Job registers exactly our search attributes', () => {
    const job = one('Job', 'temporal-search-attributes');
    const script = (containerOf(job).args as string[]).join('\n');
    const lists = [...script.matchAll(/for sa in ([^;]+); do/g)].map((m) => m[1]!.trim().split(/\s+/));
    expect(lists.length).toBeGreaterThanOrEqual(2);
    for (const l of lists) expect(l.sort()).toEqual([...SEARCH_ATTRIBUTE_NAMES].sort());
    expect(script).toContain('--type Keyword');
  });

  it('one strict schema per kind in use, its sources named (infra/dev/k8s-schemas.ts writes them)', () => {
    const files = readdirSync(SCHEMAS).filter((f) => f.endsWith('.json'));
    const kinds = new Set(validatedFiles.flatMap(docsOf).map((o) => `${o.kind}-${o.apiVersion}`));
    expect(files.length).toBe(kinds.size);
    for (const f of files) {
      const s = JSON.parse(readFileSync(path.join(SCHEMAS, f), 'utf8')) as { additionalProperties?: boolean; $schema?: string };
      expect(s.additionalProperties, f).toBe(false);
      expect(s.$schema, f).toBe('http://json-schema.org/draft-07/schema#');
    }
    expect(readFileSync(path.join(SCHEMAS, 'README.md'), 'utf8')).toMatch(
      /k8s\.io\/kubernetes@v1\.34\.\d+.*\n.*kedacore\/keda\/v2@v2\.\d+\.\d+/,
    );
  });
});
