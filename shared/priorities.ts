import type { Priority } from '@temporalio/common';
import { CleanupNames } from './cleanup';
import { ClientUpsertNames } from './client-upsert';
import { MigrationNames } from './migrations';
import { ReconcileNames } from './reconcile';
import { StackProbeNames } from './stack-probe';
import { TenantSyncNames } from './tenant-sync';

// Task-queue priority and fairness (Temporal server ≥ 1.29 with `matching.useNewMatcher` /
// `matching.enableFairness`; see infra/temporal-dynamic-config.ts). One table: every workflow
// type has a priority class; a lower key is dispatched first when tasks back up. Activities and
// children carry their workflow's fairness key, so one tenant's backlog is shared out against
// another's at the same priority in proportion to their weights (tenant registry, default 1).
// Pure (no node modules): the client interceptor, the workflow interceptor and the API use it.

/** Priority keys, 1 (first) to 5 (last): the server's default range. */
export const PriorityClasses = {
  /** A login waits on it. */
  login: 1,
  /** A readiness probe waits on it. */
  probe: 1,
  /** An operator waits on it; short and rare. */
  migrations: 2,
  clientUpsert: 2,
  /** On-demand bulk work: hours long, chunked, resumable. */
  reconcile: 3,
  /** Scheduled sweeps: nobody waits on them. */
  maintenance: 5,
} as const;

export type PriorityClass = keyof typeof PriorityClasses;

/** The class of each workflow type we run. A type missing here gets DEFAULT_CLASS. */
export const WorkflowPriorityClass: Readonly<Record<string, PriorityClass>> = {
  [TenantSyncNames.workflow]: 'login',
  [StackProbeNames.workflow]: 'probe',
  [MigrationNames.runWorkflow]: 'migrations',
  [MigrationNames.workflow]: 'migrations',
  [ClientUpsertNames.allWorkflow]: 'clientUpsert',
  [ClientUpsertNames.workflow]: 'clientUpsert',
  [ReconcileNames.workflow]: 'reconcile',
  [CleanupNames.cleanupWorkflow]: 'maintenance',
  [CleanupNames.stuckSyncSweepWorkflow]: 'maintenance',
};

/** Reconcile's class: the server's middle key, so an unknown type never jumps the queue. */
export const DEFAULT_CLASS: PriorityClass = 'reconcile';

/** Fairness key of work that belongs to no tenant (migrations, client upsert, sweeps). */
export const PLATFORM_FAIRNESS_KEY = 'platform';

/** The server clamps weights to this range. */
export const FAIRNESS_WEIGHT_MIN = 0.001;
export const FAIRNESS_WEIGHT_MAX = 1000;

export function priorityClassOf(workflowType: string): PriorityClass {
  return WorkflowPriorityClass[workflowType] ?? DEFAULT_CLASS;
}

/** Fairness keys are limited to 64 bytes by the server; tenant IDs are shorter, but be safe. */
function fairnessKeyOf(tenantId: string | undefined): string {
  const key = tenantId ?? PLATFORM_FAIRNESS_KEY;
  return key.length <= 64 ? key : key.slice(0, 64);
}

/**
 * The priority a start of `workflowType` gets: its class's key, the tenant as fairness key
 * (`platform` when none) and the tenant's weight when known. Fields already set in `given` win.
 */
export function priorityFor(workflowType: string, tenantId?: string, given: Priority = {}): Priority {
  const weight = given.fairnessWeight;
  return {
    priorityKey: given.priorityKey || PriorityClasses[priorityClassOf(workflowType)],
    fairnessKey: given.fairnessKey || fairnessKeyOf(tenantId),
    ...(weight ? { fairnessWeight: Math.min(FAIRNESS_WEIGHT_MAX, Math.max(FAIRNESS_WEIGHT_MIN, weight)) } : {}),
  };
}

/**
 * The priority a workflow gives what it starts: its own fairness key and weight, with the
 * child's class (`childType`) or, for an activity (no type), its own key. Undefined when the
 * workflow itself runs without a priority (TEMPORAL_PRIORITY=false): everything stays FIFO.
 */
export function inheritedPriority(parent: Priority | undefined, childType?: string): Priority | undefined {
  if (!parent?.priorityKey) return undefined;
  return {
    priorityKey: childType === undefined ? parent.priorityKey : PriorityClasses[priorityClassOf(childType)],
    ...(parent.fairnessKey ? { fairnessKey: parent.fairnessKey } : {}),
    ...(parent.fairnessWeight ? { fairnessWeight: parent.fairnessWeight } : {}),
  };
}
