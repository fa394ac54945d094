import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Context } from '@temporalio/activity';
import type { Logger } from '../../infra/logger';
import { partitionProgressUpdate, type PartitionCheckpoint, type PartitionReport } from '../../shared/reconcile';

// A partition's progress reports to its workflow: an Update, so the answer can say "stop"
// (draining before continue-as-new, or cancelled) and a refused report writes no history.
// One report in flight at a time; chunks done meanwhile are folded into the next one.

export interface ProgressReporterOptions {
  ctx: Context | undefined;
  partition: number;
  workerId: string;
  intervalMs: number;
  /** Aborted when the workflow answers "stop" or refuses the report. */
  halt: AbortController;
  snapshot: () => PartitionCheckpoint;
  log: Logger;
}

export function createProgressReporter(o: ProgressReporterOptions): (force: boolean) => Promise<void> {
  const wfId = o.ctx?.info.workflowExecution?.workflowId;
  let lastReport = 0;
  let inFlight: Promise<void> | undefined;
  let again = false;
  const send = (): Promise<void> => {
    lastReport = Date.now();
    const r: PartitionReport = { partition: o.partition, checkpoint: o.snapshot(), worker: o.workerId };
    inFlight = o
      .ctx!.client.workflow.getHandle(wfId!)
      .executeUpdate(partitionProgressUpdate, { args: [r] })
      .then((answer) => {
        if (answer === 'stop') o.halt.abort();
      })
      .catch((err: unknown) => {
        if (err instanceof WorkflowUpdateFailedError) o.halt.abort();
        else o.log.debug({ err: String(err) }, 'progress report failed');
      })
      .finally(() => {
        inFlight = undefined;
        if (again && !o.halt.signal.aborted) {
          again = false;
          void send();
        }
      });
    return inFlight;
  };
  return async (force) => {
    if (!o.ctx || !wfId || o.halt.signal.aborted) return;
    if (force) {
      while (inFlight) await inFlight;
      if (!o.halt.signal.aborted) await send();
      return;
    }
    if (Date.now() - lastReport < o.intervalMs) return;
    if (inFlight) again = true;
    else void send();
  };
}
