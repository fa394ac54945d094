import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { parse } from 'yaml';
import { findGo, REPO_ROOT } from './ensure-tools';

// Writes kubeconform's standalone, strict JSON schemas for the kinds deploy/k8s uses into
// infra/schemas/k8s/ (`{kind}-{group}-{version}.json`, lower-case, the file names kubeconform's
// -schema-location template asks for), from sources the Go module proxy serves:
//   - Kubernetes: the OpenAPI v3 documents in k8s.io/kubernetes@K8S_VERSION (api/openapi-spec/v3);
//   - KEDA's ScaledObject: its CRD in github.com/kedacore/keda/v2@KEDA_VERSION
//     (config/crd/bases/keda.sh_scaledobjects.yaml), with the metadata of a trigger of type
//     `temporal` narrowed to the keys KEDA's temporal scaler reads (schema/generated/scalers-schema.json).
// "Strict": every `$ref` inlined, descriptions and defaults dropped, every object that lists its
// properties closed (additionalProperties false), apiVersion and kind fixed, quantities checked
// against the Kubernetes quantity grammar.
// Run: npx tsx infra/dev/k8s-schemas.ts            (writes the files)
//      npx tsx infra/dev/k8s-schemas.ts --check    (writes nothing; exits 1 naming stale files)

export const K8S_VERSION = '1.34.4';
export const KEDA_VERSION = '2.21.0';
export const SCHEMA_DIR = path.join(REPO_ROOT, 'infra/schemas/k8s');

/** The kinds deploy/k8s uses: [apiVersion, kind, OpenAPI v3 document]. */
const K8S_KINDS: readonly (readonly [string, string, string])[] = [
  ['v1', 'Namespace', 'api__v1_openapi.json'],
  ['v1', 'ConfigMap', 'api__v1_openapi.json'],
  ['v1', 'Secret', 'api__v1_openapi.json'],
  ['v1', 'Service', 'api__v1_openapi.json'],
  ['apps/v1', 'Deployment', 'apis__apps__v1_openapi.json'],
  ['batch/v1', 'Job', 'apis__batch__v1_openapi.json'],
  ['policy/v1', 'PodDisruptionBudget', 'apis__policy__v1_openapi.json'],
  ['autoscaling/v2', 'HorizontalPodAutoscaler', 'apis__autoscaling__v2_openapi.json'],
];

/** resource.Quantity as a string: the grammar in its Go documentation (e.g. 250m, 512Mi, 1e3). */
const QUANTITY = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';
const QUANTITY_REF = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const OBJECT_META_REF = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

type Schema = { [key: string]: unknown };
const isSchema = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where `go mod download` put a module (downloads it from the proxy on first use). */
export function moduleDir(mod: string, version: string): string {
  const go = findGo();
  if (!go) throw new Error('Go is needed to fetch the schema sources from the module proxy (https://go.dev/dl)');
  const r = spawnSync(go, ['mod', 'download', '-json', `${mod}@v${version}`], { encoding: 'utf8', cwd: REPO_ROOT, timeout: 600_000 });
  const info = r.stdout ? (JSON.parse(r.stdout) as { Dir?: string; Error?: string }) : {};
  if (r.status !== 0 || !info.Dir) throw new Error(`go mod download ${mod}@v${version} failed: ${info.Error ?? r.stderr}`);
  return info.Dir;
}

/** Inlines every `$ref` (a cycle is an error: no kind we use has one) and makes the result strict. */
function strictify(node: unknown, resolve: (ref: string) => Schema, seen: readonly string[] = []): unknown {
  if (Array.isArray(node)) return node.map((n) => strictify(n, resolve, seen));
  if (!isSchema(node)) return node;
  const ref = typeof node.$ref === 'string' ? node.$ref : undefined;
  const single = Array.isArray(node.allOf) && node.allOf.length === 1 && isSchema(node.allOf[0]) ? node.allOf[0] : undefined;
  // OpenAPI v3 wraps a referenced type as { allOf: [{ $ref }], default, description }.
  const target = ref ?? (typeof single?.$ref === 'string' ? single.$ref : undefined);
  if (target) {
    const name = target.replace(/^#\/components\/schemas\//, '');
    if (seen.includes(name)) throw new Error(`recursive schema ${[...seen, name].join(' -> ')}`);
    if (name === QUANTITY_REF) return { oneOf: [{ type: 'string', pattern: QUANTITY }, { type: 'number' }] };
    return strictify(resolve(name), resolve, [...seen, name]);
  }
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'description' || k === 'default' || k === 'format' || k === 'example' || k.startsWith('x-kubernetes-')) continue;
    if (k === 'properties' && isSchema(v)) {
      out.properties = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, strictify(s, resolve, seen)]));
    } else out[k] = strictify(v, resolve, seen);
  }
  if (node['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    out.oneOf = [{ type: 'integer' }, { type: 'string' }];
  }
  const open = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (isSchema(out.properties) && out.additionalProperties === undefined && !open) out.additionalProperties = false;
  return out;
}

