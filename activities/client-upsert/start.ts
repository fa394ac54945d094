import { createHash, randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { ClientUpsertIds, ClientUpsertNames } from '../../shared/client-upsert';
import type { UpsertAllClientsWorkflow, UpsertAllInput, UpsertAllResult } from '../../shared/client-upsert';
import { Operations, SearchAttributeKeys } from '../../shared/constants';
import { CallDeadlines, withTimeout } from '../../infra/timeout';

// Starts the client upsert (worker start, API, CLI): idempotent by workflow ID. A start while
// a run with the same ID is going joins it (conflict policy USE_EXISTING); a finished one may
// run again. "All" has one fixed ID per task queue; a list of keys gets an ID from its sorted keys.

const OperationKey = SearchAttributeKeys.Operation;

export interface StartClientUpsertOptions {
  client: Client;
  taskQueue: string;
  /** Only these clients; absent: all. */
  keys?: readonly string[];
  /** Upsert even unchanged clients (ignored when joining a running run). */
  force?: boolean;
  /** Clients upserted in parallel. */
  concurrency: number;
  /** Who asked: kept in the memo. */
  trigger: 'worker-start' | 'api' | 'cli' | 'bench' | 'test';
  correlationId?: string;
  /** The token subject of the API request that starts it: kept in the memo (GET /api/clients/runs/:workflowId shows it). */
  requestedBy?: string;
  /** Deadline for the start call: an unreachable server can hang past the SDK's timeouts. @default CallDeadlines.temporalMs (10 s) */
  timeoutMs?: number;
}

export interface StartedClientUpsert {
  workflowId: string;
  runId: string;
  correlationId: string;
  keys: string[] | 'all';
  result(): Promise<UpsertAllResult>;
}

export function clientUpsertWorkflowId(taskQueue: string, keys?: readonly string[]): string {
  if (!keys) return ClientUpsertIds.all(taskQueue);
  const sorted = [...new Set(keys)].sort();
  return ClientUpsertIds.batch(taskQueue, createHash('sha256').update(sorted.join('\n')).digest('hex').slice(0, 20));
}

export async function startClientUpsert(o: StartClientUpsertOptions): Promise<StartedClientUpsert> {
  const keys = o.keys ? [...new Set(o.keys)].sort() : undefined;
  const workflowId = clientUpsertWorkflowId(o.taskQueue, keys);
  const correlationId = o.correlationId ?? `clients-${Date.now()}-${randomUUID().slice(0, 8)}`;
  const input: UpsertAllInput = {
    correlationId,
    concurrency: o.concurrency,
    ...(keys ? { keys } : {}),
    ...(o.force ? { force: true } : {}),
  };
  const handle = await withTimeout('start client upsert', o.timeoutMs ?? CallDeadlines.temporalMs, (signal) =>
    o.client.connection.withAbortSignal(signal, () =>
      o.client.workflow.start<UpsertAllClientsWorkflow>(ClientUpsertNames.allWorkflow, {
        workflowId,
        taskQueue: o.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        // A run nobody picks up (no worker on the queue) must not be joined forever.
        workflowRunTimeout: '1 hour',
        typedSearchAttributes: [{ key: OperationKey, value: Operations.clientUpsert }],
        memo: {
          what: `client upsert of ${keys ? `${keys.length} client(s)` : 'all clients'}`,
          trigger: o.trigger,
          correlationId,
          ...(o.requestedBy ? { requestedBy: o.requestedBy } : {}),
        },
      }),
    ),
  );
  const runId = handle.firstExecutionRunId;
  const result = () => o.client.workflow.getHandle<UpsertAllClientsWorkflow>(workflowId, runId, { followRuns: true }).result();
  return { workflowId, runId, correlationId, keys: keys ?? 'all', result };
}
