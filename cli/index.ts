import { Command } from 'commander';
import { registerTokenCommand } from './commands/token';
import { registerHealthCommand } from './commands/health';
import { registerReconcileCommand } from './commands/reconcile';
import { registerTenantsCommand } from './commands/tenants';
import { registerMigrateCommand } from './commands/migrate';
import { registerClientsCommand } from './commands/clients';
import { registerSchedulesCommand } from './commands/schedules';
import { registerRunsCommand } from './commands/runs';
import { registerSecretsCommand } from './commands/secrets';

// `npm run cli -- <command>`: operator commands. Each command module registers itself.

const program = new Command()
  .name('sync-orchestrator')
  .description('Operate sync-orchestrator: tokens, health, and (per capability) runs')
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

await program.parseAsync(process.argv);
