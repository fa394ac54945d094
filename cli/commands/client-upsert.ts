import type { Command } from 'commander';
import { createClientConfigStore } from '../../activities/client-upsert/config-store';
import { formatIssue } from '../../activities/client-upsert/config';
import { createClientStore } from '../../activities/client-upsert/store';
import { startClientUpsert } from '../../activities/client-upsert/start';
import { loadConfigOrExit } from '../../infra/config';
import { createLogger } from '../../infra/logger';
import { connectMongo } from '../../infra/mongo';
import { createTemporalClient } from '../../infra/temporal';

// `clients validate` (no server), `clients sync [keys...]` (through Temporal), `clients show <key>`.

export function registerClientsCommand(program: Command): void {
  const clients = program.command('clients').description('client configurations: validate the files, upsert them, show a result');

  clients
    .command('validate')
    .description('validate every config file in CLIENTS_DIR (or --dir); exit 1 when one is invalid')
    .option('--dir <path>', 'folder of <key>.json files (default CLIENTS_DIR)')
    .action(async (o: { dir?: string }) => {
      const config = loadConfigOrExit();
      const store = createClientConfigStore(o.dir ?? config.CLIENTS_DIR);
      let bad = 0;
      for (const key of await store.listKeys()) {
        const c = (await store.load(key))!;
        const routeIssues = c.config?.routeIssues ?? [];
        if (c.issues.length > 0) bad += 1;
        const state = c.issues.length > 0 ? 'INVALID' : routeIssues.length > 0 ? `ok, ${routeIssues.length} route(s) left out` : 'ok';
        process.stdout.write(
          `${key.padEnd(32)} ${state}${c.config ? ` (${c.config.routes.length} routes, ${c.config.menus.length} menus, ${c.config.components.length} components, ${c.config.users.length} users)` : ''}\n`,
        );
        for (const i of [...c.issues, ...routeIssues]) process.stdout.write(`  - ${formatIssue(i)}\n`);
      }
      process.exit(bad > 0 ? 1 : 0);
    });

  clients
    .command('sync [keys...]')
    .description('upsert all clients (or the listed keys) through Temporal; joins a run already going')
    .option('--force', 'upsert clients whose config is unchanged too')
    .option('--wait', 'wait for the run and print its summary')
    .action(async (keys: string[], o: { force?: boolean; wait?: boolean }) => {
      const config = loadConfigOrExit();
      const temporal = createTemporalClient(config);
      try {
        const started = await startClientUpsert({
          client: temporal.client,
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          keys: keys.length ? keys : undefined,
          force: o.force,
          concurrency: config.CLIENT_UPSERT_CONCURRENCY,
          trigger: 'cli',
        });
        process.stdout.write(`${JSON.stringify({ workflowId: started.workflowId, runId: started.runId })}\n`);
        if (o.wait) process.stdout.write(`${JSON.stringify(await started.result(), null, 2)}\n`);
      } finally {
        await temporal.close();
      }
    });

  clients
    .command('show <key>')
    .description("print a client's state and last upsert result")
    .action(async (key: string) => {
      const config = loadConfigOrExit();
      const mongo = await connectMongo(config, createLogger({ name: 'cli', level: 'silent' }));
      try {
        const v = await createClientStore(mongo.db).view(key);
        if (!v) program.error(`client '${key}' has never been upserted`);
        process.stdout.write(`${JSON.stringify({ state: v.state, client: v.client, lastResult: v.result }, null, 2)}\n`);
      } finally {
        await mongo.close();
      }
    });
}