/** The top level of a kind: apiVersion and kind fixed and required. */
function pinKind(schema: Schema, apiVersion: string, kind: string): Schema {
  const properties = { ...(schema.properties as Schema) };
  properties.apiVersion = { type: 'string', enum: [apiVersion] };
  properties.kind = { type: 'string', enum: [kind] };
  const required = [...new Set(['apiVersion', 'kind', ...((schema.required as string[] | undefined) ?? [])])];
  // kubeconform assumes draft 4 unless told; `const` and `if`/`then` need draft 7.
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...schema, properties, required };
}

export const schemaFileName = (apiVersion: string, kind: string) => {
  const [groupOrVersion, version] = apiVersion.split('/');
  const suffix = version ? `${groupOrVersion!.split('.')[0]}-${version}` : groupOrVersion;
  return `${kind}-${suffix}.json`.toLowerCase();
};

function k8sSchemas(k8sDir: string): Record<string, Schema> {
  const docs = new Map<string, Record<string, Schema>>();
  const out: Record<string, Schema> = {};
  for (const [apiVersion, kind, doc] of K8S_KINDS) {
    if (!docs.has(doc)) {
      const json = JSON.parse(readFileSync(path.join(k8sDir, 'api/openapi-spec/v3', doc), 'utf8')) as {
        components: { schemas: Record<string, Schema> };
      };
      docs.set(doc, json.components.schemas);
    }
    const defs = docs.get(doc)!;
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    const name = Object.keys(defs).find((n) =>
      ((defs[n]!['x-kubernetes-group-version-kind'] as { group: string; version: string; kind: string }[] | undefined) ?? []).some(
        (g) => g.group === group && g.version === version && g.kind === kind,
      ),
    );
    if (!name) throw new Error(`${apiVersion} ${kind} is not in ${doc}`);
    const resolve = (ref: string) => {
      const s = defs[ref];
      if (!s) throw new Error(`${doc}: unknown $ref ${ref}`);
      return s;
    };
    out[schemaFileName(apiVersion, kind)] = pinKind(strictify(defs[name], resolve) as Schema, apiVersion, kind);
  }
  return out;
}

interface ScalerParameter {
  name: string;
  optional?: boolean;
  default?: string;
  metadataVariableReadable?: boolean;
  envVariableReadable?: boolean;
  deprecated?: string;
}

/** A temporal trigger's metadata: only the keys the scaler reads from it and has not deprecated (each `…FromEnv` too where allowed); endpoint and taskQueue required. */
function temporalTriggerMetadata(kedaDir: string): Schema {
  const scalers = (
    JSON.parse(readFileSync(path.join(kedaDir, 'schema/generated/scalers-schema.json'), 'utf8')) as {
      scalers: { type: string; parameters: ScalerParameter[] }[];
    }
  ).scalers;
  const params = scalers.find((s) => s.type === 'temporal')?.parameters;
  if (!params) throw new Error('KEDA scalers-schema.json has no temporal scaler');
  const fromMetadata = params.filter((p) => p.metadataVariableReadable && p.deprecated === undefined);
  const keys = fromMetadata.flatMap((p) => (p.envVariableReadable ? [p.name, `${p.name}FromEnv`] : [p.name]));
  const required = fromMetadata.filter((p) => !p.optional && p.default === undefined);
  return {
    type: 'object',
    properties: Object.fromEntries(keys.map((k) => [k, { type: 'string' }])),
    additionalProperties: false,
    // endpoint or endpointFromEnv, taskQueue or taskQueueFromEnv, ...
    allOf: required.map((p) =>
      p.envVariableReadable ? { anyOf: [{ required: [p.name] }, { required: [`${p.name}FromEnv`] }] } : { required: [p.name] },
    ),
  };
}

function scaledObjectSchema(kedaDir: string, k8sDir: string): Record<string, Schema> {
  const crd = parse(readFileSync(path.join(kedaDir, 'config/crd/bases/keda.sh_scaledobjects.yaml'), 'utf8')) as {
    spec: { group: string; names: { kind: string }; versions: { name: string; storage: boolean; schema: { openAPIV3Schema: Schema } }[] };
  };
  const served = crd.spec.versions.find((v) => v.storage) ?? crd.spec.versions[0]!;
  const apiVersion = `${crd.spec.group}/${served.name}`;
  const kind = crd.spec.names.kind;
  const schema = strictify(served.schema.openAPIV3Schema, (ref) => {
    throw new Error(`unexpected $ref ${ref} in the ScaledObject CRD`);
  }) as Schema;
  // The CRD says only `metadata: {type: object}`; use the real ObjectMeta.
  const coreDefs = (
    JSON.parse(readFileSync(path.join(k8sDir, 'api/openapi-spec/v3/api__v1_openapi.json'), 'utf8')) as {
      components: { schemas: Record<string, Schema> };
    }
  ).components.schemas;
  const meta = strictify(coreDefs[OBJECT_META_REF], (ref) => coreDefs[ref]!);
  const properties: Schema = { ...(schema.properties as Schema), metadata: meta };
  const spec = properties.spec as Schema;
  const triggers = (spec.properties as Schema).triggers as Schema;
  const item = triggers.items as Schema;
  const narrowed: Schema = {
    ...item,
    if: { properties: { type: { const: 'temporal' } }, required: ['type'] },
    then: { properties: { metadata: temporalTriggerMetadata(kedaDir) } },
  };
  const newSpec = { ...spec, properties: { ...(spec.properties as Schema), triggers: { ...triggers, items: narrowed } } };
  return { [schemaFileName(apiVersion, kind)]: pinKind({ ...schema, properties: { ...properties, spec: newSpec } }, apiVersion, kind) };
}

