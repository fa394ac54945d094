import type { Db } from 'mongodb';
import type { MigrationStep } from '../../shared/migrations';
import { currentActivity } from '../activity-context';
import type { ActivityDeps } from '../deps';
import type { MigrationContext } from './registry';
import type { MigrationStore } from './store';

// What the migration activities share: per-step loggers, throttled progress into the state
// document, background heartbeats, and the ctx handed to up/verify/down.

const PROGRESS_EVERY_MS = 500;
const AUTO_HEARTBEAT_MS = 5_000;

export function createMigrationContexts(deps: ActivityDeps, store: MigrationStore, batchSize: number) {
  function logFor(name: string, step: MigrationStep) {
    const a = currentActivity();
    return deps.log.child({
      migration: name,
      step,
      ...(a ? { workflowId: a.info.workflowExecution?.workflowId, attempt: a.info.attempt } : { method: 'direct' }),
    });
  }

  /** Progress into the state document (read by /api/migrations/status and the CLI bars), throttled. */
  function progressReporter(name: string, step: MigrationStep, enabled = true) {
    let last = 0;
    return (done: number, total: number | undefined, collection?: string) => {
      const now = Date.now();
      if (!enabled || (now - last < PROGRESS_EVERY_MS && done !== total)) return;
      last = now;
      const p = {
        step,
        done,
        updatedAt: new Date(now).toISOString(),
        ...(total !== undefined ? { total } : {}),
        ...(collection ? { collection } : {}),
      };
      store
        .setProgress(name, p)
        .catch((err: unknown) =>
          deps.log.debug({ err: err instanceof Error ? err.message : String(err) }, 'could not record migration progress'),
        );
    };
  }

  /**
   * Heartbeats every few seconds with the latest checkpoint: on FerretDB an `_id`-sorted cursor
   * answers its first batch only after reading the whole collection (~20 s per 200k documents).
   */
  function keepAlive(latest: () => unknown): () => void {
    const a = currentActivity();
    if (!a) return () => undefined;
    const timer = setInterval(() => a.heartbeat(latest()), AUTO_HEARTBEAT_MS);
    return () => clearInterval(timer);
  }

  /** The ctx of up/verify/down; heartbeats on its own while user code runs. */
  function contextFor(name: string, step: MigrationStep, target: Db, dryRun: boolean): { ctx: MigrationContext; stop(): void } {
    const a = currentActivity();
    const abort = new AbortController();
    const onCancel = () => abort.abort(new Error('activity cancelled'));
    a?.cancellationSignal.addEventListener('abort', onCancel);
    const report = progressReporter(name, step, !dryRun);
    const timer = a ? setInterval(() => a.heartbeat(), AUTO_HEARTBEAT_MS) : undefined;
    const ctx: MigrationContext = {
      db: target,
      logger: logFor(name, step).child({ dryRun }),
      dryRun,
      changes: [],
      batchSize,
      progress: (done, total, collection) => {
        a?.heartbeat();
        report(done, total, collection);
      },
      signal: abort.signal,
    };
    return { ctx, stop: () => (clearInterval(timer), a?.cancellationSignal.removeEventListener('abort', onCancel)) };
  }

  return { logFor, progressReporter, keepAlive, contextFor };
}

export type MigrationContexts = ReturnType<typeof createMigrationContexts>;
