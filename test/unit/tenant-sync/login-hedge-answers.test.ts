import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLoginSync, type LoginSyncDeps } from '../../../api/services/tenant-sync/login-sync';
import { TemporalLoginError } from '../../../api/services/tenant-sync/temporal-login';
import type { DirectOutcome } from '../../../api/services/tenant-sync/direct-sync';
import type { TenantDoc } from '../../../activities/tenant-sync/registry';
import { loadConfig } from '../../../infra/config';
import { createLogger } from '../../../infra/logger';
import type { CollectionResult } from '../../../shared/tenant-sync';

// The hedged login's answers, with the Temporal call and the direct run as timed fakes: every
// way the hedged direct run answers (it won, or Temporal failed while it ran) leaves one
// "answered" line with its method, reason and duration, as every other answer does — an
// operator counting answers by reason in the logs must not miss the hedged ones.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const essential: CollectionResult = {
  name: 'users',
  essential: true,
  status: 'synced',
  synced: 1,
  unchanged: 0,
  failed: 0,
  conflicts: 0,
  mode: 'incremental',
  durationMs: 1,
} as CollectionResult;

function harness(o: { temporal: () => Promise<never | object>; directMs: number }) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const tenant = { _id: 't1', name: 't1', collections: [{ name: 'users', essential: true }] } as unknown as TenantDoc;
  const deps = {
    config: loadConfig({ NODE_ENV: 'test', USE_TEMPORAL_FOR_AUTH: 'true', SYNC_FRESHNESS_MS: '0', LOGIN_DEADLINE_MS: '0' }),
    log: createLogger({ name: 'test', level: 'info', destination }),
    tenants: { get: async () => tenant },
    store: { getStatus: async () => null },
    direct: {
      run: async (): Promise<DirectOutcome> => {
        await sleep(o.directMs);
        return { correlationId: 'direct-run', essential: [essential], joined: false };
      },
    },
    temporal: { ensure: o.temporal, breakerState: () => 'closed' },
    hedge: { delayMs: () => 20, observe: () => undefined, samples: () => 0 },
  } as unknown as LoginSyncDeps;
  return { sync: createLoginSync(deps), lines };
}

const answered = (lines: Array<Record<string, unknown>>) => lines.filter((l) => String(l.msg).startsWith('login sync answered'));

describe('hedged login answers', () => {
  it('direct wins the race: one answered line, reason hedged', async () => {
    const { sync, lines } = harness({ temporal: () => sleep(400).then(() => ({})), directMs: 30 });
    const r = await sync.ensure('t1');
    expect(r).toMatchObject({ syncMethod: 'direct', fallbackReason: 'hedged', essentialReady: true });
    expect(answered(lines)).toEqual([
      expect.objectContaining({ syncMethod: 'direct', fallbackReason: 'hedged', durationMs: expect.any(Number) }),
    ]);
  });

  it('Temporal fails while the hedged direct run is under way: one answered line with the failure as its reason', async () => {
    const { sync, lines } = harness({
      temporal: () => sleep(60).then(() => Promise.reject(new TemporalLoginError('timeout', 'deadline exceeded', 'tenant-sync:t1'))),
      directMs: 200,
    });
    const r = await sync.ensure('t1');
    expect(r).toMatchObject({ syncMethod: 'direct', fallbackReason: 'timeout', essentialReady: true, correlationId: 'direct-run' });
    expect(answered(lines)).toEqual([
      expect.objectContaining({ syncMethod: 'direct', fallbackReason: 'timeout', durationMs: expect.any(Number) }),
    ]);
    expect(lines.some((l) => l.msg === 'temporal login sync failed while the hedged direct sync ran')).toBe(true);
  });
});
