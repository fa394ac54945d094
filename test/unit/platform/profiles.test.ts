// Timeout and retry profiles, one table per layer (workflows/profiles.ts, activities/profiles.ts), and no numbers elsewhere.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '@temporalio/common';
import { InProcessProfiles, reconcileRetryDelayMs } from '../../../activities/profiles';
import { CallDeadlines } from '../../../infra/timeout';
import { RECONCILE_DEFAULTS } from '../../../shared/reconcile';
import {
  ActivityProfiles,
  CleanupProfiles,
  LocalActivityProfiles,
  MigrationProfiles,
  ReconcileProfiles,
  RetryPolicies,
  reconcilePartitionProfile,
} from '../../../workflows/profiles';

const WORKFLOWS = join(import.meta.dirname, '../../../workflows');
/** An option that carries a timeout or a retry number. */
const OPTIONS = ['startToCloseTimeout', 'scheduleToCloseTimeout', 'heartbeatTimeout', 'localRetryThreshold'].concat([
  'maximumAttempts',
  'initialInterval',
  'backoffCoefficient',
  'maximumInterval',
]);
const NUMBERS = new RegExp(`\\b(${OPTIONS.join('|')})\\s*:`);
/** `proxyActivities<…>(arg)` and its local twin, capturing arg (one level of parentheses inside). */
const PROXY_CALL = /proxy(?:Local)?Activities<\w+>\(([^)]*\)?)\)/g;
const sources = readdirSync(WORKFLOWS)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => ({ file: f, text: readFileSync(join(WORKFLOWS, f), 'utf8') }));

describe('workflow profiles', () => {
  it('has the named profiles each workflow uses', () => {
    expect(Object.keys(ActivityProfiles)).toEqual(['quick', 'syncCollection']);
    expect(Object.keys(LocalActivityProfiles)).toEqual(['essentialCollection', 'clientStep']);
    expect(Object.keys(MigrationProfiles)).toEqual(['state', 'copy', 'restore', 'apply', 'verify']);
    expect(Object.keys(CleanupProfiles)).toEqual(['cleanup', 'prune', 'sweep']);
    expect(Object.keys(ReconcileProfiles)).toEqual(['control', 'partitionExtraAttempts']);
  });

  it('names each retry policy once, and every profile takes one of them', () => {
    const policies = new Set<unknown>(Object.values(RetryPolicies));
    const tables = [ActivityProfiles, LocalActivityProfiles, MigrationProfiles, CleanupProfiles, { control: ReconcileProfiles.control }];
    const profiles = tables.flatMap((t) => Object.values(t));
    for (const p of profiles) expect(policies.has(p.retry)).toBe(true);
    // Two names never hold the same policy.
    const written = Object.values(RetryPolicies).map((p) => JSON.stringify(p));
    expect(new Set(written).size).toBe(written.length);
  });

  it('keeps the seed classification: AUTH and VALIDATION are never retried, except by the idempotent quick writes', () => {
    const policies: Record<string, RetryPolicy> = RetryPolicies;
    for (const [name, p] of Object.entries(policies)) {
      if (name === 'quick' || name === 'once') continue;
      expect(p.nonRetryableErrorTypes, name).toEqual(expect.arrayContaining(['AUTH_ERROR', 'VALIDATION_ERROR']));
      expect(p.backoffCoefficient, name).toBe(2);
    }
    expect(RetryPolicies.quick).not.toHaveProperty('nonRetryableErrorTypes');
    expect(MigrationProfiles.apply.retry).toEqual({ maximumAttempts: 1 });
    expect(RetryPolicies.migrationState.nonRetryableErrorTypes).toContain('MIGRATION_UP_FAILED');
  });

  it('derives a reconcile partition profile from the run options', () => {
    const p = reconcilePartitionProfile({ ...RECONCILE_DEFAULTS, retryDelay: 20, retryAttempts: 2, heartbeatTimeoutMs: 4_000 });
    expect(p).toMatchObject({ startToCloseTimeout: '7 days', heartbeatTimeout: 4_000 });
    expect(p.retry).toMatchObject({ initialInterval: 100, maximumInterval: 1_000, maximumAttempts: 7, backoffCoefficient: 2 });
    const slow = reconcilePartitionProfile({ ...RECONCILE_DEFAULTS, retryDelay: 5_000 });
    expect(slow.retry).toMatchObject({ initialInterval: 5_000, maximumInterval: 40_000 });
  });

  it('is the only place under workflows/ that writes a timeout or retry number', () => {
    const others = sources.filter((s) => s.file !== 'profiles.ts');
    expect(others.length).toBeGreaterThan(5);
    for (const s of others) {
      expect(s.text, s.file).not.toMatch(NUMBERS);
    }
  });

  it('has every proxyActivities call take a named profile', () => {
    const calls = sources.flatMap((s) => [...s.text.matchAll(PROXY_CALL)].map((m) => ({ file: s.file, arg: m[1]! })));
    expect(calls.length).toBeGreaterThanOrEqual(10);
    for (const c of calls) expect(c.arg, c.file).toMatch(/^(\w+Profiles\.\w+|reconcilePartitionProfile\(o(, input\.partitionQueue)?\))$/);
    // And no call hides its options behind anything else (a local variable, an inline object).
    const all = sources.reduce((n, s) => n + (s.text.match(/proxy(?:Local)?Activities</g)?.length ?? 0), 0);
    expect(all).toBe(calls.length);
  });
});

describe('activity-layer profiles', () => {
  it('has the named in-process profiles', () => {
    expect(Object.keys(InProcessProfiles)).toEqual(['directSync', 'reconcileChunk', 'reconcileFlush', 'outboundMongo', 'httpSource']);
    expect(InProcessProfiles.directSync.retryDelaysMs).toEqual([150, 400]);
  });

  it("doubles the reconcile chunk pause per attempt from the run's retryDelay", () => {
    expect([1, 2, 3].map((n) => reconcileRetryDelayMs(5_000, n))).toEqual([5_000, 10_000, 20_000]);
    expect(reconcileRetryDelayMs(0, 4)).toBe(0);
  });

  it('is the only place the outbound MongoDB client timeouts are written', () => {
    const root = join(import.meta.dirname, '../../..');
    const files = ['activities/reconcile/endpoints.ts', 'activities/sources/mongo-source.ts'];
    for (const f of files) {
      const text = readFileSync(join(root, f), 'utf8');
      expect(text, f).toContain('...InProcessProfiles.outboundMongo');
      expect(text, f).not.toMatch(/serverSelectionTimeoutMS|connectTimeoutMS/);
    }
  });
});

describe('client-call deadlines', () => {
  it('gives every Temporal call off the login path one deadline, written once', () => {
    expect(CallDeadlines.temporalMs).toBe(10_000);
    const root = join(import.meta.dirname, '../../..');
    for (const f of ['api/services/reconcile/service.ts', 'api/services/migrations/runs.ts', 'activities/client-upsert/start.ts']) {
      const text = readFileSync(join(root, f), 'utf8');
      expect(text, f).toContain('CallDeadlines.temporalMs');
      expect(text, f).not.toMatch(/\b10_000\b|CALL_TIMEOUT_MS/);
    }
  });
});
