import { describe, expect, it } from 'vitest';
import { createWorkerPresence, loginQueueOf, recentPollers } from '../../../api/services/tenant-sync/worker-presence';

// The worker-presence cache over a fake describe and a fake clock: staleness, one describe in
// flight for every caller, "unknown" on error or when the first answer is slow.

type Pollers = Array<{ lastAccessTime: string | null }>;

function fakeDescribe() {
  let calls = 0;
  let pending: Array<{ resolve: (p: Pollers) => void; reject: (e: Error) => void }> = [];
  return {
    describe: () => {
      calls += 1;
      return new Promise<Pollers>((resolve, reject) => pending.push({ resolve, reject }));
    },
    get calls() {
      return calls;
    },
    /** Settles every describe in flight. */
    answer(p: Pollers | Error) {
      const settle = pending;
      pending = [];
      for (const d of settle) {
        if (p instanceof Error) d.reject(p);
        else d.resolve(p);
      }
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function setup(o: { ttlMs?: number; firstWaitMs?: number } = {}) {
  let t = 1_000_000;
  const fake = fakeDescribe();
  const presence = createWorkerPresence({ describe: fake.describe, taskQueue: 'q--interactive', now: () => t, ...o });
  const iso = (agoMs: number) => new Date(t - agoMs).toISOString();
  return { fake, presence, iso, advance: (ms: number) => (t += ms) };
}

describe('worker presence: pure parts', () => {
  it('counts pollers whose last poll is recent; one without a time counts', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    const pollers = [{ lastAccessTime: '2026-01-01T00:00:30Z' }, { lastAccessTime: '2025-12-31T23:59:00Z' }, { lastAccessTime: null }];
    expect(recentPollers(pollers, now, 60_000)).toBe(2);
    expect(recentPollers([], now, 60_000)).toBe(0);
  });

  it('the login queue is the interactive lane with lanes on, the deployment queue without', () => {
    expect(loginQueueOf({ TEMPORAL_TASK_QUEUE: 'sync', TEMPORAL_LANES: true })).toBe('sync--interactive');
    expect(loginQueueOf({ TEMPORAL_TASK_QUEUE: 'sync', TEMPORAL_LANES: false })).toBe('sync');
  });
});

describe('worker presence: the cache', () => {
  it('the first login waits for the first describe; a fresh answer asks nothing', async () => {
    const { fake, presence, iso, advance } = setup({ ttlMs: 5_000 });
    const first = presence.forLogin();
    fake.answer([{ lastAccessTime: iso(1_000) }]);
    expect(await first).toMatchObject({ state: 'present', pollers: 1, taskQueue: 'q--interactive' });
    advance(4_999);
    expect((await presence.forLogin()).state).toBe('present');
    expect(fake.calls).toBe(1);
  });

  it('a poller older than the window does not count: absent', async () => {
    const { fake, presence, iso } = setup();
    const first = presence.forLogin();
    fake.answer([{ lastAccessTime: iso(120_000) }]);
    expect(await first).toMatchObject({ state: 'absent', pollers: 0 });
  });

  it('concurrent callers share one describe in flight', async () => {
    const { fake, presence, iso } = setup();
    const answers = Promise.all([presence.forLogin(), presence.forLogin(), presence.check(1_000), presence.forLogin()]);
    expect(fake.calls).toBe(1);
    fake.answer([]);
    expect((await answers).map((a) => a.state)).toEqual(['absent', 'absent', 'absent', 'absent']);
    // Readiness asks again while nobody polls; logins meanwhile keep the cached answer.
    const again = Promise.all([presence.check(1_000), presence.check(1_000)]);
    expect(fake.calls).toBe(2);
    fake.answer([{ lastAccessTime: iso(10) }]);
    expect((await again).map((a) => a.state)).toEqual(['present', 'present']);
    expect((await presence.forLogin()).state).toBe('present');
    expect(await presence.check(1_000)).toMatchObject({ state: 'present' });
    expect(fake.calls).toBe(2);
  });

  it('a stale answer is used at once while one background describe refreshes it', async () => {
    const { fake, presence, iso, advance } = setup({ ttlMs: 5_000 });
    const first = presence.forLogin();
    fake.answer([]);
    expect((await first).state).toBe('absent');
    advance(5_000);
    expect((await presence.forLogin()).state).toBe('absent');
    expect((await presence.forLogin()).state).toBe('absent');
    expect(fake.calls).toBe(2);
    fake.answer([{ lastAccessTime: iso(0) }]);
    await tick();
    expect(await presence.forLogin()).toMatchObject({ state: 'present', pollers: 1 });
    expect(fake.calls).toBe(2);
  });

  it('a describe error is "unknown", kept for the TTL like any answer', async () => {
    const { fake, presence, advance } = setup({ ttlMs: 5_000 });
    const first = presence.forLogin();
    fake.answer(new Error('14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:7233'));
    const a = await first;
    expect(a.state).toBe('unknown');
    expect(a.pollers).toBeUndefined();
    expect(a.error).toContain('UNAVAILABLE');
    expect(a.error).not.toContain('127.0.0.1:7233');
    expect((await presence.forLogin()).state).toBe('unknown');
    expect(fake.calls).toBe(1);
    advance(5_000);
    void presence.forLogin();
    expect(fake.calls).toBe(2);
  });

  it('a slow first describe: the first login gets "unknown" after firstWaitMs; the answer is cached when it comes', async () => {
    const { fake, presence } = setup({ firstWaitMs: 20 });
    const t0 = performance.now();
    const first = await presence.forLogin();
    expect(first).toMatchObject({ state: 'unknown' });
    expect(first.error).toContain('20 ms');
    expect(performance.now() - t0).toBeLessThan(500);
    expect(presence.last()).toBeUndefined();
    // A second login while it is still in flight waits on the same describe, bounded the same way.
    const second = presence.forLogin();
    expect(fake.calls).toBe(1);
    fake.answer([]);
    expect((await second).state).toBe('absent');
    expect(presence.last()?.state).toBe('absent');
    expect(fake.calls).toBe(1);
  });

  it('readiness waits at most its bound for a describe', async () => {
    const { presence } = setup();
    const a = await presence.check(15);
    expect(a.state).toBe('unknown');
  });
});
