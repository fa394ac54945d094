import { createRemoteInvalidator } from '../../infra/cache-bus';
import { baseQueueOf, laneQueues } from '../../shared/lanes';
import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { Collections } from '../../infra/mongo';
import type { StuckSweepInput, StuckSweepResult, StuckSyncFinding } from '../../shared/cleanup';
import { SearchAttributeKeys } from '../../shared/constants';
import { SyncErrorType } from '../../shared/errors';
import { syncCorrelationId, TenantSyncNames, tenantSyncStartOptions } from '../../shared/tenant-sync';
import type { TenantSyncInput, TenantSyncWorkflow } from '../../shared/tenant-sync';
import { currentActivity } from '../activity-context';
import type { ActivityDeps } from '../deps';
import { createStuckSyncStore } from './stuck-store';
import { lastMovedAt, lastProgressOf, progressCollection, progressOfRun } from '../tenant-sync/progress';
import type { SyncRunDoc } from '../tenant-sync/store';

// The stuck-sync sweep: finds (a) TenantSyncWorkflow executions on this task queue and (b)
// sync_runs documents still `running` that no workflow will ever finish (direct runs of a dead
// API process, runs whose workflow is gone) — each only when it made no progress for the
// threshold: no progress mark of its tenant (sync-progress.ts), no activity heartbeat, and (with
// neither) a start older than that. Old but moving is not stuck: a sync may legally run an hour.
// Each is recorded in stuck_syncs and, per SYNC_STUCK_ACTION, left alone, terminated, or
// terminated and started again with its original input.

/** At most this many stuck runs are settled per sweep; the next sweep takes the rest. */
export const MAX_FINDINGS_PER_SWEEP = 100;

/** A protobuf Timestamp in ms (0 when absent). */
const msOf = (t: { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined) =>
  t?.seconds == null ? 0 : (typeof t.seconds === 'number' ? t.seconds : t.seconds.toNumber()) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 500);
const invalid = (message: string) => ApplicationFailure.create({ type: SyncErrorType.VALIDATION_ERROR, message, nonRetryable: true });

