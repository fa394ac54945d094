import { laneQueue } from '../../../shared/lanes';
import { describe, expect, it } from 'vitest';
import { Scopes } from '../../../infra/auth-token';
import { Collections } from '../../../infra/mongo';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// POST /api/probe (`health --deep`) on the real stack: the stack-probe workflow through the API's
// Temporal client and the worker in this process. 401/403 are the authorisation test's.

describe('POST /api/probe', () => {
  const stack = useStack({ worker: {}, app: {} });
  const admin = () => stack.bearer([Scopes.admin], '*');
  const probes = () => stack.deps.mongo.db.collection<{ _id: string; writes: number }>(Collections.stackProbes);

  it('runs the probe workflow on the worker: 200 {ok, latencyMs, workflowId}, the probe written to MongoDB', async () => {
    const res = await stack.app.inject({ method: 'POST', url: '/api/probe', headers: await admin(), payload: {} });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toEqual({ ok: true, latencyMs: expect.any(Number), workflowId: expect.stringMatching(/^stack-probe:/) });
    const probeId = (body.workflowId as string).slice('stack-probe:'.length);
    expect((await probes().findOne({ _id: probeId }))?.writes).toBe(1);
    const d = await stack.deps.temporal.client.workflow.getHandle(body.workflowId).describe();
    expect(d.status.name).toBe('COMPLETED');
    expect(d.memo).toMatchObject({ startedBy: 'test-user', correlationId: res.headers['x-correlation-id'] });
  });

  it('a body that is not {timeoutMs?} in bounds: 400 problem, no probe written', async () => {
    const before = await probes().countDocuments();
    for (const payload of [{ timeoutMs: 10 }, { timeoutMs: 600_000 }, { extra: true }, [1]]) {
      const res = await stack.app.inject({ method: 'POST', url: '/api/probe', headers: await admin(), payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    expect(await probes().countDocuments()).toBe(before);
  });

  it('Temporal disabled: 503 problem', async () => {
    const off = await stack.buildApp({ TEMPORAL_ENABLED: false }, { temporal: undefined });
    const res = await off.inject({ method: 'POST', url: '/api/probe', headers: await admin(), payload: {} });
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 503, dependency: 'temporal' });
  });

  it('no worker on the task queue: 503 at the deadline the body gives, and the server ends the probe too', async () => {
    const taskQueue = uniqueId('idle-probe');
    const idle = await stack.buildApp({ TEMPORAL_TASK_QUEUE: taskQueue });
    const t0 = Date.now();
    const res = await idle.inject({ method: 'POST', url: '/api/probe', headers: await admin(), payload: { timeoutMs: 4_000 } });
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(res.statusCode).toBe(503);
    // A budget a loaded machine's start call cannot eat: the 503 must be the worker's absence.
    expect(res.json(), res.body).toMatchObject({ dependency: 'worker', detail: expect.stringContaining('did not finish within 4000 ms') });
    const wf = stack.deps.temporal.client.workflow;
    const listed = async () => {
      const ids: string[] = [];
      // The probe is interactive work: with TEMPORAL_LANES (the default) it starts on that lane's queue.
      for await (const w of wf.list({ query: `TaskQueue = '${laneQueue(taskQueue, 'interactive')}'` })) ids.push(w.workflowId);
      return ids;
    };
    // Visibility is eventually consistent: poll until the one probe is listed.
    await expect.poll(listed, { timeout: 10_000 }).toHaveLength(1);
    const [workflowId] = await listed();
    // The execution timeout equals the deadline: a probe nobody picked up does not linger.
    await expect.poll(async () => (await wf.getHandle(workflowId!).describe()).status.name, { timeout: 10_000 }).toBe('TIMED_OUT');
  });
});
