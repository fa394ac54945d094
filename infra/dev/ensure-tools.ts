import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, copyFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../../shared/errors';

// Makes sure the Go-built tools exist — the two servers, promtool (alert-rule tests) and kubeconform
// (manifest tests): a matching one on PATH, else the cached one in the tools folder, else build it
// from the Go module proxy through the committed tool modules (one module per tool, so their
// dependencies never mix).

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const TOOLS = {
  temporal: {
    version: '1.5.1',
    pkg: 'github.com/temporalio/cli/cmd/temporal',
    module: 'infra/tools/temporal',
    // The CLI's release builds stamp the version by ldflags; do the same so it reports 1.5.1.
    versionVar: 'github.com/temporalio/cli/temporalcli.Version',
    versionArgs: ['--version'],
    // "temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)"
    parse: (out: string) => /temporal version (\S+)/.exec(out)?.[1],
  },
  ferretdb: {
    version: '1.24.2',
    pkg: 'github.com/FerretDB/FerretDB/cmd/ferretdb',
    module: 'infra/tools/ferretdb',
    versionVar: undefined,
    versionArgs: ['--version'],
    // "version: v1.24.2"
    parse: (out: string) => /version: v?(\S+)/.exec(out)?.[1],
  },
  promtool: {
    // The Go module version of Prometheus (v0.316.0 is the module of release 3.16.0).
    version: '0.316.0',
    pkg: 'github.com/prometheus/prometheus/cmd/promtool',
    module: 'infra/tools/promtool',
    versionVar: 'github.com/prometheus/common/version.Version',
    versionArgs: ['--version'],
    // "promtool, version 0.316.0 (branch: , revision: )"
    parse: (out: string) => /promtool, version (\S+)/.exec(out)?.[1],
  },
  kubeconform: {
    // Validates deploy/k8s offline against infra/schemas/k8s (test/unit/platform/k8s-manifests.test.ts).
    version: '0.7.0',
    pkg: 'github.com/yannh/kubeconform/cmd/kubeconform',
    module: 'infra/tools/kubeconform',
    versionVar: 'main.version',
    versionArgs: ['-v'],
    // "0.7.0" (release builds print "v0.7.0")
    parse: (out: string) => /^v?(\d+\.\d+\.\d+)/.exec(out.trim())?.[1],
  },
} as const;
export type ToolName = keyof typeof TOOLS;

/** The servers of the embedded stack (what `make up` and the test stack need). */
export interface ToolPaths {
  temporal: string;
  ferretdb: string;
}

type Say = (msg: string) => void;

function versionOf(bin: string, tool: ToolName): string | undefined {
  // Some print their version on stderr (promtool's flag parser does): read both.
  const r = spawnSync(bin, TOOLS[tool].versionArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });
  if (r.error || r.status !== 0) return undefined;
  return TOOLS[tool].parse(`${r.stdout}\n${r.stderr}`);
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

export function findGo(): string | undefined {
  return onPath('go') ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
}

/** Thrown when a tool is missing and cannot be built here. */
export class ToolUnavailableError extends AppError {
  constructor(tool: ToolName) {
    super(
      'tool-unavailable',
      `${tool} v${TOOLS[tool].version} was not found and Go is not installed to build it.\n` +
        `Alternatives:\n` +
        `  - install Go (https://go.dev/dl) and run \`make tools\` again;\n` +
        `  - install the Temporal CLI v${TOOLS.temporal.version}, FerretDB v${TOOLS.ferretdb.version} and promtool ` +
        `(Prometheus module v${TOOLS.promtool.version}) yourself and put them on PATH;\n` +
        `  - or run the production-shaped stack with \`docker compose up\` (see README).`,
    );
  }
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, say: Say, label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (b: Buffer) => {
      tail = (tail + b.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const ticker = setInterval(() => say(`  … ${label}: ${Math.round((Date.now() - started) / 1000)} s`), 15_000);
    child.on('error', (e) => {
      clearInterval(ticker);
      reject(e);
    });
    child.on('close', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new Error(`${label} failed (exit ${String(code)}):\n${tail}`));
    });
  });
}

