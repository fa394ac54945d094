import { afterAll, describe, expect, it } from 'vitest';
import { startApiProcess, type ApiProcess } from '../../helpers/api-process';
import { startLoginBench, type LoginBench } from '../../helpers/login';

// An API process draining on shutdown, as `make up`'s Ctrl-C delivers it: SIGINT from the
// terminal to the process group, then the supervisor's SIGTERM milliseconds later — one request,
// not two. Readiness answers 503 first (SHUTDOWN_DRAIN_DELAY_MS) while requests are served, the
// login in flight is answered, and the process exits 0. A signal after the coalescing second
// still means "now".

describe('API shutdown', () => {
  let bench: LoginBench;
  const procs: ApiProcess[] = [];
  afterAll(async () => {
    await Promise.allSettled(procs.map((p) => p.stop()));
    await bench?.close();
  });

  const setup = async (drainDelayMs: number) => {
    bench ??= await startLoginBench();
    const app = await bench.app();
    const tenantId = await bench.registerTenant(app, [{ name: 'users', essential: true, size: 20 }]);
    const api = await startApiProcess(bench.deps.config, {
      USE_TEMPORAL_FOR_AUTH: 'false',
      SYNC_FRESHNESS_MS: '0',
      SHUTDOWN_DRAIN_DELAY_MS: String(drainDelayMs),
      ...(bench.deps.config.SECRETS_KEY ? { SECRETS_KEY: bench.deps.config.SECRETS_KEY } : {}),
    });
    procs.push(api);
    const login = () => fetch(`${api.url}/api/sync/tenants/${tenantId}/ensure`, { method: 'POST', headers: bench.syncer });
    return { api, tenantId, login };
  };
  const until = async (what: string, ok: () => boolean, ms = 5_000) => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('SIGINT then SIGTERM 13 ms apart: readiness 503 first, the login in flight answered, exit 0', async () => {
    const { api, tenantId, login } = await setup(3_000);
    // Warm: the process is up and serving logins.
    expect((await login()).status).toBe(200);
    expect((await fetch(`${api.url}/health/ready`)).status).toBe(200);

    bench.upstream.setLatency(tenantId, '*', 4_500);
    const inFlight = login();
    await new Promise((r) => setTimeout(r, 300)); // the request has reached the slowed upstream
    const signalledAt = Date.now();
    api.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 13));
    api.kill('SIGTERM');

    await until('shutting down', () => api.output().includes('shutting down'));
    const ready = await fetch(`${api.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('content-type')).toContain('application/problem+json');
    expect(await ready.json()).toMatchObject({ draining: true });

    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ tenantId, syncMethod: 'direct', essentialReady: true });
    expect(await api.exited, api.output().slice(-3000)).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(bench.deps.config.SHUTDOWN_TIMEOUT_MS);
    const out = api.output();
    expect(out).toContain('repeated signal counted as the first');
    expect(out).not.toContain('second signal: exiting now');
    expect(out).toContain('shutdown complete');
  });

  it('a second signal after the coalescing window exits at once', async () => {
    const { api, tenantId, login } = await setup(0);
    bench.upstream.setLatency(tenantId, '*', 8_000);
    const inFlight = login().then(
      (r) => r.status,
      () => 'dropped',
    );
    await new Promise((r) => setTimeout(r, 300));
    api.kill('SIGTERM');
    await until('shutting down', () => api.output().includes('shutting down'));
    await new Promise((r) => setTimeout(r, 1_200));
    const second = Date.now();
    api.kill('SIGTERM');
    expect(await api.exited).toBe(1);
    expect(Date.now() - second).toBeLessThan(2_000);
    expect(api.output()).toContain('second signal: exiting now');
    expect(await inFlight).toBe('dropped');
    bench.upstream.setLatency(tenantId, '*', 0);
  });
});
