import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader, type GaugeMetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { createLogger } from '../../../infra/logger';
import { MetricNames } from '../../../infra/metrics';
import type { TemporalHandle } from '../../../infra/temporal';
import { createCircuitBreaker, isBrokenCircuitError, type BreakerState } from '../../../api/services/tenant-sync/breaker';
import { createTemporalLogin, type TemporalLoginError } from '../../../api/services/tenant-sync/temporal-login';
import type { EssentialReadyResult, TenantSyncInput } from '../../../shared/tenant-sync';

// The login path's circuit breaker driven by fake calls: consecutive failures and failures in a
// window open it whatever succeeded before or between; UNAVAILABLE opens it at once; one
// half-open probe closes or re-opens it; every transition is reported and counted.

const FAILURES = 5;
const WINDOW_MS = 30_000;
const RESET_MS = 15_000;
const ok = () => Promise.resolve('ok');
const boom = () => Promise.reject(new Error('boom'));

function breakerUnderTest(opensAtOnce?: (err: unknown) => boolean) {
  const transitions: Array<[BreakerState, BreakerState]> = [];
  const breaker = createCircuitBreaker({
    failures: FAILURES,
    windowMs: WINDOW_MS,
    resetMs: RESET_MS,
    ...(opensAtOnce ? { opensAtOnce } : {}),
    onTransition: (from, to) => transitions.push([from, to]),
  });
  const run = (fn: () => Promise<string>) => breaker.execute(fn).catch((err: unknown) => err);
  return { breaker, transitions, run };
}

