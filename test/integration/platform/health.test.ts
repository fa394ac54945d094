import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../api/app';
import { connectMongo, type Mongo } from '../../../infra/mongo';
import { createTemporalClient, pingTemporal } from '../../../infra/temporal';
import { freePort, startFerret, type ServerHandle } from '../../../infra/dev/servers';
import { stackInfo } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Readiness against a FerretDB of this file's own, so killing it does not disturb other files.

describe('GET /health and /health/ready', () => {
  const stack = useStack();
  let ferret: ServerHandle;
  let ownMongo: Mongo;
  let app: FastifyInstance;
  let port: number;
  const dataDir = () => path.join(stackInfo().tmpDir, `ferret-health-${process.pid}`);

  beforeAll(async () => {
    port = await freePort();
    ferret = await startFerret({ bin: stackInfo().ferretdbBin, port, dataDir: dataDir() });
    ownMongo = await connectMongo({ MONGODB_URI: `mongodb://127.0.0.1:${port}/`, MONGODB_DB: 'health' });
    app = await buildApp({ ...stack.deps, mongo: ownMongo });
    // Connected before the probes, as a running API is: a loaded CI machine can take longer than
    // READY_TIMEOUT_MS for a first gRPC connection, which is not what these tests are about.
    await pingTemporal(stack.deps.temporal, 15_000);
  });
  afterAll(async () => {
    await app?.close();
    await ownMongo?.close();
    await ferret?.stop();
  });

  it('answers live without touching dependencies', async () => {
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok' });
    expect(res.headers['x-correlation-id']).toBeTruthy();
    expect(res.headers['x-trace-id']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('is ready when MongoDB, Redis and Temporal answer', async () => {
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.checks.mongodb.ok).toBe(true);
    expect(body.checks.redis.ok).toBe(true);
    expect(body.checks.temporal.ok).toBe(true);
  });

  it('stays ready when Temporal does not answer: temporal degraded (logins go direct), MongoDB and Redis ok', async () => {
    // A port that accepts and never speaks: the probe hits its deadline.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const gone = createTemporalClient({ ...stack.deps.config, TEMPORAL_ADDRESS: `127.0.0.1:${(silent.address() as AddressInfo).port}` });
    const away = await buildApp({
      ...stack.deps,
      mongo: ownMongo,
      temporal: gone,
      config: { ...stack.deps.config, READY_TIMEOUT_MS: 500, WORKER_PRESENCE_TTL_MS: 0 },
    });
    try {
      const res = await away.inject({ method: 'GET', url: '/health/ready' });
      expect(res.statusCode, res.body).toBe(200);
      const { checks } = res.json();
      expect(checks.temporal).toMatchObject({ ok: false, status: 'degraded' });
      expect(checks.temporal.error).toBeTruthy();
      expect(checks.mongodb.ok).toBe(true);
      expect(checks.redis.ok).toBe(true);
    } finally {
      // `gone` stays open: its client retries the first connection on timers that would throw
      // "Channel has been shut down" once closed; the silent server holds it until the file ends.
      await away.close();
    }
  });

  it('a Temporal probe that timed out does not make the next one fail', async () => {
    const t = createTemporalClient(stack.deps.config);
    try {
      await expect(pingTemporal(t, 0)).rejects.toThrow();
      await expect(pingTemporal(t, 10_000)).resolves.toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('answers 503 naming mongodb within 2 s when FerretDB dies, and recovers when it returns', async () => {
    ferret.process.kill('SIGKILL');
    await ferret.stop();
    const t0 = Date.now();
    const down = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(down.statusCode).toBe(503);
    expect(down.headers['content-type']).toContain('application/problem+json');
    expect(down.json()).toMatchObject({ status: 503, failed: ['mongodb'] });
    expect(down.json().detail).toContain('mongodb');

    ferret = await startFerret({ bin: stackInfo().ferretdbBin, port, dataDir: dataDir() });
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode;
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
  });

  it('answers unknown routes with problem+json carrying the correlation ID it was given', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope', headers: { 'x-correlation-id': 'corr-123' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 404, correlationId: 'corr-123' });
    expect(res.headers['x-correlation-id']).toBe('corr-123');
  });

  it('honours an incoming traceparent', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await app.inject({ method: 'GET', url: '/health', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    expect(res.headers['x-trace-id']).toBe(traceId);
  });
});
