import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { loadConfigOrExit } from '../../infra/config';
import { apiBase, callApi } from '../api-client';
import { addListCommand, type ListSpec } from '../list';
import type { TenantView } from '../../activities/tenant-sync/registry';

// `tenants register|get|list|sync|status`: the tenant registry and login sync, through the API.
// `runs list` (sync run history) is registered beside `runs failed` with syncRunsList below.

interface SyncRunRow {
  runId: string;
  tenantId: string;
  state: string;
  method: string;
  fallbackUsed: boolean;
  startedAt: string;
  finishedAt: string | null;
  collections: number;
  failedCollections: number;
}

/** `runs list`: GET /api/sync/runs (scope sync:read), filters as query parameters. */
export const syncRunsList: ListSpec<SyncRunRow> = {
  path: '/api/sync/runs',
  scopes: ['sync:read'],
  headers: ['RUN', 'TENANT', 'STATE', 'METHOD', 'STARTED', 'FINISHED', 'COLLECTIONS', 'FAILED'],
  row: (r) => [r.runId, r.tenantId, r.state, r.method, r.startedAt, r.finishedAt ?? '-', r.collections, r.failedCollections],
  filters: [
    { flag: '--tenant-id <tenantId>', query: 'tenantId', description: "only this tenant's runs" },
    { flag: '--state <state>', query: 'state', description: 'running, completed, partial or failed' },
    { flag: '--method <method>', query: 'method', description: 'temporal or direct' },
    { flag: '--since <iso>', query: 'since', description: 'runs started at or after this time' },
  ],
};

const tenantsList: ListSpec<TenantView> = {
  path: '/api/tenants',
  headers: ['TENANT', 'NAME', 'SOURCE', 'COLLECTIONS', 'CREATED BY', 'UPDATED BY', 'UPDATED'],
  row: (t) => [t.tenantId, t.name, t.source.kind, t.collections.length, t.createdBy, t.updatedBy, t.updatedAt],
};

function parseCollections(spec: string): Array<{ name: string; essential: boolean }> {
  // "users:essential,roles:essential,audit" → essential flags
  return spec.split(',').map((part) => {
    const [name = '', flag] = part.trim().split(':');
    return { name, essential: flag === 'essential' || flag === 'e' };
  });
}

function print(status: number, body: unknown): void {
  process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  if (status >= 400) process.exitCode = 1;
}

export function registerTenantsCommand(program: Command): void {
  const tenants = program
    .command('tenants')
    .description('tenant registry and login sync (through the API)')
    .option('--api <url>', 'API base URL (default http://HOST:PORT)');

  tenants
    .command('register')
    .description('register or update a tenant: --file tenant.json, or flags for an HTTP source')
    .option('--file <path>', 'JSON body as for POST /api/tenants')
    .option('--id <tenantId>')
    .option('--name <name>')
    .option('--base-url <url>', 'HTTP source base URL')
    .option('--token <token>', 'HTTP source bearer token (stored write-only)')
    .option('--collections <spec>', 'e.g. users:essential,roles:essential,audit')
    .action(async (o: { file?: string; id?: string; name?: string; baseUrl?: string; token?: string; collections?: string }) => {
      const config = loadConfigOrExit();
      let body: unknown;
      if (o.file) body = JSON.parse(readFileSync(o.file, 'utf8'));
      else {
        if (!o.id || !o.baseUrl || !o.collections) program.error('give --file, or --id, --base-url and --collections');
        body = {
          tenantId: o.id,
          name: o.name ?? o.id,
          source: { kind: 'http', settings: { baseUrl: o.baseUrl, ...(o.token ? { token: o.token } : {}) } },
          collections: parseCollections(o.collections),
        };
      }
      const res = await callApi(config, apiBase(config, tenants.opts<{ api?: string }>().api), '/api/tenants', { method: 'POST', body });
      print(res.status, res.body);
    });

  tenants
    .command('get <tenantId>')
    .description('show a tenant (secrets are never shown)')
    .action(async (tenantId: string) => {
      const config = loadConfigOrExit();
      const res = await callApi(
        config,
        apiBase(config, tenants.opts<{ api?: string }>().api),
        `/api/tenants/${encodeURIComponent(tenantId)}`,
      );
      print(res.status, res.body);
    });

  addListCommand(tenants, 'list', 'the registered tenants (paged; secrets are never shown)', tenantsList);

  tenants
    .command('sync <tenantId>')
    .description('run the login sync (ensure) for a tenant')
    .action(async (tenantId: string) => {
      const config = loadConfigOrExit();
      const res = await callApi(
        config,
        apiBase(config, tenants.opts<{ api?: string }>().api),
        `/api/sync/tenants/${encodeURIComponent(tenantId)}/ensure`,
        { method: 'POST', scopes: ['sync:write'] },
      );
      print(res.status, res.body);
    });

  tenants
    .command('status <tenantId>')
    .description('latest sync status of a tenant')
    .action(async (tenantId: string) => {
      const config = loadConfigOrExit();
      const res = await callApi(
        config,
        apiBase(config, tenants.opts<{ api?: string }>().api),
        `/api/sync/tenants/${encodeURIComponent(tenantId)}/status`,
        { scopes: ['sync:read'] },
      );
      print(res.status, res.body);
    });
}
