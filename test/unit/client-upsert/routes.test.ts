import { describe, expect, it } from 'vitest';
import type { RouteSpec } from '../../../activities/client-upsert/config';
import type { RouteDoc } from '../../../activities/client-upsert/store';
import { countsOf, hasChanges, planRoutes } from '../../../activities/client-upsert/routes';
import { allStepsRan, emptyCounts, statusOf, type ClientStep, type StepResult } from '../../../shared/client-upsert';

// The route diff: deep equality decides, key order does not; invalid config routes keep their stored version.

const spec = (key: string, extra: Partial<RouteSpec> = {}): RouteSpec => ({
  key,
  path: `/${key}`,
  componentFqn: 'core.Page@1.0.0',
  ...extra,
});
const stored = (s: RouteSpec): RouteDoc => ({ ...s, _id: s.key, createdAt: new Date(0), updatedAt: new Date(0) });

describe('planRoutes', () => {
  it('sorts routes into added, updated, removed and unchanged', () => {
    const before = [stored(spec('a')), stored(spec('b', { roles: ['X'] })), stored(spec('c'))];
    const plan = planRoutes(before, [spec('a'), spec('b', { roles: ['Y'] }), spec('d')], new Set());
    expect(plan.added.map((s) => s.key)).toEqual(['d']);
    expect(plan.updated.map((u) => u.spec.key)).toEqual(['b']);
    expect(plan.updated[0]!.old.roles).toEqual(['X']);
    expect(plan.removed.map((d) => d._id)).toEqual(['c']);
    expect(countsOf(plan, 0)).toEqual({ added: 1, updated: 1, removed: 1, unchanged: 1, failed: 0 });
  });

  it('compares deeply and ignores field order', () => {
    const s = spec('a', { args: { x: { y: [1, 2] }, z: 'q' }, exact: true });
    const reordered: RouteDoc = {
      updatedAt: new Date(0),
      exact: true,
      componentFqn: s.componentFqn,
      args: { z: 'q', x: { y: [1, 2] } },
      _id: 'a',
      path: s.path,
      key: s.key,
      createdAt: new Date(0),
    };
    const plan = planRoutes([reordered], [s], new Set());
    expect(hasChanges(plan)).toBe(false);
    expect(plan.unchanged).toBe(1);
    expect(hasChanges(planRoutes([stored(s)], [spec('a', { args: { x: { y: [2, 1] }, z: 'q' }, exact: true })], new Set()))).toBe(true);
    expect(hasChanges(planRoutes([stored(s)], [spec('a', { args: { x: { y: [1, 2] }, z: 'q' } })], new Set()))).toBe(true);
  });

  it('keeps the stored version of a route whose config entry is invalid', () => {
    const plan = planRoutes([stored(spec('a')), stored(spec('bad'))], [spec('a')], new Set(['bad']));
    expect(plan.removed).toEqual([]);
    expect(plan.kept).toBe(1);
  });
});

describe('client upsert status', () => {
  const steps = (over: Partial<Record<ClientStep, StepResult['status']>> = {}) =>
    Object.fromEntries(
      (['client', 'routes', 'menus', 'components', 'users'] as const).map((s) => [
        s,
        { status: over[s] ?? 'ok', counts: emptyCounts(), durationMs: 0 },
      ]),
    ) as Record<ClientStep, StepResult>;

  it('completed only without errors; partial when a step failed or was compensated; failed without a client document', () => {
    expect(statusOf(steps(), [])).toBe('completed');
    expect(statusOf(steps({ menus: 'failed' }), [])).toBe('partial');
    expect(statusOf(steps({ routes: 'compensated' }), [])).toBe('partial');
    expect(statusOf(steps({ client: 'failed', routes: 'skipped' }), [])).toBe('failed');
    expect(allStepsRan(steps())).toBe(true);
    expect(allStepsRan(steps({ users: 'failed' }))).toBe(false);
  });
});
