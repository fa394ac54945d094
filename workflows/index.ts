// Entry of the workflow bundle: re-exports every workflow. Deterministic code only.
export { stackProbeWorkflow } from './stack-probe';
export { tenantSyncWorkflow } from './tenant-sync';
export { reconcileWorkflow } from './reconcile';
export { migrationWorkflow, runMigrationsWorkflow } from './migrations';
export { clientUpsertWorkflow, upsertAllClientsWorkflow } from './client-upsert';
export { cleanupWorkflow, stuckSyncSweepWorkflow } from './cleanup';
