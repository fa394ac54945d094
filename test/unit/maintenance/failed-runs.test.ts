import { describe, expect, it } from 'vitest';
import { parseSince } from '../../../cli/commands/maintenance/failed-runs';
import { FailedRunsQueryError, failedRunsQuery } from '../../../activities/maintenance/failed-runs';

// The visibility query behind `runs failed` / `runs retry`, and the CLI's --since.

describe('failed-runs visibility query', () => {
  it('defaults to every failed state and adds each filter', () => {
    expect(failedRunsQuery()).toBe("ExecutionStatus IN ('Failed','TimedOut','Terminated')");
    expect(
      failedRunsQuery({
        type: 'tenantSyncWorkflow',
        tenantId: 't-1',
        taskQueue: 'main',
        since: new Date('2026-01-02T03:04:05Z'),
        statuses: ['TimedOut'],
      }),
    ).toBe(
      "ExecutionStatus IN ('TimedOut') AND WorkflowType = 'tenantSyncWorkflow' AND TenantId = 't-1' AND (TaskQueue = 'main' OR TaskQueue = 'main--interactive') AND CloseTime > '2026-01-02T03:04:05.000Z'",
    );
  });

  it("escapes single quotes and refuses what the server's visibility cannot match", () => {
    expect(failedRunsQuery({ tenantId: "o'neil" })).toContain("TenantId = 'o\\'neil'");
    // A lane's own queue names only that queue.
    expect(failedRunsQuery({ taskQueue: 'main--interactive' })).toContain("AND (TaskQueue = 'main--interactive')");
    expect(() => failedRunsQuery({ tenantId: 'a"b' })).toThrow(FailedRunsQueryError);
    expect(() => failedRunsQuery({ type: 'a\\b' })).toThrow(/type: 'a\\b' holds a quote, backslash/);
    expect(() => failedRunsQuery({ tenantId: '' })).toThrow(/tenantId: must not be empty/);
    expect(() => failedRunsQuery({ since: new Date('nope') })).toThrow(/since: is not a valid date/);
    expect(() => failedRunsQuery({ statuses: ['Completed' as never] })).toThrow(/'Completed' is not one of Failed, TimedOut, Terminated/);
  });
});

describe('runs --since', () => {
  const now = Date.parse('2026-06-01T12:00:00Z');
  it('reads durations back from now and ISO dates', () => {
    expect(parseSince('30m', now).toISOString()).toBe('2026-06-01T11:30:00.000Z');
    expect(parseSince('24h', now).toISOString()).toBe('2026-05-31T12:00:00.000Z');
    expect(parseSince('7d', now).toISOString()).toBe('2026-05-25T12:00:00.000Z');
    expect(parseSince('2026-05-01T00:00:00Z', now).toISOString()).toBe('2026-05-01T00:00:00.000Z');
  });
  it('refuses anything else with a clear message', () => {
    for (const v of ['yesterday', '5w', '-1h', '2026-13-45'])
      expect(() => parseSince(v, now)).toThrow(/--since must be a duration like 30m, 24h, 7d or an ISO date/);
  });
});
