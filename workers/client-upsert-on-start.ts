import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { startClientUpsert } from '../activities/client-upsert/start';
import type { PauseStore } from '../activities/maintenance/pause-store';
import type { AppConfig } from '../infra/config';
import type { Logger } from '../infra/logger';
import { workflowClientInterceptors } from '../infra/temporal-interceptors';

/**
 * At worker start: start the upsert of every client, or join the one already running (fixed
 * workflow ID, conflict policy USE_EXISTING) — so N workers starting together cause one run.
 * Never throws: a failed start is logged and the worker keeps serving.
 */
export async function upsertClientsOnStart(o: {
  connection: NativeConnection;
  config: AppConfig;
  log: Logger;
  /** Work pauses (an operator paused client upsert: the worker does not start one either). */
  pauses?: Pick<PauseStore, 'get'>;
}): Promise<void> {
  try {
    const paused = await o.pauses?.get('client-upsert');
    if (paused) {
      o.log.warn({ pausedBy: paused.pausedBy, reason: paused.reason }, 'client upsert is paused: not started at worker start');
      return;
    }
    const client = new Client({
      connection: o.connection,
      namespace: o.config.TEMPORAL_NAMESPACE,
      interceptors: { workflow: workflowClientInterceptors({ priority: o.config.TEMPORAL_PRIORITY, lanes: o.config.TEMPORAL_LANES }) },
    });
    const started = await startClientUpsert({
      client,
      taskQueue: o.config.TEMPORAL_TASK_QUEUE,
      concurrency: o.config.CLIENT_UPSERT_CONCURRENCY,
      trigger: 'worker-start',
    });
    o.log.info(
      { workflowId: started.workflowId, runId: started.runId, dir: o.config.CLIENTS_DIR },
      'client upsert of all clients started (or joined)',
    );
  } catch (err) {
    o.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not start the client upsert at worker start');
  }
}
