import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { tsEntry, tsEntryCommand } from '../../../infra/dev/ts-entry';

// Every way this repo starts one of its TypeScript programs runs it as plain node with tsx's
// loader, never through the tsx CLI: the CLI relays a signal and SIGKILLs the program when it
// does not acknowledge within 30 ms, so on a loaded machine a SIGTERM's drain (and `make up`'s
// clean stop: its API and worker were left running) was cut short.

const read = (p: string) => readFileSync(path.join(REPO_ROOT, p), 'utf8');
/** A command line that runs a .ts file through the tsx CLI (`tsx x.ts`, `npx tsx …`, `node_modules/.bin/tsx …`). */
const TSX_CLI = /(^|[\s'"[,/])tsx['"]?,?\s+['"]?[\w./-]+\.ts\b/;
const usesTsxCli = (cmd: string) => TSX_CLI.test(cmd.replace(/--import['",\s]+tsx\b/g, '--import LOADER'));

describe('how the programs are started', () => {
  it('tsEntry runs a file with node and the tsx loader, node flags first', () => {
    expect(tsEntry('/r/x.ts', ['--expose-gc'])).toEqual([process.execPath, ['--expose-gc', '--import', 'tsx', '/r/x.ts']]);
    expect(tsEntryCommand('api/server.ts')).toEqual(['node', '--import', 'tsx', 'api/server.ts']);
    // The pattern below does catch the old forms.
    for (const old of [
      'tsx api/server.ts',
      'npx tsx workers/dev/up.ts',
      "['node_modules/.bin/tsx', 'api/server.ts']",
      '"node_modules/.bin/tsx", "api/server.ts"',
    ])
      expect(usesTsxCli(old), old).toBe(true);
    for (const ok of ['node --import tsx api/server.ts', 'CMD ["node", "--import", "tsx", "api/server.ts"]'])
      expect(usesTsxCli(ok), ok).toBe(false);
  });

  it('npm scripts and Makefile recipes: exec node --import tsx, not the tsx CLI', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    const ts = Object.entries(scripts).filter(([, cmd]) => /\.ts\b/.test(cmd) && !cmd.startsWith('vitest'));
    expect(ts.length).toBeGreaterThan(8);
    for (const [name, cmd] of ts) {
      expect(usesTsxCli(cmd), name).toBe(false);
      // exec: the script's shell is replaced, so a signal sent to `npm run …` reaches node.
      expect(cmd, name).toMatch(/^exec node (--[\w-]+ )*--import tsx [\w./-]+\.ts$/);
    }
    const recipes = read('Makefile')
      .split('\n')
      .filter((l) => l.startsWith('\t'));
    for (const r of recipes) expect(usesTsxCli(r), r).toBe(false);
    expect(recipes.map((r) => r.trim())).toContain('node --import tsx workers/dev/up.ts');
  });

  it('the image, docker-compose and the Kubernetes manifests run the API and worker with node --import tsx', () => {
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toContain(`CMD ${JSON.stringify(tsEntryCommand('api/server.ts'))}`.replace(/","/g, '", "'));
    for (const line of dockerfile.split('\n').filter((l) => !l.startsWith('#'))) expect(usesTsxCli(line), line).toBe(false);
    const compose = parse(read('docker-compose.yml')) as { services: Record<string, { command?: unknown }> };
    expect(compose.services.api!.command).toEqual(tsEntryCommand('api/server.ts'));
    expect(compose.services.worker!.command).toEqual(tsEntryCommand('workers/worker.ts'));
    const commands: unknown[] = [];
    for (const f of readdirSync(path.join(REPO_ROOT, 'deploy/k8s')).filter((n) => n.endsWith('.yaml')))
      for (const doc of parseAllDocuments(read(`deploy/k8s/${f}`))) {
        const containers = (doc.toJS() as { spec?: { template?: { spec?: { containers?: Array<{ command?: string[] }> } } } })?.spec
          ?.template?.spec?.containers;
        for (const c of containers ?? []) if (c.command?.some((a) => a.endsWith('.ts'))) commands.push(c.command);
      }
    expect(commands).toEqual(expect.arrayContaining([tsEntryCommand('api/server.ts'), tsEntryCommand('workers/worker.ts')]));
    for (const c of commands) expect(usesTsxCli(JSON.stringify(c)), JSON.stringify(c)).toBe(false);
  });

  it('no source file spawns the tsx CLI binary (benches, test helpers and tests use tsEntry)', () => {
    const bin = ['node_modules', '.bin', 'tsx'];
    // A path built from its parts (path.join(…, 'node_modules/.bin/tsx') or the parts one by one).
    const spawnsCli = (src: string) => src.includes(bin.join('/')) || src.includes(bin.map((p) => `'${p}'`).join(', '));
    expect(spawnsCli(`run(path.join(REPO_ROOT, '${bin.join('/')}'), [])`)).toBe(true);
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true })) {
        const rel = `${dir}/${e.name}`;
        if (e.isDirectory()) walk(rel);
        // This file names the old forms on purpose (the first test's examples).
        else if (e.name.endsWith('.ts') && rel !== 'test/unit/platform/entry-commands.test.ts' && spawnsCli(read(rel))) offenders.push(rel);
      }
    };
    for (const dir of ['api', 'activities', 'bench', 'cli', 'infra', 'shared', 'test', 'workers', 'workflows', 'fixtures', 'openapi'])
      if (readdirSync(REPO_ROOT).includes(dir)) walk(dir);
    expect(offenders).toEqual([]);
  });
});
