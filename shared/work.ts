import { CleanupNames } from './cleanup';
import { ClientUpsertNames } from './client-upsert';
import { MigrationNames } from './migrations';
import { ReconcileNames } from './reconcile';

// Kinds of work an operator can pause and resume (the work view, `npm run cli -- work`). Logins
// (tenant sync) are never paused: the auth service waits on them. Pure: the API, the worker and
// the CLI share it.

export const WORK_KINDS = ['reconcile', 'client-upsert', 'migrations', 'cleanup'] as const;
export type WorkKind = (typeof WORK_KINDS)[number];

/** The workflow types each kind starts (the work view groups its counts by them). */
export const WorkKindWorkflows: Readonly<Record<WorkKind, readonly string[]>> = {
  reconcile: [ReconcileNames.workflow],
  'client-upsert': [ClientUpsertNames.allWorkflow, ClientUpsertNames.workflow],
  migrations: [MigrationNames.runWorkflow, MigrationNames.workflow],
  cleanup: [CleanupNames.cleanupWorkflow, CleanupNames.stuckSyncSweepWorkflow],
};

/** A stored pause: every API process refuses new starts of its kind while it exists. */
export interface WorkPause {
  kind: WorkKind;
  /** The token subject that set it. */
  pausedBy: string;
  reason: string;
  pausedAt: string;
}

export const isWorkKind = (k: string): k is WorkKind => (WORK_KINDS as readonly string[]).includes(k);
