// Migration types shared by the workflows, their activities, the API and the CLI. Pure: the
// workflow bundle imports it. Only names, counters, checksums and short messages travel here.

import { defineQuery } from '@temporalio/workflow';

export const MigrationNames = {
  workflow: 'migrationWorkflow',
  runWorkflow: 'runMigrationsWorkflow',
  progressQuery: 'migrationProgress',
  runProgressQuery: 'migrationRunProgress',
} as const;

/** Migration names: file names without extension (`20261125000100-tenants-status`). */
export const MIGRATION_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$';
export const isMigrationName = (s: string) => new RegExp(MIGRATION_NAME_PATTERN).test(s);

/** Batch runs hold one lock per platform database: `migration-run:{db}`. */
export const migrationRunWorkflowId = (database: string) => `migration-run:${database}`;
/** Dry runs take no lock (they never touch live data): a fresh ID each time. */
export const migrationDryRunWorkflowId = (database: string, id: string) => `migration-dry-run:${database}:${id}`;
export const dryRunChildWorkflowId = (name: string, id: string) => `migration-dry-run:${name}:${id}`;
export const MIGRATION_RUN_ID_PATTERN = '^migration-(dry-)?run:[A-Za-z0-9_:.-]{1,200}$';

export type MigrationStatus = 'running' | 'completed' | 'failed';
export type MigrationStep = 'plan' | 'dry-run' | 'backup' | 'apply' | 'verify' | 'rollback' | 'restore' | 'done';

/** Count + order-independent checksum of a collection (activities/migrations-checksum.ts). */
export interface CollectionSnapshot {
  count: number;
  checksum: string;
}

export interface BackupRef extends CollectionSnapshot {
  backupId: string;
  collection: string;
  /** The collection did not exist: a restore drops whatever the migration created. */
  existed: boolean;
  /** The copy resumed from a heartbeat checkpoint after this many documents. */
  resumedFrom?: number;
  durationMs: number;
}

export interface RestoreResult extends CollectionSnapshot {
  backupId: string;
  collection: string;
  /** Count and checksum of the restored collection equal the backup's. */
  verified: boolean;
  durationMs: number;
}

export interface VerifyOutcome {
  ok: boolean;
  message: string;
}

export interface DryRunCollection {
  name: string;
  before: CollectionSnapshot;
  after: CollectionSnapshot;
  changed: boolean;
  indexesAdded: string[];
  indexesRemoved: string[];
}

/** What a dry run (up + verify against a scratch copy) found. */
export interface DryRunReport {
  changes: string[];
  verify: VerifyOutcome;
  collections: DryRunCollection[];
  /** Collections `up` wrote that the migration does not declare (they would not be backed up). */
  undeclared: string[];
  /** `up` or `verify` threw: the message. */
  error?: string;
  durationMs: number;
}

export interface MigrationFailure {
  step: MigrationStep;
  message: string;
}

export type MigrationOutcome = 'completed' | 'failed' | 'skipped' | 'dry-run' | 'pending';

export interface MigrationResult {
  name: string;
  outcome: MigrationOutcome;
  workflowId?: string;
  reason?: string;
  durationMs: number;
  changes?: string[];
  backups?: BackupRef[];
  verify?: VerifyOutcome;
  error?: MigrationFailure;
  /** `down` ran as part of the rollback. */
  rolledBack?: boolean;
  restored?: RestoreResult[];
  /** The rollback itself failed: the data may be half-applied; restore by hand from `backups`. */
  restoreFailed?: string;
  dryRun?: DryRunReport;
}

export interface MigrationInput {
  name: string;
  dryRun?: boolean;
  /** Run again even when completed. */
  force?: boolean;
  /** The batch run that started it. */
  runWorkflowId?: string;
}

export interface RunMigrationsInput {
  /** Only these (still in file order); all when absent. */
  names?: string[];
  dryRun?: boolean;
  /** Stop at the first failure; the rest stay pending. */
  stopOnError?: boolean;
  force?: boolean;
  requestedBy?: string;
  /** The API request's correlation ID; the workflow interceptors carry it to every activity and child. */
  correlationId?: string;
}

export interface RunMigrationsResult {
  dryRun: boolean;
  stopOnError: boolean;
  state: 'running' | 'completed' | 'failed';
  results: MigrationResult[];
}

export interface MigrationProgress {
  step: MigrationStep;
  collection?: string;
  done: number;
  total?: number;
  updatedAt: string;
}

export interface MigrationPlanEntry {
  name: string;
  action: 'run' | 'skip';
  reason?: string;
}

/** Activity outcome of planning one migration. */
export interface MigrationPlan {
  skip?: string;
  collections: string[];
  hasDown: boolean;
}

/** The workflows as their clients start them (by MigrationNames.workflow / runWorkflow): typed args and result. */
export type MigrationWorkflow = (input: MigrationInput) => Promise<MigrationResult>;
export type RunMigrationsWorkflow = (input: RunMigrationsInput) => Promise<RunMigrationsResult>;
/** One migration so far, with the step it is at. */
export const migrationProgressQuery = defineQuery<MigrationResult & { step: MigrationStep }>(MigrationNames.progressQuery);
/** A batch run's results so far. */
export const migrationRunProgressQuery = defineQuery<RunMigrationsResult>(MigrationNames.runProgressQuery);
