import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCli } from '../../helpers/cli';
import { useStack } from '../../helpers/use-stack';

// `health [--deep]` as an operator runs it: a child process through the HTTP API (an app on a
// loopback port) — readiness from GET /health/ready, the probe workflow from POST /api/probe run
// by the worker in this process.

/** An HTTP server answering every request with one fixed answer. */
async function fixedServer(status: number, body: unknown): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/problem+json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('CLI: health', () => {
  const stack = useStack({ worker: {}, app: {} });
  const cli = useCli(stack);
  const servers: Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it("health prints the API's check of every dependency and exits 0 when ready", { timeout: 60_000 }, async () => {
    const r = await cli('health');
    expect(r.code, r.stderr).toBe(0);
    for (const dep of ['mongodb', 'redis']) expect(r.stdout).toMatch(new RegExp(`^${dep}\\s+ok \\(\\d+ ms\\)$`, 'm'));
    expect(r.stdout).toMatch(/^temporal\s+ok \(\d+ ms\), 1 worker polls \S+$/m);
    expect(r.stdout).not.toContain('probe workflow');
  });

  it('health --deep also runs the probe workflow through the worker', { timeout: 60_000 }, async () => {
    const r = await cli('health', '--deep');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^mongodb\s+ok/m);
    expect(r.stdout).toMatch(/^probe workflow\s+ok \(\d+ ms\)$/m);
  });

  it('a not-ready API: the failed check is printed and the exit code is 1; --deep does not probe', { timeout: 60_000 }, async () => {
    const notReady = await fixedServer(503, {
      type: 'urn:sync-orchestrator:problem:not-ready',
      title: 'Service not ready',
      status: 503,
      detail: 'Unavailable: redis',
      correlationId: 'c',
      failed: ['redis'],
      checks: {
        mongodb: { ok: true, latencyMs: 3 },
        redis: { ok: false, latencyMs: 1500, error: 'redis did not answer within 1500 ms' },
        temporal: { ok: true, latencyMs: 4 },
      },
    });
    servers.push(notReady.server);
    const r = await cli('--api', notReady.url, 'health', '--deep');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^mongodb\s+ok \(3 ms\)$/m);
    expect(r.stdout).toMatch(/^redis\s+FAILED: redis did not answer within 1500 ms/m);
    expect(r.stdout).not.toContain('probe workflow');
  });

  it('a Temporal no worker polls: DEGRADED with the queue, exit code 1 although the API is ready', { timeout: 60_000 }, async () => {
    const degraded = await fixedServer(200, {
      status: 'ready',
      checks: {
        mongodb: { ok: true, latencyMs: 3 },
        redis: { ok: true, latencyMs: 1 },
        temporal: { ok: true, latencyMs: 4, status: 'degraded', pollers: 0, taskQueue: 'sync-orchestrator--interactive' },
      },
    });
    servers.push(degraded.server);
    const r = await cli('--api', degraded.url, 'health');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^redis\s+ok \(1 ms\)$/m);
    expect(r.stdout).toMatch(/^temporal\s+DEGRADED: no worker polls sync-orchestrator--interactive: logins go direct \(4 ms\)$/m);
  });

  it('an unreachable API: a clear message and exit code 1', { timeout: 60_000 }, async () => {
    const gone = await fixedServer(200, {});
    await new Promise((r) => gone.server.close(r));
    const r = await cli('--api', gone.url, 'health');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot reach the API at ${gone.url}`);
  });
});
