import { describe, expect, it } from 'vitest';
import { boundaryAfter, newCheckpoint, sameBoundary, tally, watermarkAfter } from '../../../activities/tenant-sync/checkpoint';
import { BOUNDARY_MAX, type WriteCounts } from '../../../activities/records/writer';
import type { SourcePage } from '../../../activities/sources/types';

// The boundary a sync keeps with its watermark: the records at its newest updatedAt, merged
// across pages, replaced by a newer time, dropped when too many share one time or when the
// watermark is not that time (capped at the sync start, held back by a rejected record).

const T1 = '2024-06-01T00:00:01.000Z';
const T2 = '2024-06-01T00:00:02.000Z';
const page = (updatedAts: string[], next: string | null = null): SourcePage =>
  ({ records: updatedAts.map((u, i) => ({ id: `r${i}`, updatedAt: u, data: {} })), nextCursor: next }) as unknown as SourcePage;
const counts = (at: string, keys: string[], rest: Partial<WriteCounts> = {}): WriteCounts => ({
  written: keys.length,
  unchanged: 0,
  rejected: 0,
  conflicts: 0,
  rejectedRecords: [],
  newest: { at, keys: keys.map((k) => ({ k, h: `h-${k}` })) },
  ...rest,
});
const LATER = '2030-01-01T00:00:00.000Z';

describe('the boundary kept with a watermark', () => {
  it('merges the records of one time across pages and is replaced by a newer time', () => {
    const cp = newCheckpoint(null, true);
    tally(cp, page([T1], 'c1'), counts(T1, ['a']));
    tally(cp, page([T1], 'c2'), counts(T1, ['b']));
    expect(boundaryAfter(cp, watermarkAfter(cp, LATER))?.keys.map((e) => e.k)).toEqual(['a', 'b']);
    tally(cp, page([T2]), counts(T2, ['c']));
    expect(boundaryAfter(cp, watermarkAfter(cp, LATER))).toEqual({ at: T2, keys: [{ k: 'c', h: 'h-c' }] });
    // An older page after it changes nothing.
    tally(cp, page([T1]), counts(T1, ['d']));
    expect(boundaryAfter(cp, watermarkAfter(cp, LATER))?.keys.map((e) => e.k)).toEqual(['c']);
  });

  it('keeps none past BOUNDARY_MAX records at one time, also when they arrive over several pages', () => {
    const cp = newCheckpoint(null, true);
    const half = Array.from({ length: BOUNDARY_MAX / 2 + 1 }, (_, i) => `k${i}`);
    tally(cp, page([T1]), counts(T1, half));
    expect(boundaryAfter(cp, T1)).toBeDefined();
    tally(
      cp,
      page([T1]),
      counts(
        T1,
        half.map((k) => `${k}'`),
      ),
    );
    expect(boundaryAfter(cp, T1)).toBeUndefined();
    tally(cp, page([T1]), counts(T1, ['x']));
    expect(boundaryAfter(cp, T1)).toBeUndefined();
  });

  it('keeps none when the watermark is not the newest change (capped at the sync start, or held by a rejected record)', () => {
    const cp = newCheckpoint(null, true);
    tally(cp, page([T2]), counts(T2, ['a']));
    expect(boundaryAfter(cp, watermarkAfter(cp, T1))).toBeUndefined();
    const held = newCheckpoint(null, true);
    tally(held, page([T2, T1]), counts(T2, ['a'], { rejected: 1, rejectedRecords: [{ key: 'r1', reason: 'bad', updatedAt: T1 }] }));
    expect(watermarkAfter(held, LATER)).toBe(T1);
    expect(boundaryAfter(held, watermarkAfter(held, LATER))).toBeUndefined();
  });

  it('compares by content, not order', () => {
    /** A boundary at `at` from "key:hash" pairs. */
    const b = (at: string, ...pairs: string[]) => ({ at, keys: pairs.map((p) => ({ k: p.split(':')[0]!, h: p.split(':')[1]! })) });
    const a = b(T1, 'a:1', 'b:2');
    expect(sameBoundary(a, b(T1, 'b:2', 'a:1'))).toBe(true);
    expect(sameBoundary(a, b(T1, 'b:3', 'a:1'))).toBe(false);
    expect(sameBoundary(a, b(T2, 'a:1', 'b:2'))).toBe(false);
    expect(sameBoundary(a, undefined)).toBe(false);
    expect(sameBoundary(undefined, undefined)).toBe(true);
  });
});
