import type { Command } from 'commander';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { listConfigKeys } from '../../activities/client-upsert/config-store';
import { formatIssue, validateClientConfig, type ClientConfig, type ConfigIssue } from '../../activities/client-upsert/config';
import { loadConfigOrExit } from '../../infra/config';
import { CLIENT_KEY_RE } from '../../shared/client-upsert';
import { ApiProblemError, apiClientFor } from '../api-client';
import { fail, failWith } from '../fail';
import { addListCommand } from '../list';

// `clients validate` (local: checks the files, no server), `clients sync [keys...]` (POST
// /api/clients/sync: the worker upserts from its own CLIENTS_DIR, so only keys travel),
// `clients show <key>` (GET /api/clients/:key).

interface CheckedFile {
  key: string;
  config?: ClientConfig;
  issues: ConfigIssue[];
}

/** One file through the worker's checks: the key its name gives, JSON, then the config schema. */
async function checkFile(dir: string, key: string): Promise<CheckedFile> {
  const file = (problem: string): CheckedFile => ({ key, issues: [{ clientKey: key, field: '(file)', problem }] });
  if (!CLIENT_KEY_RE.test(key)) return file(`file name '${key}.json' is not a valid client key (1-48 lowercase letters, digits, _ or -)`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path.join(dir, `${key}.json`), 'utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    // Only the position: V8's message quotes the text around it, which may hold an e-mail or a secret.
    const at = /position (\d+)/.exec(err.message);
    return file(`not valid JSON${at ? ` (at character ${at[1]})` : ''}`);
  }
  return { key, ...validateClientConfig(raw, key) };
}

function printChecked(c: CheckedFile): void {
  const routeIssues = c.config?.routeIssues ?? [];
  const state = c.issues.length > 0 ? 'INVALID' : routeIssues.length > 0 ? `ok, ${routeIssues.length} route(s) left out` : 'ok';
  const sizes = c.config
    ? ` (${c.config.routes.length} routes, ${c.config.menus.length} menus, ${c.config.components.length} components, ${c.config.users.length} users)`
    : '';
  process.stdout.write(`${c.key.padEnd(32)} ${state}${sizes}\n`);
  for (const i of [...c.issues, ...routeIssues]) process.stdout.write(`  - ${formatIssue(i)}\n`);
}

interface SyncAccepted {
  workflowId: string;
  runId: string;
  correlationId: string;
  keys: string[] | 'all';
}

export function registerClientsCommand(program: Command): void {
  const clients = program.command('clients').description('client configurations: validate the files, upsert them, show a result');

  addListCommand<{ key: string; name: string | null; status: string; runs: number; lastUpsertAt: string; updatedAt: string | null }>(
    clients,
    'list',
    'clients upserted so far (paged, key order)',
    {
      path: '/api/clients',
      scopes: ['clients:read'],
      headers: ['KEY', 'NAME', 'STATUS', 'RUNS', 'LAST UPSERT', 'UPDATED'],
      row: (c) => [c.key, c.name ?? '-', c.status, c.runs, c.lastUpsertAt, c.updatedAt ?? '-'],
    },
  );

  clients
    .command('validate')
    .description('validate every config file in CLIENTS_DIR (or --dir); exit 1 when one is invalid')
    .option('--dir <path>', 'folder of <key>.json files (default CLIENTS_DIR)')
    .action(async (o: { dir?: string }) => {
      const dir = path.resolve(o.dir ?? loadConfigOrExit().CLIENTS_DIR);
      let bad = 0;
      try {
        for (const key of await listConfigKeys(dir)) {
          const c = await checkFile(dir, key);
          if (c.issues.length > 0) bad += 1;
          printChecked(c);
        }
      } catch (err) {
        failWith(err);
      }
      process.exit(bad > 0 ? 1 : 0);
    });

  clients
    .command('sync [keys...]')
    .description("upsert all clients (or the listed keys) from the worker's CLIENTS_DIR; joins a run already going")
    .option('--force', 'upsert clients whose config is unchanged too')
    .option('--wait', 'wait for the run and print its summary')
    .action(async (keys: string[], o: { force?: boolean; wait?: boolean }, cmd: Command) => {
      const api = apiClientFor(cmd, loadConfigOrExit());
      try {
        const started = await api.request<SyncAccepted>('/api/clients/sync', {
          method: 'POST',
          body: { ...(keys.length ? { keys } : {}), ...(o.force ? { force: true } : {}) },
        });
        process.stdout.write(`${JSON.stringify({ workflowId: started.workflowId, runId: started.runId })}\n`);
        if (o.wait) {
          const path = `/api/clients/runs/${encodeURIComponent(started.workflowId)}`;
          let run = await api.request<{ status: string; result?: unknown }>(path);
          while (run.status === 'RUNNING') {
            await new Promise((r) => setTimeout(r, 500));
            run = await api.request<{ status: string; result?: unknown }>(path);
          }
          if (run.status !== 'COMPLETED') fail(`client upsert ${started.workflowId} ended ${run.status}`);
          process.stdout.write(`${JSON.stringify(run.result, null, 2)}\n`);
        }
      } catch (err) {
        failWith(err);
      }
    });

  clients
    .command('show <key>')
    .description("print a client's state and last upsert result")
    .action(async (key: string, _o: unknown, cmd: Command) => {
      const api = apiClientFor(cmd, loadConfigOrExit());
      try {
        const view = await api.request<unknown>(`/api/clients/${encodeURIComponent(key)}`);
        process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
      } catch (err) {
        if (err instanceof ApiProblemError && err.status === 404) fail(`client '${key}' has never been upserted`);
        failWith(err);
      }
    });
}