describe('circuit breaker', () => {
  beforeEach(() => vi.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00Z') }));
  afterEach(() => vi.useRealTimers());

  it('opens after the configured consecutive failures following 1,000 successes, however far apart', async () => {
    const { breaker, run, transitions } = breakerUnderTest();
    for (let i = 0; i < 1_000; i++) await run(ok);
    // Ten seconds apart: five of them span more than the window, so only the run of failures counts.
    for (let i = 0; i < FAILURES - 1; i++) {
      await run(boom);
      vi.advanceTimersByTime(10_000);
    }
    expect(breaker.state()).toBe('closed');
    await run(boom);
    expect(breaker.state()).toBe('open');
    const call = vi.fn(ok);
    expect(isBrokenCircuitError(await run(call))).toBe(true);
    expect(call).not.toHaveBeenCalled();
    expect(transitions).toEqual([['closed', 'open']]);
    expect(breaker.stats()).toEqual({ fires: 1_006, successes: 1_000, failures: 5, rejects: 1 });
  });

  it('opens after the configured failures within the window, successes interleaved', async () => {
    const { breaker, run } = breakerUnderTest();
    for (let i = 0; i < 1_000; i++) await run(ok);
    for (let i = 0; i < FAILURES; i++) {
      expect(breaker.state()).toBe('closed');
      await run(boom);
      for (let j = 0; j < 100; j++) await run(ok);
      vi.advanceTimersByTime(5_000); // five failures within 20 s
    }
    expect(breaker.state()).toBe('open');
  });

  it('stays closed while failures between successes are spread wider than the window', async () => {
    const { breaker, run } = breakerUnderTest();
    for (let i = 0; i < 3 * FAILURES; i++) {
      await run(boom);
      await run(ok);
      vi.advanceTimersByTime(WINDOW_MS / (FAILURES - 1) + 1);
    }
    expect(breaker.state()).toBe('closed');
  });

  it('opens at once on a failure opensAtOnce accepts', async () => {
    const unavailable = Object.assign(new Error('14 UNAVAILABLE'), { code: 14 });
    const { breaker, run, transitions } = breakerUnderTest((err) => err === unavailable);
    for (let i = 0; i < 1_000; i++) await run(ok);
    await run(boom);
    expect(breaker.state()).toBe('closed');
    expect(await run(() => Promise.reject(unavailable))).toBe(unavailable);
    expect(breaker.state()).toBe('open');
    expect(transitions).toEqual([['closed', 'open']]);
  });

  it('half-open after the reset time: one probe; success closes, failure re-opens', async () => {
    const { breaker, run, transitions } = breakerUnderTest();
    for (let i = 0; i < FAILURES; i++) await run(boom);
    vi.advanceTimersByTime(RESET_MS - 1);
    expect(isBrokenCircuitError(await run(ok))).toBe(true);
    vi.advanceTimersByTime(1);

    // The probe fails: open again for another reset time; calls beside it are refused, not queued.
    let failProbe!: (err: Error) => void;
    const probe = run(() => new Promise<string>((_, reject) => (failProbe = reject)));
    expect(breaker.state()).toBe('half_open');
    const beside = vi.fn(ok);
    expect(isBrokenCircuitError(await run(beside))).toBe(true);
    expect(beside).not.toHaveBeenCalled();
    failProbe(new Error('still down'));
    expect(await probe).toBeInstanceOf(Error);
    expect(breaker.state()).toBe('open');
    vi.advanceTimersByTime(RESET_MS - 1);
    expect(isBrokenCircuitError(await run(ok))).toBe(true);
    vi.advanceTimersByTime(1);

    // The probe succeeds: closed, and counting starts afresh.
    expect(await run(ok)).toBe('ok');
    expect(breaker.state()).toBe('closed');
    for (let i = 0; i < FAILURES - 1; i++) await run(boom);
    expect(breaker.state()).toBe('closed');
    expect(transitions).toEqual([
      ['closed', 'open'],
      ['open', 'half_open'],
      ['half_open', 'open'],
      ['open', 'half_open'],
      ['half_open', 'closed'],
    ]);
  });
});

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

describe('Temporal login behind the breaker', () => {
  const reader = new TestReader();
  beforeAll(() => metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] })));

  const input: TenantSyncInput = {
    tenantId: 'acme',
    correlationId: 'sync-acme-1',
    collections: [{ name: 'users', essential: true }],
    startedAt: new Date(0).toISOString(),
  };
  const answer: EssentialReadyResult = { correlationId: 'sync-acme-1', essentialReady: false, collections: [] };
  const grpcError = (code: number, message: string) => Object.assign(new Error(message), { code, details: message, metadata: {} });

  function loginUnderTest(call: () => Promise<EssentialReadyResult>) {
    const temporal = {
      connection: { withAbortSignal: (_signal: AbortSignal, fn: () => Promise<unknown>) => fn() },
      client: { workflow: { executeUpdateWithStart: vi.fn(call) } },
    };
    const login = createTemporalLogin({
      temporal: temporal as unknown as TemporalHandle,
      taskQueue: 'tq',
      timeoutMs: 1_000,
      breaker: { failures: FAILURES, windowMs: WINDOW_MS, resetMs: RESET_MS },
      log: createLogger({ name: 'test', level: 'silent' }),
    });
    const reason = (p: Promise<unknown>) =>
      p.then(
        () => 'answered',
        (err: unknown) => (err as TemporalLoginError).reason,
      );
    return { login, calls: temporal.client.workflow.executeUpdateWithStart, ensure: () => reason(login.ensure(input)) };
  }

  async function scrape() {
    const { resourceMetrics } = await reader.collect();
    const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const transitions = all.find((m) => m.descriptor.name === MetricNames.syncBreakerTransitions) as SumMetricData | undefined;
    const state = all.find((m) => m.descriptor.name === MetricNames.syncBreakerState) as GaugeMetricData | undefined;
    return {
      transitions: Object.fromEntries(
        (transitions?.dataPoints ?? []).map((d) => [`${String(d.attributes.from)}>${String(d.attributes.to)}`, d.value]),
      ),
      state: state?.dataPoints.at(-1)?.value,
    };
  }

  it('a gRPC UNAVAILABLE opens the breaker at once; logins after it fall back with circuit_open', async () => {
    const { login, calls, ensure } = loginUnderTest(() => Promise.reject(grpcError(14, '14 UNAVAILABLE: No connection established')));
    expect(await ensure()).toBe('unavailable');
    expect(login.breakerState()).toBe('open');
    expect(await ensure()).toBe('circuit_open');
    expect(calls).toHaveBeenCalledTimes(1);
    expect(login.breakerStats()).toEqual({ fires: 2, successes: 0, failures: 1, rejects: 1 });
    const m = await scrape();
    expect(m.transitions['closed>open']).toBeGreaterThanOrEqual(1);
    expect(m.state).toBe(2);
  });

  it('a refused connection opens it at once too', async () => {
    const { login, ensure } = loginUnderTest(() => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:7233')));
    expect(await ensure()).toBe('unavailable');
    expect(login.breakerState()).toBe('open');
  });

  it('an answer with essentialReady false is no failure; errors and timeouts are', async () => {
    let next: () => Promise<EssentialReadyResult> = () => Promise.resolve(answer);
    const { login, ensure } = loginUnderTest(() => next());
    for (let i = 0; i < 3 * FAILURES; i++) expect(await ensure()).toBe('answered');
    expect(login.breakerState()).toBe('closed');
    next = () => Promise.reject(new Error('update failed'));
    for (let i = 0; i < FAILURES - 1; i++) expect(await ensure()).toBe('error');
    next = () => Promise.reject(grpcError(4, '4 DEADLINE_EXCEEDED'));
    expect(await ensure()).toBe('timeout');
    expect(login.breakerState()).toBe('open');
  });

  it('counts every transition, labelled from and to', async () => {
    vi.useFakeTimers();
    try {
      const before = await scrape();
      let up = false;
      const { login, ensure } = loginUnderTest(() => (up ? Promise.resolve(answer) : Promise.reject(new Error('down'))));
      for (let i = 0; i < FAILURES; i++) await ensure();
      vi.advanceTimersByTime(RESET_MS);
      expect(await ensure()).toBe('error'); // the probe fails
      vi.advanceTimersByTime(RESET_MS);
      up = true;
      expect(await ensure()).toBe('answered'); // the probe succeeds
      expect(login.breakerState()).toBe('closed');
      const after = await scrape();
      const delta = (k: string) => (after.transitions[k] ?? 0) - (before.transitions[k] ?? 0);
      expect(['closed>open', 'open>half_open', 'half_open>open', 'half_open>closed'].map(delta)).toEqual([1, 2, 1, 1]);
      expect(after.state).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
