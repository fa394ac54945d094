import { describe, expect, it } from 'vitest';
import { lastMovedAt, progressOfRun, progressEveryFor } from '../../../activities/tenant-sync/progress';

// "Stuck" = no progress by *that* run: a later sync of the same tenant does not keep an older
// run left behind looking alive.

describe('progress of a run', () => {
  const at = new Date('2026-12-01T10:00:00Z');
  const mark = { at, runId: 'sync-acme-1' };

  it("counts the tenant's mark only for the run that wrote it (and its direct fallback)", () => {
    expect(progressOfRun(mark, 'sync-acme-1')).toEqual(at);
    expect(progressOfRun(mark, 'sync-acme-1:fallback')).toEqual(at);
    expect(progressOfRun(mark, 'sync-acme-0')).toBeUndefined();
    expect(progressOfRun(mark, 'sync-acme-10')).toBeUndefined();
    expect(progressOfRun(undefined, 'sync-acme-1')).toBeUndefined();
    expect(progressOfRun(mark, undefined)).toBeUndefined();
  });

  it('a run last moved at the latest of its start and its marks', () => {
    const start = new Date('2026-12-01T09:00:00Z');
    expect(lastMovedAt(start, progressOfRun(mark, 'other'))).toEqual(start);
    expect(lastMovedAt(start, progressOfRun(mark, 'sync-acme-1'), undefined)).toEqual(at);
  });

  it('marks several times per stuck threshold, at most every 5 s', () => {
    expect(progressEveryFor(900_000)).toBe(5_000);
    expect(progressEveryFor(1_000)).toBe(200);
    expect(progressEveryFor(10)).toBe(50);
  });
});
