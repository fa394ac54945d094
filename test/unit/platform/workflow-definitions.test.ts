// Workflow, update and query definitions live in the shared modules: names fixed (running workflows and recorded
// histories depend on them), implementations matching the signatures clients start them by, no string-named calls.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as workflows from '../../../workflows';
import { CleanupNames, type CleanupWorkflow, type StuckSyncSweepWorkflow } from '../../../shared/cleanup';
import { ClientUpsertNames, type ClientUpsertWorkflow, type UpsertAllClientsWorkflow } from '../../../shared/client-upsert';
import {
  MigrationNames,
  migrationProgressQuery,
  migrationRunProgressQuery,
  type MigrationWorkflow,
  type RunMigrationsWorkflow,
} from '../../../shared/migrations';
import { partitionProgressUpdate, ReconcileNames, reconcileProgressQuery, type ReconcileWorkflow } from '../../../shared/reconcile';
import { StackProbeNames, type StackProbeWorkflow } from '../../../shared/stack-probe';
import { essentialReadyUpdate, TenantSyncNames, tenantSyncProgressQuery, type TenantSyncWorkflow } from '../../../shared/tenant-sync';

const ROOT = join(import.meta.dirname, '../../..');
const HANDLER_CALLS = ['query', 'executeUpdate', 'startUpdate', 'signal', 'executeUpdateWithStart', 'signalWithStart'];
const BY_NAME = new RegExp(`\\.(${HANDLER_CALLS.join('|')})(<[^>]*>)?\\(\\s*('|\`|\\w+Names\\.)`, 'g');

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((f) => {
    const path = join(dir, f);
    if (statSync(join(ROOT, path)).isDirectory()) return tsFiles(path);
    return f.endsWith('.ts') ? [path] : [];
  });
}

describe('shared workflow definitions', () => {
  it('keep the names that running workflows and recorded histories use', () => {
    expect([essentialReadyUpdate, tenantSyncProgressQuery]).toMatchObject([
      { type: 'update', name: 'essentialReady' },
      { type: 'query', name: 'progress' },
    ]);
    expect([reconcileProgressQuery, partitionProgressUpdate]).toMatchObject([
      { type: 'query', name: 'reconcileProgress' },
      { type: 'update', name: 'reconcilePartitionProgress' },
    ]);
    expect([migrationProgressQuery, migrationRunProgressQuery]).toMatchObject([
      { type: 'query', name: 'migrationProgress' },
      { type: 'query', name: 'migrationRunProgress' },
    ]);
  });

  it('name every workflow the bundle exports, under its export name', () => {
    const names = [
      TenantSyncNames.workflow,
      ReconcileNames.workflow,
      MigrationNames.workflow,
      MigrationNames.runWorkflow,
      ClientUpsertNames.workflow,
      ClientUpsertNames.allWorkflow,
      CleanupNames.cleanupWorkflow,
      CleanupNames.stuckSyncSweepWorkflow,
      StackProbeNames.workflow,
    ];
    expect([...names].sort()).toEqual(Object.keys(workflows).sort());
    for (const n of names) expect((workflows as Record<string, unknown>)[n], n).toBeTypeOf('function');
  });

  it('type each workflow as its clients start it (a drift fails tsc)', () => {
    expectTypeOf(workflows.tenantSyncWorkflow).toExtend<TenantSyncWorkflow>();
    expectTypeOf(workflows.reconcileWorkflow).toExtend<ReconcileWorkflow>();
    expectTypeOf(workflows.migrationWorkflow).toExtend<MigrationWorkflow>();
    expectTypeOf(workflows.runMigrationsWorkflow).toExtend<RunMigrationsWorkflow>();
    expectTypeOf(workflows.clientUpsertWorkflow).toExtend<ClientUpsertWorkflow>();
    expectTypeOf(workflows.upsertAllClientsWorkflow).toExtend<UpsertAllClientsWorkflow>();
    expectTypeOf(workflows.cleanupWorkflow).toExtend<CleanupWorkflow>();
    expectTypeOf(workflows.stuckSyncSweepWorkflow).toExtend<StuckSyncSweepWorkflow>();
    expectTypeOf(workflows.stackProbeWorkflow).toExtend<StackProbeWorkflow>();
    // And the other way: what a client passes, the workflow accepts.
    expectTypeOf<Parameters<TenantSyncWorkflow>>().toExtend<Parameters<typeof workflows.tenantSyncWorkflow>>();
    expectTypeOf<Parameters<ReconcileWorkflow>>().toExtend<Parameters<typeof workflows.reconcileWorkflow>>();
  });

  it('are what the API, CLI, workers and activities call: no names as strings, no casts', () => {
    const files = ['api', 'cli', 'workers', 'activities', 'infra', 'bench'].flatMap(tsFiles);
    expect(files.length).toBeGreaterThan(50);
    const offences = files.flatMap((f) => {
      const text = readFileSync(join(ROOT, f), 'utf8');
      const found: string[] = [];
      // A handle's query/update/signal by a string or a *Names constant instead of its definition.
      for (const m of text.matchAll(BY_NAME)) found.push(`${f}: ${m[0]}`);
      // A workflow started by a string literal, or by its name constant without the signature type.
      for (const m of text.matchAll(/\.(start|execute|signalWithStart)\(\s*('|`|\w+Names\.)/g)) found.push(`${f}: ${m[0]}`);
      for (const m of text.matchAll(/new WithStartWorkflowOperation\(/g)) found.push(`${f}: ${m[0]}`);
      if (/startWorkflowOperation:\s*\w+\s+as\s+never/.test(text)) found.push(`${f}: startWorkflowOperation as never`);
      return found;
    });
    expect(offences).toEqual([]);
  });
});