async function build(tool: ToolName, toolsDir: string, say: Say): Promise<string> {
  const go = findGo();
  if (!go) throw new ToolUnavailableError(tool);
  const spec = TOOLS[tool];
  const binDir = path.join(toolsDir, 'bin');
  mkdirSync(binDir, { recursive: true });
  const env = {
    ...process.env,
    GOBIN: binDir,
    GOFLAGS: '-buildvcs=false',
    CGO_ENABLED: '0',
    PATH: `${path.dirname(go)}${path.delimiter}${process.env.PATH ?? ''}`,
  };
  const started = Date.now();
  say(`building ${tool} v${spec.version} from the Go module proxy (first run only; a few minutes)…`);
  const ldflags = spec.versionVar ? `-s -w -X ${spec.versionVar}=${spec.version}` : '-s -w';
  if (tool === 'ferretdb') {
    // FerretDB's CLI panics without build/version/version.txt, which its module zip lacks and
    // `-overlay` may not add under GOMODCACHE: vendor the tool module and add that one file.
    const work = path.join(toolsDir, 'build', 'ferretdb');
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    for (const f of ['go.mod', 'go.sum']) copyFileSync(path.join(REPO_ROOT, spec.module, f), path.join(work, f));
    await run(go, ['mod', 'vendor'], work, env, say, 'go mod vendor (ferretdb)');
    writeFileSync(path.join(work, 'vendor/github.com/FerretDB/FerretDB/build/version/version.txt'), `v${spec.version}\n`);
    await run(go, ['install', '-mod=vendor', `-ldflags=${ldflags}`, spec.pkg], work, env, say, 'go install ferretdb');
  } else {
    await run(go, ['install', `-ldflags=${ldflags}`, spec.pkg], path.join(REPO_ROOT, spec.module), env, say, `go install ${tool}`);
  }
  say(`built ${tool} in ${Math.round((Date.now() - started) / 1000)} s`);
  return path.join(binDir, tool);
}

/** Returns the binary for a tool: matching one on PATH, cached one, or a fresh build. Idempotent. */
export async function ensureTool(tool: ToolName, toolsDir: string, say: Say = () => undefined): Promise<string> {
  const want = TOOLS[tool].version;
  const fromPath = onPath(tool);
  if (fromPath) {
    const v = versionOf(fromPath, tool);
    if (v === want) return fromPath;
    say(`${tool} on PATH (${fromPath}) is ${v ?? 'unknown version'}, want ${want}: using the pinned build`);
  }
  const cached = path.join(toolsDir, 'bin', tool);
  if (existsSync(cached)) {
    const v = versionOf(cached, tool);
    if (v === want) return cached;
    say(`cached ${tool} is ${v ?? 'unusable'}, rebuilding`);
  }
  const built = await build(tool, toolsDir, say);
  const v = versionOf(built, tool);
  if (v !== want) throw new Error(`built ${tool} reports version ${v ?? 'unknown'}, expected ${want}`);
  return built;
}

/** The two servers (not promtool: only `make tools` and the alert-rule test need it). */
export async function ensureTools(toolsDir: string, say: Say = () => undefined): Promise<ToolPaths> {
  // Sequential: two Go builds at once on a 2-core machine are slower than one after the other.
  const temporal = await ensureTool('temporal', toolsDir, say);
  const ferretdb = await ensureTool('ferretdb', toolsDir, say);
  return { temporal, ferretdb };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const toolsDir = path.resolve(REPO_ROOT, process.env.TOOLS_DIR ?? '.tools');
  const say: Say = (m) => process.stdout.write(`[tools] ${m}\n`);
  // `make tools`: the servers, then promtool and kubeconform for the offline tests of `make test`.
  ensureTools(toolsDir, say)
    .then(async (p) => ({ ...p, promtool: await ensureTool('promtool', toolsDir, say) }))
    .then(async (p) => ({ ...p, kubeconform: await ensureTool('kubeconform', toolsDir, say) }))
    .then(
      (p) => say(`ready: temporal=${p.temporal} ferretdb=${p.ferretdb} promtool=${p.promtool} kubeconform=${p.kubeconform}`),
      (e: unknown) => {
        process.stderr.write(`[tools] ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(1);
      },
    );
}
