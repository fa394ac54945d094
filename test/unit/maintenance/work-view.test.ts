import { describe, expect, it } from 'vitest';
import {
  backlogOf,
  countsFromGroups,
  pollersOf,
  summarizeRunning,
  tenantClause,
  typeRow,
  visibilityLiteral,
  zeroCounts,
  type RunningExecution,
} from '../../../api/services/maintenance/work-view';
import { formatAge, renderWorkView } from '../../../cli/commands/maintenance/work';
import { table } from '../../../cli/format';

// The work view's pure parts: the coverage clause of its visibility queries, counts from a GROUP
// BY answer, running executions per tenant and the oldest per type, DescribeTaskQueue answers
// turned into plain numbers, and the CLI's tables.

const at = (iso: string) => new Date(iso);
/** What protobufjs decodes an int64 to (a Long): only toNumber() is read. */
const long = (n: number) => ({ toNumber: () => n }) as never;

describe('work view: visibility queries', () => {
  it("'*' adds nothing, a list adds TenantId IN (...), no tenant (or none that can be one) asks nothing", () => {
    expect(tenantClause('*')).toBe('');
    expect(tenantClause(['t-1', 'acme.eu', 't-1'])).toBe(" AND TenantId IN ('t-1', 'acme.eu')");
    expect(tenantClause([])).toBeNull();
    expect(tenantClause(["x' OR '1'='1", 'a b'])).toBeNull();
    expect(tenantClause(["x' OR 1=1", 'ok'])).toBe(" AND TenantId IN ('ok')");
  });

  it('quotes literals', () => {
    expect(visibilityLiteral('main')).toBe("'main'");
    expect(visibilityLiteral("o'neil")).toBe("'o\\'neil'");
  });
});

describe('work view: counts', () => {
  it('reads a GROUP BY ExecutionStatus answer; statuses it does not name are 0', () => {
    const counts = countsFromGroups([
      { count: 3, groupValues: [['Running']] },
      { count: 2, groupValues: [['Completed']] },
      { count: 1, groupValues: [['ContinuedAsNew']] },
      { count: 9, groupValues: [['Paused']] },
    ]);
    expect(counts).toEqual({ ...zeroCounts(), Running: 3, Completed: 2, ContinuedAsNew: 1 });
  });

  it('a row carries the priority class and key of its type and the total', () => {
    expect(typeRow('tenantSyncWorkflow', { ...zeroCounts(), Running: 1, Failed: 2 })).toMatchObject({
      priorityClass: 'login',
      priorityKey: 1,
      total: 3,
    });
    expect(typeRow('cleanupWorkflow', zeroCounts())).toMatchObject({ priorityClass: 'maintenance', priorityKey: 5, total: 0 });
  });
});

describe('work view: running executions', () => {
  const now = at('2026-01-01T01:00:00Z');
  const rows: RunningExecution[] = [
    { workflowId: 'r3', workflowType: 'reconcileWorkflow', tenantId: 'b', startTime: at('2026-01-01T00:50:00Z') },
    { workflowId: 'r2', workflowType: 'reconcileWorkflow', tenantId: 'a', startTime: at('2026-01-01T00:30:00Z') },
    { workflowId: 'r1', workflowType: 'reconcileWorkflow', tenantId: 'a', startTime: at('2026-01-01T00:40:00Z') },
    { workflowId: 'm1', workflowType: 'runMigrationsWorkflow', startTime: at('2026-01-01T00:59:30Z') },
  ];

  it('counts per tenant (most first, platform work as null) and finds the oldest per type, oldest first', () => {
    const s = summarizeRunning(rows, { truncated: false, now, runningPerType: new Map() });
    expect(s.tenants).toEqual([
      { tenantId: 'a', running: 2 },
      { tenantId: null, running: 1 },
      { tenantId: 'b', running: 1 },
    ]);
    expect(s.oldest).toEqual([
      {
        workflowType: 'reconcileWorkflow',
        workflowId: 'r2',
        tenantId: 'a',
        startTime: '2026-01-01T00:30:00.000Z',
        ageSeconds: 1800,
        exact: true,
      },
      { workflowType: 'runMigrationsWorkflow', workflowId: 'm1', startTime: '2026-01-01T00:59:30.000Z', ageSeconds: 30, exact: true },
    ]);
  });

  it('a truncated listing is exact only for types whose every running execution it saw', () => {
    const runningPerType = new Map([
      ['reconcileWorkflow', 10],
      ['runMigrationsWorkflow', 1],
    ]);
    const s = summarizeRunning(rows, { truncated: true, now, runningPerType });
    expect(s.oldest.map((o) => [o.workflowType, o.exact])).toEqual([
      ['reconcileWorkflow', false],
      ['runMigrationsWorkflow', true],
    ]);
    expect(summarizeRunning([], { truncated: false, now, runningPerType })).toEqual({ tenants: [], oldest: [] });
  });
});

