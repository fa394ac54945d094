import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { Collections } from '../../../infra/mongo';
import { createLogger } from '../../../infra/logger';
import { CleanupNames, ScheduleNames, scheduleIdFor, type StuckSweepInput, type StuckSweepResult } from '../../../shared/cleanup';
import { WorkflowIds } from '../../../shared/constants';
import { ensureSchedules, scheduleOptions } from '../../../workers/schedules';
import { cliRunner } from '../../helpers/cli';
import { startLoginBench, type LoginBench } from '../../helpers/login';
import { startTestWorker, uniqueId } from '../../helpers/stack';

// Schedules (created or updated idempotently, overlap SKIP, operated through /api/schedules and
// the CLI on top of it) and the stuck-sync sweep against real tenant syncs held running by a slow
// fixture upstream.

const COLLECTIONS = [
  { name: 'users', essential: true, size: 20 },
  { name: 'audit', essential: false, size: 20 },
];
const STUCK_AFTER_MS = 1_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('schedules and stuck-sync detection', () => {
  let bench: LoginBench;
  const deps = () => bench.deps;
  const quiet = createLogger({ name: 'test', level: 'silent' });
  const schedules = () => deps().temporal.client.schedule;
  const configFor = (taskQueue: string, over: Partial<LoginBench['deps']['config']> = {}) => ({
    ...deps().config,
    TEMPORAL_TASK_QUEUE: taskQueue,
    ...over,
  });
  const idsOf = async (taskQueue: string) => {
    const out: string[] = [];
    for await (const s of schedules().list()) if (s.scheduleId.endsWith(`:${taskQueue}`)) out.push(s.scheduleId);
    return out.sort();
  };

  beforeAll(async () => {
    // Small pages and frequent progress marks, so a sync of a few pages outlives the 1 s threshold while moving.
    bench = await startLoginBench({ settings: { tenantSync: { pageSize: 5, progressEveryMs: 100 } } });
  });
  afterAll(async () => bench?.close());

  describe('schedules', () => {
    it('ensureSchedules creates every schedule once, then updates them in place (a paused one stays paused)', async () => {
      const tq = uniqueId('tq-sched');
      const first = await ensureSchedules({ client: deps().temporal.client, config: configFor(tq), log: quiet });
      const expected = Object.values(ScheduleNames)
        .map((n) => scheduleIdFor(n, tq))
        .sort();
      expect(first.created.sort()).toEqual(expected);
      expect(first.updated).toEqual([]);

      const sweepId = scheduleIdFor(ScheduleNames.stuckSyncSweep, tq);
      await schedules().getHandle(sweepId).pause('maintenance');
      const second = await ensureSchedules({
        client: deps().temporal.client,
        config: configFor(tq, {
          CLEANUP_INTERVAL_MS: 7_200_000,
          STUCK_SYNC_SWEEP_INTERVAL_MS: 60_000,
          SYNC_STUCK_ACTION: 'restart',
          SCHEDULE_CATCHUP_WINDOW_MS: 120_000,
        }),
        log: quiet,
      });
      expect(second.created).toEqual([]);
      expect(second.updated.sort()).toEqual(expected);
      await expect.poll(() => idsOf(tq), { timeout: 10_000 }).toEqual(expected);

      const sweep = await schedules().getHandle(sweepId).describe();
      expect(sweep.spec.intervals).toMatchObject([{ every: 60_000 }]);
      expect(sweep.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 120_000 });
      expect(sweep.action).toMatchObject({
        workflowType: CleanupNames.stuckSyncSweepWorkflow,
        taskQueue: tq,
        args: [{ stuckAfterMs: deps().config.SYNC_STUCK_AFTER_MS, action: 'restart' }],
      });
      expect(sweep.state).toMatchObject({ paused: true, note: 'maintenance' });
      const runs = await schedules().getHandle(scheduleIdFor(ScheduleNames.cleanupReconcile, tq)).describe();
      expect(runs.spec.intervals).toMatchObject([{ every: 7_200_000 }]);
      expect(runs.action.args).toEqual([
        { target: 'reconcile', retentionMs: deps().config.RECONCILE_RETENTION_MS, batchSize: deps().config.CLEANUP_BATCH_SIZE },
      ]);
      expect(runs.state.paused).toBe(false);
    });

    it('two concurrent triggers while the action is running start it once (overlap SKIP)', async () => {
      // No worker polls this queue yet, so the first triggered run stays Running.
      const tq = uniqueId('tq-skip');
      const config = configFor(tq);
      const opts = scheduleOptions(config).find((o) => o.scheduleId === scheduleIdFor(ScheduleNames.cleanupSyncRuns, tq))!;
      await schedules().create(opts);
      const handle = schedules().getHandle(opts.scheduleId);
      await Promise.all([handle.trigger(ScheduleOverlapPolicy.SKIP), handle.trigger(ScheduleOverlapPolicy.SKIP)]);
      await expect.poll(async () => (await handle.describe()).info.numActionsTaken, { timeout: 15_000 }).toBe(1);
      // The scheduler handles its requests in order: once a later one (a note) shows, both triggers
      // were handled — the second dropped, not buffered. (A skipped manual trigger is not counted
      // in numActionsSkippedOverlap.)
      await handle.unpause('after both triggers');
      await expect.poll(async () => (await handle.describe()).state.note, { timeout: 15_000 }).toBe('after both triggers');
      const described = await handle.describe();
      const info = described.info;
      expect(info.numActionsTaken).toBe(1);
      expect(info.recentActions).toHaveLength(1);
      expect(info.runningActions).toHaveLength(1);
      expect(Number(described.raw.info?.bufferSize ?? 0)).toBe(0);

      const worker = await startTestWorker(deps(), { taskQueue: tq });
      try {
        const started = info.recentActions[0]!.action.workflow;
        const result = await deps().temporal.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId).result();
        expect(result).toMatchObject({ target: 'sync-runs' });
        // Once the scheduler has seen the run end, nothing was waiting to start after it.
        await expect.poll(async () => (await handle.describe()).info.runningActions.length, { timeout: 15_000 }).toBe(0);
        expect((await handle.describe()).info.numActionsTaken).toBe(1);
        const listed: string[] = [];
        for await (const wf of deps().temporal.client.workflow.list({ query: `TemporalScheduledById = '${opts.scheduleId}'` }))
          listed.push(wf.workflowId);
        expect(listed).toEqual([started.workflowId]);
        // Once the run is over, a trigger starts the action again.
        await handle.trigger(ScheduleOverlapPolicy.SKIP);
        await expect.poll(async () => (await handle.describe()).info.numActionsTaken, { timeout: 15_000 }).toBe(2);
      } finally {
        await worker.stop();
        await handle.delete();
      }
    });

    it('the routes list, describe, pause, unpause and trigger; an unknown ID → 404, bad input → 400, a trigger key replays', async () => {
      // No worker polls this queue: a triggered run stays running, so every action taken is counted.
      const tq = uniqueId('tq-api');
      await ensureSchedules({ client: deps().temporal.client, config: configFor(tq), log: quiet });
      await expect.poll(() => idsOf(tq), { timeout: 10_000 }).toHaveLength(5);
      const a = await bench.app({ TEMPORAL_TASK_QUEUE: tq });
      const call = (method: 'GET' | 'POST', url: string, payload?: object, headers: Record<string, string> = {}) =>
        a.inject({ method, url, headers: { ...bench.admin, ...headers }, ...(payload ? { payload } : {}) });
      const id = scheduleIdFor(ScheduleNames.cleanupSyncRuns, tq);
      try {
        const listed = await call('GET', '/api/schedules');
        expect(listed.statusCode, listed.body).toBe(200);
        expect(listed.json()).toMatchObject({ taskQueue: tq });
        expect(listed.json().schedules.map((r: { scheduleId: string }) => r.scheduleId)).toEqual(
          Object.values(ScheduleNames)
            .map((n) => scheduleIdFor(n, tq))
            .sort(),
        );
        const all = (await call('GET', '/api/schedules?all=true')).json();
        expect(all.schedules.length).toBeGreaterThanOrEqual(5);

        // A short name resolves on the API's task queue; the full ID is the same schedule.
        const described = await call('GET', `/api/schedules/${ScheduleNames.cleanupSyncRuns}`);
        expect(described.statusCode, described.body).toBe(200);
        expect(described.json()).toMatchObject({
          scheduleId: id,
          workflowType: CleanupNames.cleanupWorkflow,
          taskQueue: tq,
          policies: { overlap: 'SKIP' },
          state: { paused: false },
          actionsTaken: 0,
        });
        expect((await call('GET', `/api/schedules/${encodeURIComponent(id)}`)).json().scheduleId).toBe(id);

        const paused = await call('POST', `/api/schedules/${id}/pause`, { note: 'api test' });
        expect(paused.statusCode, paused.body).toBe(200);
        expect(paused.json()).toEqual({ scheduleId: id, paused: true });
        expect((await schedules().getHandle(id).describe()).state).toMatchObject({ paused: true, note: 'api test' });
        expect((await call('POST', `/api/schedules/${id}/unpause`, {})).json()).toEqual({ scheduleId: id, paused: false });
        expect((await schedules().getHandle(id).describe()).state).toMatchObject({
          paused: false,
          note: expect.stringContaining('unpaused'),
        });

        // Unknown IDs: 404 problems naming the resolved ID, on every route.
        for (const [method, url, payload, headers] of [
          ['GET', '/api/schedules/no-such-schedule', undefined, {}],
          ['POST', '/api/schedules/no-such-schedule/pause', {}, {}],
          ['POST', '/api/schedules/no-such-schedule/unpause', {}, {}],
          ['POST', `/api/schedules/no-such:${tq}/trigger`, {}, { 'idempotency-key': uniqueId('k') }],
        ] as const) {
          const res = await call(method, url, payload, headers);
          expect(res.statusCode, url).toBe(404);
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
          expect(res.json().scheduleId, url).toMatch(/^no-such/);
        }
        expect((await call('GET', '/api/schedules/no-such-schedule')).json()).toMatchObject({
          status: 404,
          scheduleId: `no-such-schedule:${tq}`,
          detail: `schedule 'no-such-schedule:${tq}' was not found`,
        });

        // Bad input: 400, and the schedule is unchanged.
        const trigger = (payload: object, key?: string) =>
          call('POST', `/api/schedules/${id}/trigger`, payload, key ? { 'idempotency-key': key } : {});
        const refusals = [
          await trigger({ overlap: 'sometimes' }, uniqueId('k')),
          await trigger({}),
          await call('POST', `/api/schedules/${id}/pause`, { note: 'x', paused: true }),
          await call('GET', '/api/schedules?all=yes'),
          await call('GET', `/api/schedules/${encodeURIComponent('bad id!')}`),
        ];
        expect(refusals.map((r) => r.statusCode)).toEqual([400, 400, 400, 400, 400]);
        expect(refusals[1]!.json().detail).toMatch(/Idempotency-Key header is required/);
        const d = await schedules().getHandle(id).describe();
        expect({ paused: d.state.paused, taken: d.info.numActionsTaken }).toEqual({ paused: false, taken: 0 });

        // ALLOW_ALL would start a second run on a repeat: the same key replays the answer instead.
        const key = uniqueId('trigger');
        const first = await trigger({ overlap: 'ALLOW_ALL' }, key);
        expect(first.statusCode, first.body).toBe(202);
        expect(first.json()).toEqual({ scheduleId: id, triggered: true, overlap: 'ALLOW_ALL' });
        const again = await trigger({ overlap: 'ALLOW_ALL' }, key);
        expect(again.statusCode).toBe(202);
        expect(again.headers['idempotent-replayed']).toBe('true');
        // Once a later request (a note) shows, the scheduler has handled everything sent before it.
        await call('POST', `/api/schedules/${id}/unpause`, { note: 'after the triggers' });
        await expect
          .poll(async () => (await schedules().getHandle(id).describe()).state.note, { timeout: 15_000 })
          .toBe('after the triggers');
        await expect.poll(async () => (await schedules().getHandle(id).describe()).info.numActionsTaken, { timeout: 15_000 }).toBe(1);
      } finally {
        for (const sid of await idsOf(tq)) {
          const h = schedules().getHandle(sid);
          const running = (await h.describe()).info.runningActions;
          await Promise.allSettled(
            running.map((r) => deps().temporal.client.workflow.getHandle(r.workflow.workflowId).terminate('test over')),
          );
          await h.delete();
        }
      }

      // Without Temporal: 503 naming it.
      const off = await bench.app({ TEMPORAL_ENABLED: false }, { temporal: undefined });
      const res = await off.inject({ method: 'GET', url: '/api/schedules', headers: bench.admin });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ dependency: 'temporal' });
    });

    // Seven CLI processes (tsx start-up ≈ 3–5 s each on a busy machine), through an API on the schedules' task queue.
    it('the CLI lists, pauses, unpauses, describes and triggers schedules; bad input fails clearly', { timeout: 150_000 }, async () => {
      const tq = uniqueId('tq-cli');
      await ensureSchedules({ client: deps().temporal.client, config: configFor(tq), log: quiet });
      await expect.poll(() => idsOf(tq), { timeout: 10_000 }).toHaveLength(5);
      const api = await bench.app({ TEMPORAL_TASK_QUEUE: tq });
      const apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
      const runner = cliRunner(
        () => configFor(tq),
        () => apiUrl,
      );
      /** The command's output; a failure is returned (code, stderr) for the caller to check. */
      const cli = async (...args: string[]) => {
        const r = await runner('schedules', ...args);
        return r.code === 0 ? r : Promise.reject(r);
      };

      const listed = JSON.parse((await cli('list', '--json')).stdout) as Array<{ scheduleId: string; paused: boolean }>;
      expect(listed.map((r) => r.scheduleId)).toEqual(
        Object.values(ScheduleNames)
          .map((n) => scheduleIdFor(n, tq))
          .sort(),
      );

      await cli('pause', ScheduleNames.cleanupReconcile, '--note', 'investigating');
      const id = scheduleIdFor(ScheduleNames.cleanupReconcile, tq);
      expect((await schedules().getHandle(id).describe()).state).toMatchObject({ paused: true, note: 'investigating' });
      await cli('unpause', id);
      expect((await schedules().getHandle(id).describe()).state.paused).toBe(false);

      const described = JSON.parse((await cli('describe', ScheduleNames.cleanupReconcile)).stdout);
      expect(described).toMatchObject({ scheduleId: id, workflowType: CleanupNames.cleanupWorkflow, policies: { overlap: 'SKIP' } });

      expect(JSON.parse((await cli('trigger', ScheduleNames.cleanupReconcile)).stdout)).toEqual({
        scheduleId: id,
        triggered: true,
        overlap: 'SKIP',
      });
      await expect.poll(async () => (await schedules().getHandle(id).describe()).info.numActionsTaken, { timeout: 15_000 }).toBe(1);

      const bad = await cli('trigger', ScheduleNames.cleanupReconcile, '--overlap', 'sometimes').catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect(bad).toMatchObject({ code: 1, stderr: expect.stringContaining('--overlap must be one of') });
      const missing = await cli('describe', 'no-such-schedule').catch((e: { code: number; stderr: string }) => e);
      expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining(`schedule 'no-such-schedule:${tq}' not found`) });
      for (const sid of await idsOf(tq)) await schedules().getHandle(sid).delete();
    });
  });

  describe('stuck-sync sweep', () => {
    const sweep = (input: StuckSweepInput) =>
      deps().temporal.client.workflow.execute<(i: StuckSweepInput) => Promise<StuckSweepResult>>(CleanupNames.stuckSyncSweepWorkflow, {
        taskQueue: deps().config.TEMPORAL_TASK_QUEUE,
        workflowId: uniqueId('sweep-test'),
        args: [input],
        workflowExecutionTimeout: '1 minute',
      });
    const runDoc = (id: string) =>
      deps()
        .mongo.db.collection(Collections.syncRuns)
        .findOne({ _id: id as never });
    const health = async (a: Awaited<ReturnType<LoginBench['app']>>) =>
      (await a.inject({ method: 'GET', url: '/api/sync/health', headers: bench.syncer })).json();

    /** A Temporal login whose non-essential collection hangs: the run is recorded `running` and stays so. */
    async function stuckSync() {
      const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: true, SYNC_STUCK_AFTER_MS: STUCK_AFTER_MS });
      const tenantId = await bench.registerTenant(a, COLLECTIONS);
      bench.upstream.setLatency(tenantId, 'audit', 60_000);
      const body = (await bench.ensure(a, tenantId)).json();
      expect(body).toMatchObject({ syncMethod: 'temporal', essentialReady: true });
      await expect.poll(async () => (await runDoc(body.correlationId))?.state, { timeout: 10_000 }).toBe('running');
      await sleep(STUCK_AFTER_MS + 300);
      return {
        a,
        tenantId,
        correlationId: body.correlationId as string,
        handle: deps().temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId)),
      };
    }

    it('report: the stuck run is found, shown in /api/sync/health (degraded) and left running; closed once it ends', async () => {
      const s = await stuckSync();
      const r = await sweep({ stuckAfterMs: STUCK_AFTER_MS, action: 'report' });
      const mine = r.findings.find((f) => f.tenantId === s.tenantId);
      expect(mine).toMatchObject({
        kind: 'workflow',
        outcome: 'reported',
        syncRunId: s.correlationId,
        workflowId: WorkflowIds.tenantSync(s.tenantId),
      });
      expect((await s.handle.describe()).status.name).toBe('RUNNING');
      const h = await health(s.a);
      expect(h.status).toBe('degraded');
      expect(h.stuck.map((x: { runId: string }) => x.runId)).toContain(s.correlationId);
      expect(h.stuckDetection.recent.find((f: { id: string }) => f.id === mine!.id)).toMatchObject({
        open: true,
        outcome: 'reported',
        action: 'report',
      });
      expect(h.stuckDetection.open).toBeGreaterThanOrEqual(1);

      await s.handle.terminate('test over');
      await sweep({ stuckAfterMs: STUCK_AFTER_MS, action: 'report' });
      const after = await health(s.a);
      expect(after.stuckDetection.recent.find((f: { id: string }) => f.id === mine!.id)).toMatchObject({ open: false });
    });

    it('terminate: the stuck workflow run is terminated and its sync run marked failed with the reason', async () => {
      const s = await stuckSync();
      const r = await sweep({ stuckAfterMs: STUCK_AFTER_MS, action: 'terminate' });
      expect(r.findings.find((f) => f.tenantId === s.tenantId)).toMatchObject({
        kind: 'workflow',
        outcome: 'terminated',
        syncRunId: s.correlationId,
      });
      expect((await s.handle.describe()).status.name).toBe('TERMINATED');
      const doc = await runDoc(s.correlationId);
      expect(doc).toMatchObject({
        state: 'failed',
        stuck: { action: 'terminate', outcome: 'terminated', reason: expect.stringContaining('stuck: no progress since') },
      });
      const h = await health(s.a);
      expect(h.stuck.map((x: { runId: string }) => x.runId)).not.toContain(s.correlationId);
      expect(h.stuckDetection.recent.find((f: { syncRunId?: string }) => f.syncRunId === s.correlationId)).toMatchObject({
        open: false,
        outcome: 'terminated',
      });
    });

    it('restart: the stuck run is terminated and the sync started again with its input, which then completes', async () => {
      const s = await stuckSync();
      const r = await sweep({ stuckAfterMs: STUCK_AFTER_MS, action: 'restart' });
      const mine = r.findings.find((f) => f.tenantId === s.tenantId);
      expect(mine).toMatchObject({
        outcome: 'restarted',
        restartedCorrelationId: expect.stringMatching(new RegExp(`^sync-${s.tenantId}-`)),
      });
      expect(mine!.restartedCorrelationId).not.toBe(s.correlationId);
      expect(
        (await deps().temporal.client.workflow.getHandle(WorkflowIds.tenantSync(s.tenantId), mine!.workflowRunId).describe()).status.name,
      ).toBe('TERMINATED');
      const fresh = await s.handle.describe();
      expect(fresh.runId).not.toBe(mine!.workflowRunId);
      expect(fresh.memo).toMatchObject({ trigger: 'stuck-restart', correlationId: mine!.restartedCorrelationId });
      bench.upstream.setLatency(s.tenantId, 'audit', 0);
      expect(await s.handle.result()).toMatchObject({ runId: mine!.restartedCorrelationId, state: 'completed' });
      expect(await runDoc(s.correlationId)).toMatchObject({ state: 'failed' });
    });

    it('orphaned sync_runs (no progress, nothing runs them) are marked failed; recent, progressing or finished runs are untouched', async () => {
      const runs = deps().mongo.db.collection(Collections.syncRuns);
      const base = { tenantId: uniqueId('orphan'), fallbackUsed: false, collections: [] };
      const moving = { ...base, tenantId: uniqueId('moving') };
      const longAgo = new Date(Date.now() - 3_600_000);
      const longRun = uniqueId('long');
      // Left behind an hour ago; a later sync of its tenant moved 5 s ago: that is not *its* progress.
      const superseded = { ...base, tenantId: uniqueId('superseded') };
      await runs.insertMany([
        { _id: uniqueId('left') as never, ...superseded, method: 'direct', state: 'running', startedAt: longAgo },
        { _id: uniqueId('direct-dead') as never, ...base, method: 'direct', state: 'running', startedAt: longAgo },
        {
          _id: uniqueId('wf-gone') as never,
          ...base,
          method: 'temporal',
          workflowId: `tenant-sync:${uniqueId('nope')}`,
          state: 'running',
          startedAt: longAgo,
        },
        { _id: uniqueId('fresh') as never, ...base, method: 'direct', state: 'running', startedAt: new Date() },
        { _id: uniqueId('done') as never, ...base, method: 'direct', state: 'completed', startedAt: longAgo },
        // An hour old, and its tenant moved 5 s ago: long, not stuck.
        { _id: longRun as never, ...moving, method: 'direct', state: 'running', startedAt: longAgo },
      ]);
      const fiveSecondsAgo = new Date(Date.now() - 5_000);
      await deps()
        .mongo.db.collection(Collections.syncProgress)
        .insertMany([
          { _id: moving.tenantId as never, at: fiveSecondsAgo, runId: longRun, collection: 'audit' },
          { _id: superseded.tenantId as never, at: fiveSecondsAgo, runId: uniqueId('later-sync'), collection: 'audit' },
        ]);
      const r = await sweep({ stuckAfterMs: 60_000, action: 'terminate' });
      const mine = r.findings.filter((f) => f.tenantId === base.tenantId);
      expect(mine.map((f) => [f.kind, f.outcome]).sort()).toEqual([
        ['orphaned-run', 'terminated'],
        ['orphaned-run', 'terminated'],
      ]);
      expect(mine[0]).toMatchObject({ lastProgressAt: longAgo.toISOString() });
      expect(r.findings.filter((f) => f.tenantId === moving.tenantId)).toEqual([]);
      expect(r.findings.filter((f) => f.tenantId === superseded.tenantId).map((f) => [f.kind, f.outcome])).toEqual([
        ['orphaned-run', 'terminated'],
      ]);
      const states = Object.fromEntries(
        (await runs.find({ tenantId: { $in: [base.tenantId, moving.tenantId, superseded.tenantId] } }).toArray()).map((d) => [
          String(d._id).split('-')[0],
          d.state,
        ]),
      );
      expect(states).toEqual({ direct: 'failed', wf: 'failed', fresh: 'running', done: 'completed', long: 'running', left: 'failed' });
    });

    /** A login whose non-essential collection reads 20 pages of 150 ms each: ~3 s of steady progress. */
    async function longSync(useTemporal: boolean) {
      const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: useTemporal, SYNC_STUCK_AFTER_MS: STUCK_AFTER_MS, SYNC_PAGE_SIZE: 5 });
      const tenantId = await bench.registerTenant(a, [COLLECTIONS[0]!, { name: 'audit', essential: false, size: 100 }]);
      bench.upstream.setLatency(tenantId, 'audit', 150);
      const body = (await bench.ensure(a, tenantId)).json();
      expect(body).toMatchObject({ syncMethod: useTemporal ? 'temporal' : 'direct', essentialReady: true });
      await expect.poll(async () => (await runDoc(body.correlationId))?.state, { timeout: 10_000 }).toBe('running');
      await sleep(STUCK_AFTER_MS + 300);
      return { a, tenantId, correlationId: body.correlationId as string };
    }

    it('a workflow sync older than the threshold that keeps making progress is neither reported nor terminated, and completes', async () => {
      const s = await longSync(true);
      const r = await sweep({ stuckAfterMs: STUCK_AFTER_MS, action: 'terminate' });
      expect(r.findings.filter((f) => f.tenantId === s.tenantId)).toEqual([]);
      const handle = deps().temporal.client.workflow.getHandle(WorkflowIds.tenantSync(s.tenantId));
      expect((await handle.describe()).status.name).toBe('RUNNING');
      const h = await health(s.a);
      expect(h.stuck.map((x: { runId: string }) => x.runId)).not.toContain(s.correlationId);
      expect(await handle.result()).toMatchObject({ runId: s.correlationId, state: 'completed' });
      expect(await runDoc(s.correlationId)).toMatchObject({ state: 'completed' });
    });

    it('a long direct sync that keeps making progress is not marked failed (sweep or health), and completes', async () => {
      const s = await longSync(false);
      const r = await sweep({ stuckAfterMs: STUCK_AFTER_MS, action: 'terminate' });
      expect(r.findings.filter((f) => f.tenantId === s.tenantId)).toEqual([]);
      expect(await runDoc(s.correlationId)).toMatchObject({ state: 'running' });
      const h = await health(s.a);
      expect(h.stuck.map((x: { runId: string }) => x.runId)).not.toContain(s.correlationId);
      await expect.poll(async () => (await runDoc(s.correlationId))?.state, { timeout: 15_000 }).toBe('completed');
    });

    it('rejects a bad action without retrying', async () => {
      const err = await sweep({ stuckAfterMs: STUCK_AFTER_MS, action: 'explode' as never }).catch(
        (e: { cause?: { cause?: Error } }) => e.cause?.cause?.message,
      );
      expect(err).toMatch(/action must be report, terminate or restart/);
    });
  });
});