export function readmeText(): string {
  return [
    '# Kubernetes schemas for kubeconform',
    '',
    'Generated by `npx tsx infra/dev/k8s-schemas.ts` (do not edit by hand); test/unit/platform/k8s-manifests.test.ts',
    'validates deploy/k8s against them with kubeconform `-strict`. One standalone file per kind, named as',
    "kubeconform's `-schema-location` template asks (`{kind}-{group}-{version}.json`).",
    '',
    '| kinds | source (Go module proxy) | licence |',
    '| --- | --- | --- |',
    `| ${K8S_KINDS.map(([v, k]) => `${k} (${v})`).join(', ')} | \`k8s.io/kubernetes@v${K8S_VERSION}\` \`api/openapi-spec/v3/*.json\` | Apache-2.0 (\`LICENSE\`) |`,
    `| ScaledObject (keda.sh/v1alpha1) | \`github.com/kedacore/keda/v2@v${KEDA_VERSION}\` \`config/crd/bases/keda.sh_scaledobjects.yaml\`; temporal trigger keys from \`schema/generated/scalers-schema.json\` | Apache-2.0 (\`LICENSE\`) |`,
    '',
    'Derived, not copied: every `$ref` inlined; descriptions, defaults, formats and `x-kubernetes-*` keys dropped;',
    'every object that lists its properties closed (`additionalProperties: false`, except where the source preserves',
    'unknown fields); `apiVersion` and `kind` fixed and required; `resource.Quantity` strings checked against the',
    'quantity grammar; int-or-string as integer or string. The ScaledObject takes the Kubernetes ObjectMeta for its',
    "metadata (the CRD only says `object`), and a trigger of `type: temporal` accepts only the metadata keys KEDA's",
    'temporal scaler reads and has not deprecated (each `…FromEnv` where the scaler allows it), with `endpoint` and `taskQueue` required.',
    '',
    'To update: change `K8S_VERSION` / `KEDA_VERSION` (or the kinds) in infra/dev/k8s-schemas.ts and run it.',
    '',
  ].join('\n');
}

/** Every file of infra/schemas/k8s, as the generator writes it. */
export async function renderSchemas(): Promise<Record<string, string>> {
  const k8sDir = moduleDir('k8s.io/kubernetes', K8S_VERSION);
  const kedaDir = moduleDir('github.com/kedacore/keda/v2', KEDA_VERSION);
  const schemas = { ...k8sSchemas(k8sDir), ...scaledObjectSchema(kedaDir, k8sDir) };
  const options = (await prettier.resolveConfig(path.join(SCHEMA_DIR, 'x.json'))) ?? {};
  const files: Record<string, string> = {};
  for (const [name, schema] of Object.entries(schemas)) {
    files[name] = await prettier.format(JSON.stringify(schema), { ...options, parser: 'json' });
  }
  files['README.md'] = await prettier.format(readmeText(), { ...options, parser: 'markdown' });
  // Both sources are Apache-2.0 (the same licence text); derived files ship with a copy of it.
  files.LICENSE = readFileSync(path.join(k8sDir, 'LICENSE'), 'utf8');
  return files;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  const files = await renderSchemas();
  mkdirSync(SCHEMA_DIR, { recursive: true });
  const existing = readdirSync(SCHEMA_DIR);
  const stale = [
    ...Object.entries(files)
      .filter(([name, text]) => !existing.includes(name) || readFileSync(path.join(SCHEMA_DIR, name), 'utf8') !== text)
      .map(([name]) => name),
    ...existing.filter((name) => !(name in files)),
  ];
  if (stale.length === 0) process.stdout.write(`infra/schemas/k8s is up to date (Kubernetes v${K8S_VERSION}, KEDA v${KEDA_VERSION}).\n`);
  else if (check) {
    process.stderr.write(`Out of date in infra/schemas/k8s: ${stale.join(', ')}. Run: npx tsx infra/dev/k8s-schemas.ts\n`);
    process.exit(1);
  } else {
    for (const name of existing.filter((n) => !(n in files))) rmSync(path.join(SCHEMA_DIR, name));
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(SCHEMA_DIR, name), text);
    process.stdout.write(`Wrote infra/schemas/k8s: ${stale.join(', ')}\n`);
  }
}