describe('work view: DescribeTaskQueue', () => {
  it('turns stats (Long counts, Durations) and stats by priority key into numbers, keys in order', () => {
    const stats = (n: number, age: number) => ({
      approximateBacklogCount: long(n),
      approximateBacklogAge: { seconds: long(age), nanos: 500_000_000 },
      tasksAddRate: 1.5,
      tasksDispatchRate: 0.25,
    });
    const b = backlogOf({ stats: stats(7, 12), statsByPriorityKey: { 3: stats(5, 12), 1: stats(2, 1) }, pollers: [] });
    expect(b).toEqual({
      reported: true,
      approximateBacklogCount: 7,
      approximateBacklogAgeSeconds: 12.5,
      tasksAddRate: 1.5,
      tasksDispatchRate: 0.25,
      byPriorityKey: [
        {
          priorityKey: 1,
          reported: true,
          approximateBacklogCount: 2,
          approximateBacklogAgeSeconds: 1.5,
          tasksAddRate: 1.5,
          tasksDispatchRate: 0.25,
        },
        {
          priorityKey: 3,
          reported: true,
          approximateBacklogCount: 5,
          approximateBacklogAgeSeconds: 12.5,
          tasksAddRate: 1.5,
          tasksDispatchRate: 0.25,
        },
      ],
    });
    expect(backlogOf({ pollers: [], statsByPriorityKey: {} })).toMatchObject({
      reported: false,
      approximateBacklogCount: 0,
      byPriorityKey: [],
    });
  });

  it('lists pollers by identity with their last access time', () => {
    const p = pollersOf({
      pollers: [
        { identity: 'w2@host', lastAccessTime: { seconds: long(1_767_225_600), nanos: 250_000_000 }, ratePerSecond: 100000 },
        { identity: 'w1@host', ratePerSecond: 0 },
      ],
    });
    expect(p).toEqual([
      { identity: 'w1@host', lastAccessTime: null, ratePerSecond: 0 },
      { identity: 'w2@host', lastAccessTime: '2026-01-01T00:00:00.250Z', ratePerSecond: 100000 },
    ]);
  });
});

describe('work view: CLI tables', () => {
  it('pads text left and numbers right, with a rule under the header', () => {
    expect(
      table(
        ['name', 'n'],
        [
          ['a', 1],
          ['bbb', 22],
        ],
      ),
    ).toBe('name   n\n----  --\na      1\nbbb   22');
  });

  it('formats ages at a glance', () => {
    expect([5, 65, 3 * 3600 + 5 * 60 + 9, 2 * 86_400 + 4 * 3600].map(formatAge)).toEqual(['5s', '1m05s', '3h05m', '2d04h']);
  });

  it('renders every section of the view', () => {
    const text = renderWorkView({
      taskQueue: 'main',
      namespace: 'default',
      tenants: '*',
      generatedAt: '2026-01-01T00:00:00.000Z',
      countMethod: 'group-by',
      byType: [typeRow('reconcileWorkflow', { ...zeroCounts(), Running: 2 })],
      runningByTenant: { listed: 2, limit: 1000, truncated: false, tenants: [{ tenantId: 'acme', running: 2 }] },
      oldestRunning: [
        { workflowType: 'reconcileWorkflow', workflowId: 'reconcile:x', tenantId: 'acme', startTime: 'T', ageSeconds: 61, exact: false },
      ],
      backlog: {
        workflow: { ...backlogOf({ pollers: [] }), reported: true, approximateBacklogCount: 4 },
        activity: backlogOf({ pollers: [] }),
      },
      pollers: { workflow: [{ identity: '1@w', lastAccessTime: 'T', ratePerSecond: 0 }], activity: [] },
      lanes: [
        {
          lane: 'bulk',
          taskQueue: 'main--bulk',
          backlog: {
            workflow: backlogOf({ pollers: [] }),
            activity: { ...backlogOf({ pollers: [] }), reported: true, approximateBacklogCount: 7 },
          },
          pollers: { workflow: [], activity: [{ identity: '1@w', lastAccessTime: 'T', ratePerSecond: 0 }] },
        },
      ],
      pauses: [{ kind: 'reconcile', pausedBy: 'ops', reason: 'upgrade', pausedAt: 'T' }],
      quotas: {
        global: { reconcileConcurrent: 8, migrationsConcurrent: 1 },
        tenantDefaults: { ensurePerMinute: 60, reconcileConcurrentBatches: 2, reconcileStartsPerHour: 10 },
      },
    });
    for (const s of [
      'task queue main',
      'reconcileWorkflow',
      'Running',
      '1@w',
      'reconcile:x',
      '≥ 1m01s',
      'acme',
      'upgrade',
      'Quotas: global reconcile 8',
    ])
      expect(text).toContain(s);
    expect(text).toMatch(/workflow\s+4\s+0s/);
    expect(text).toMatch(/activity\s+n\/a/);
    // A lane's queues get rows of their own; the bulk lane runs no workflows, so it has no workflow row.
    expect(text).toMatch(/bulk activity\s+7\s+0s/);
    expect(text).not.toContain('bulk workflow');
  });
});
