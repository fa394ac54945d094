import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { loadConfigOrExit } from '../../infra/config';
import { apiBase, callApi } from '../api-client';

// `tenants register|get|sync|status`: the tenant registry and login sync, through the API.

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
