import { Command } from 'commander';
import { registerTokenCommand } from './commands/token';
import { registerHealthCommand } from './commands/probe';
import { registerReconcileCommand } from './commands/reconcile';
import { registerTenantsCommand } from './commands/tenant-sync';
import { registerMigrateCommand } from './commands/migrations';
import { registerClientsCommand } from './commands/client-upsert';
import { registerSchedulesCommand } from './commands/maintenance/schedules';
import { registerRunsCommand } from './commands/maintenance/failed-runs';
import { registerSecretsCommand } from './commands/maintenance/secrets';
import { registerWorkCommand } from './commands/maintenance/work';

// `npm run cli -- <command>`: operator commands. Each command module registers itself.

const program = new Command()
  .name('sync-orchestrator')
  .description('Operate sync-orchestrator: tokens, health, and (per capability) runs')
  .option('--api <url>', 'API base URL (default SYNC_API_URL, else http://HOST:PORT)')
  .showHelpAfterError();

registerTokenCommand(program);
registerHealthCommand(program);
registerReconcileCommand(program);
registerTenantsCommand(program);
registerMigrateCommand(program);
registerClientsCommand(program);
registerSchedulesCommand(program);
registerRunsCommand(program);
registerSecretsCommand(program);
registerWorkCommand(program);

await program.parseAsync(process.argv);
