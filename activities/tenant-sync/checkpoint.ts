import { MAX_REJECTED_LISTED, type RejectedRecordInfo } from '../../shared/tenant-sync';
import { describeKey } from '../records/key-order';
import { BOUNDARY_MAX, type Boundary, type WriteCounts } from '../records/writer';
import type { SourcePage } from '../sources/types';

// A collection sync's running tally, heartbeated so a retry resumes, and the watermark it leaves.

export interface Checkpoint {
  cursor: string | null;
  written: number;
  unchanged: number;
  rejected: number;
  conflicts: number;
  /** The first rejected records, for the tenant's status. */
  rejectedRecords: RejectedRecordInfo[];
  /** Oldest updatedAt of a rejected record: the watermark is held there, so it is read again. */
  oldestRejectedAt?: string;
  /** A rejected record had no updatedAt: only a full sync reads it again, so no watermark is kept. */
  rejectedUntimed?: boolean;
  maxUpdatedAt?: string;
  /** The records seen at maxUpdatedAt, at most BOUNDARY_MAX + 1 (more: none is kept). */
  boundary?: Boundary;
  mode: 'full' | 'incremental';
  since: string | null;
  /** The target collection was empty when this sync began: insert without reading versions first. */
  assumeAbsent: boolean;
}

export function newCheckpoint(since: string | null, assumeAbsent: boolean): Checkpoint {
  return {
    cursor: null,
    written: 0,
    unchanged: 0,
    rejected: 0,
    conflicts: 0,
    rejectedRecords: [],
    mode: since ? 'incremental' : 'full',
    since,
    assumeAbsent,
  };
}

/** A checkpoint heartbeated by an earlier version of this activity, completed. */
export function resumedCheckpoint(cp: Checkpoint): Checkpoint {
  return { ...cp, conflicts: cp.conflicts ?? 0, rejectedRecords: cp.rejectedRecords ?? [] };
}

/** Adds one written page to the tally. */
export function tally(cp: Checkpoint, page: SourcePage, counts: WriteCounts): void {
  cp.written += counts.written;
  cp.unchanged += counts.unchanged;
  cp.rejected += counts.rejected;
  cp.conflicts += counts.conflicts;
  if (counts.collided) cp.assumeAbsent = false;
  for (const r of counts.rejectedRecords) {
    if (cp.rejectedRecords.length < MAX_REJECTED_LISTED) cp.rejectedRecords.push({ ...describeKey(r.key), reason: r.reason });
    if (!r.updatedAt) cp.rejectedUntimed = true;
    else if (!cp.oldestRejectedAt || r.updatedAt < cp.oldestRejectedAt) cp.oldestRejectedAt = r.updatedAt;
  }
  for (const r of page.records) if (r.updatedAt && (!cp.maxUpdatedAt || r.updatedAt > cp.maxUpdatedAt)) cp.maxUpdatedAt = r.updatedAt;
  const n = counts.newest;
  if (n && n.at === cp.maxUpdatedAt) {
    // The page's newest records join (same time) or replace (newer) the boundary so far.
    const keys = cp.boundary?.at === n.at ? [...cp.boundary.keys, ...n.keys] : n.keys;
    cp.boundary = { at: n.at, keys: keys.slice(0, BOUNDARY_MAX + 1) };
  }
  cp.cursor = page.nextCursor;
}

/**
 * The newest change seen, but never later than this sync's start (minus a margin), and never
 * past a rejected record; without new changes the previous one stays.
 */
export function watermarkAfter(cp: Checkpoint, syncStartedAt: string): string | undefined {
  if (cp.rejectedUntimed) return undefined;
  let w = cp.maxUpdatedAt ? (cp.maxUpdatedAt < syncStartedAt ? cp.maxUpdatedAt : syncStartedAt) : (cp.since ?? undefined);
  if (cp.oldestRejectedAt && (!w || cp.oldestRejectedAt < w)) w = cp.oldestRejectedAt;
  return w;
}

/** The boundary to keep with the watermark: only when the watermark is the newest change seen. */
export function boundaryAfter(cp: Checkpoint, watermark: string | undefined): Boundary | undefined {
  return watermark !== undefined && cp.boundary?.at === watermark && cp.boundary.keys.length <= BOUNDARY_MAX ? cp.boundary : undefined;
}

/** Whether two boundaries hold the same records (order aside). */
export function sameBoundary(a: Boundary | undefined, b: Boundary | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.at !== b.at || a.keys.length !== b.keys.length) return false;
  const m = new Map(a.keys.map((e) => [e.k, e.h]));
  return b.keys.every((e) => m.get(e.k) === e.h);
}