export function createStuckSyncActivities({ mongo, redis, log, temporalClient }: ActivityDeps) {
  const store = createStuckSyncStore(mongo.db);
  // A run settled here changes the tenant's status, which the API caches.
  const invalidator = createRemoteInvalidator(redis, mongo.db.databaseName, log);
  const markRunFailed = async (...args: Parameters<typeof store.markRunFailed>) => {
    const changed = await store.markRunFailed(...args);
    await invalidator.drop('sync-status', args[1]);
    return changed;
  };
  const runs = mongo.db.collection<SyncRunDoc>(Collections.syncRuns);
  const progress = progressCollection(mongo.db);

  /** The workflow's start input, read back from its first history event. */
  async function originalInput(client: Client, wf: WorkflowExecutionInfo): Promise<TenantSyncInput> {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    if (!payload) throw new Error(`workflow ${wf.workflowId} has no start input in its history`);
    // The platform uses the default data converter (no codec), so the payload converter decodes it.
    return client.options.loadedDataConverter.payloadConverter.fromPayload<TenantSyncInput>(payload);
  }

  /** Starts the tenant's sync again like a login does (fresh correlationId); joins one a login started meanwhile. */
  async function restart(client: Client, wf: WorkflowExecutionInfo, input: TenantSyncInput): Promise<string> {
    const now = Date.now();
    const fresh: TenantSyncInput = {
      ...input,
      correlationId: syncCorrelationId(input.tenantId, now, randomBytes(4).toString('hex')),
      startedAt: new Date(now).toISOString(),
    };
    await client.workflow.start<TenantSyncWorkflow>(TenantSyncNames.workflow, tenantSyncStartOptions(fresh, wf.taskQueue, 'stuck-restart'));
    return fresh.correlationId;
  }

  /** The newest heartbeat of the run's pending activities (local activities have none). */
  async function lastHeartbeat(client: Client, wf: WorkflowExecutionInfo): Promise<Date | undefined> {
    const d = await client.workflow.getHandle(wf.workflowId, wf.runId).describe();
    const beats = (d.raw.pendingActivities ?? []).map((a) => msOf(a.lastHeartbeatTime));
    return beats.length && Math.max(...beats) > 0 ? new Date(Math.max(...beats)) : undefined;
  }

  const memoOf = (wf: WorkflowExecutionInfo) => (wf.memo ?? {}) as { tenantId?: string; correlationId?: string };
  const tenantOf = (wf: WorkflowExecutionInfo) =>
    memoOf(wf).tenantId ?? wf.typedSearchAttributes.get(SearchAttributeKeys.TenantId) ?? 'unknown';
  const since = (startedAt: Date, last: Date) =>
    last.getTime() > startedAt.getTime()
      ? `no progress since ${last.toISOString()} (running since ${startedAt.toISOString()})`
      : `no progress since it started at ${startedAt.toISOString()}`;

  async function settleWorkflow(
    client: Client,
    wf: WorkflowExecutionInfo,
    input: StuckSweepInput,
    now: Date,
    last: Date,
  ): Promise<StuckSyncFinding> {
    const memo = memoOf(wf);
    const tenantId = tenantOf(wf);
    const finding: StuckSyncFinding = {
      id: `wf:${wf.workflowId}:${wf.runId}`,
      kind: 'workflow',
      tenantId,
      workflowId: wf.workflowId,
      workflowRunId: wf.runId,
      ...(memo.correlationId ? { syncRunId: memo.correlationId } : {}),
      startedAt: wf.startTime.toISOString(),
      lastProgressAt: last.toISOString(),
      action: input.action,
      outcome: 'reported',
    };
    if (input.action === 'report') return finding;
    try {
      const startInput = input.action === 'restart' ? await originalInput(client, wf) : undefined;
      const reason = `stuck: ${since(wf.startTime, last)}, over ${input.stuckAfterMs} ms (stuck-sync sweep, action ${input.action})`;
      // Terminate exactly this run: a newer run of the same workflow ID is not stuck.
      await client.workflow.getHandle(wf.workflowId, wf.runId).terminate(reason);
      if (memo.correlationId)
        await markRunFailed(memo.correlationId, tenantId, { action: input.action, outcome: 'terminated', reason }, now);
      if (!startInput) return { ...finding, outcome: 'terminated' };
      return { ...finding, outcome: 'restarted', restartedCorrelationId: await restart(client, wf, startInput) };
    } catch (err) {
      log.warn({ err: messageOf(err), workflowId: wf.workflowId, runId: wf.runId }, 'could not settle a stuck tenant sync');
      return { ...finding, outcome: 'failed', error: messageOf(err) };
    }
  }

  /** True when the run's workflow is still running that very sync (a queue other than ours owns it). */
  async function workflowStillRuns(client: Client, doc: SyncRunDoc): Promise<boolean> {
    if (doc.method !== 'temporal' || !doc.workflowId) return false;
    try {
      const d = await client.workflow.getHandle(doc.workflowId).describe();
      return d.status.name === 'RUNNING' && (d.memo as { correlationId?: string } | undefined)?.correlationId === doc._id;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  async function settleOrphan(doc: SyncRunDoc, input: StuckSweepInput, now: Date, last: Date): Promise<StuckSyncFinding> {
    const finding: StuckSyncFinding = {
      id: `run:${doc._id}`,
      kind: 'orphaned-run',
      tenantId: doc.tenantId,
      ...(doc.workflowId ? { workflowId: doc.workflowId } : {}),
      syncRunId: doc._id,
      startedAt: doc.startedAt.toISOString(),
      lastProgressAt: last.toISOString(),
      action: input.action,
      outcome: 'reported',
    };
    if (input.action === 'report') return finding;
    // Nothing runs it any more: settling means marking it failed (there is no execution to restart).
    const reason = `stuck: marked running, ${since(doc.startedAt, last)}, with nothing running it (stuck-sync sweep)`;
    await markRunFailed(doc._id, doc.tenantId, { action: input.action, outcome: 'terminated', reason }, now);
    return { ...finding, outcome: 'terminated' };
  }

  /** One sweep; `taskQueue` limits it to this deployment's workflows (namespaces can be shared). */
  async function sweepStuckSyncs(input: StuckSweepInput & { taskQueue: string }): Promise<StuckSweepResult> {
    const client = temporalClient;
    if (!client) throw invalid('sweepStuckSyncs needs a Temporal client (ActivityDeps.temporalClient); the worker provides one');
    if (!(input.stuckAfterMs > 0)) throw invalid(`stuckAfterMs must be a positive number of ms, got ${String(input.stuckAfterMs)}`);
    if (!['report', 'terminate', 'restart'].includes(input.action))
      throw invalid(`action must be report, terminate or restart, got '${String(input.action)}'`);
    if (/['"\\]/.test(input.taskQueue)) throw invalid(`task queue '${input.taskQueue}' cannot be used in a visibility query`);
    const now = new Date();
    const cutoff = new Date(now.getTime() - input.stuckAfterMs);
    const findings: StuckSyncFinding[] = [];
    const note = async (f: StuckSyncFinding) => {
      await store.record(f, now);
      findings.push(f);
      currentActivity()?.heartbeat({ found: findings.length });
    };

    // Tenant syncs run on the interactive lane's queue (TEMPORAL_LANES) or, lanes off, on the main one.
    const lanes = laneQueues(baseQueueOf(input.taskQueue));
    const queues = `(TaskQueue = '${lanes.main}' OR TaskQueue = '${lanes.interactive}')`;
    const query = `WorkflowType = '${TenantSyncNames.workflow}' AND ExecutionStatus = 'Running' AND ${queues} AND StartTime < '${cutoff.toISOString()}'`;
    // Started before the cutoff (a younger run cannot have gone that long without progress).
    const claimedRuns = new Set<string>();
    let moving = 0;
    for await (const wf of client.workflow.list({ query, pageSize: MAX_FINDINGS_PER_SWEEP })) {
      if (findings.length >= MAX_FINDINGS_PER_SWEEP) break;
      const tenantId = tenantOf(wf);
      const runId = memoOf(wf).correlationId;
      const mark = progressOfRun((await lastProgressOf(progress, [tenantId])).get(tenantId), runId);
      const last = lastMovedAt(wf.startTime, mark, await lastHeartbeat(client, wf));
      if (runId) claimedRuns.add(runId);
      if (last >= cutoff) {
        moving += 1;
        continue;
      }
      await note(await settleWorkflow(client, wf, input, now, last));
    }

    const stale = await runs
      .find({ state: 'running', startedAt: { $lt: cutoff } })
      .limit(MAX_FINDINGS_PER_SWEEP * 4)
      .toArray();
    const marks = await lastProgressOf(
      progress,
      stale.map((d) => d.tenantId),
    );
    for (const doc of stale) {
      if (findings.length >= MAX_FINDINGS_PER_SWEEP) break;
      const last = lastMovedAt(doc.startedAt, progressOfRun(marks.get(doc.tenantId), doc._id));
      if (claimedRuns.has(doc._id) || last >= cutoff) continue;
      if (await workflowStillRuns(client, doc)) continue;
      await note(await settleOrphan(doc, input, now, last));
    }

    await store.closeUnseen(now);
    const count = (o: StuckSyncFinding['outcome']) => findings.filter((f) => f.outcome === o).length;
    const result: StuckSweepResult = {
      cutoff: cutoff.toISOString(),
      found: findings.length,
      reported: count('reported'),
      terminated: count('terminated'),
      restarted: count('restarted'),
      failed: count('failed'),
      findings,
    };
    if (findings.length > 0)
      log.warn(
        {
          cutoff: result.cutoff,
          found: result.found,
          terminated: result.terminated,
          restarted: result.restarted,
          failed: result.failed,
          stillMoving: moving,
          action: input.action,
        },
        'stuck tenant syncs found',
      );
    return result;
  }

  return { sweepStuckSyncs };
}

export type StuckSyncActivities = ReturnType<typeof createStuckSyncActivities>;
