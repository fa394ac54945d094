// What workflows, activities, the API and the CLI share. Pure: the workflow bundle imports it.

import { defineSearchAttributeKey } from '@temporalio/common';

/** Temporal search attributes registered on the dev server (all Keyword). */
export const SearchAttributes = {
  TenantId: 'TenantId',
  Operation: 'Operation',
  BatchId: 'BatchId',
  SyncMethod: 'SyncMethod',
} as const;

export const SEARCH_ATTRIBUTE_NAMES = Object.values(SearchAttributes);

/** Typed keys for `typedSearchAttributes` on every workflow start. */
export const SearchAttributeKeys = {
  TenantId: defineSearchAttributeKey(SearchAttributes.TenantId, 'KEYWORD'),
  Operation: defineSearchAttributeKey(SearchAttributes.Operation, 'KEYWORD'),
  BatchId: defineSearchAttributeKey(SearchAttributes.BatchId, 'KEYWORD'),
  SyncMethod: defineSearchAttributeKey(SearchAttributes.SyncMethod, 'KEYWORD'),
} as const;

/** Workflow IDs are dedup keys (DESIGN.md, durable-execution rules). */
export const WorkflowIds = {
  tenantSync: (tenantId: string) => `tenant-sync:${tenantId}`,
  reconcile: (batchId: string) => `reconcile:${batchId}`,
  clientUpsert: (clientKey: string) => `client-upsert:${clientKey}`,
  migration: (name: string) => `migration:${name}`,
  stackProbe: (probeId: string) => `stack-probe:${probeId}`,
} as const;

/** Operation names used in the Operation search attribute and in metrics. */
export const Operations = {
  tenantSync: 'tenant-sync',
  stackProbe: 'stack-probe',
  reconcile: 'reconcile',
  migration: 'migration',
  migrationRun: 'migration-run',
  clientUpsert: 'client-upsert',
  cleanup: 'cleanup',
  stuckSyncSweep: 'stuck-sync-sweep',
} as const;
