import { Double, Int32, Long } from 'mongodb';

// How two versions of one record compare, and what a write does about it. Pure. Versions compare
// by kind: numbers numerically (numeric strings too), dates as dates (ISO strings too); two
// different opaque strings have no order. A change of kind, or one version with two contents,
// is a conflict: counted, and decided by which read is newer — never dropped silently.

export type VersionKind = 'none' | 'number' | 'date' | 'text' | 'other';

/** incoming vs stored. */
export type VersionOrder = 'newer' | 'older' | 'equal' | 'unordered' | 'kind-changed';

type Normal =
  | { kind: 'none' }
  | { kind: 'number'; n: number | bigint }
  | { kind: 'date'; ms: number }
  | { kind: 'text'; s: string }
  | { kind: 'other'; v: unknown };

const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;
/** A date, or a date-time with an explicit zone (as the HTTP source accepts updatedAt). */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/i;

function numberOf(s: string): number | bigint {
  const n = Number(s);
  return INTEGER.test(s) && !Number.isSafeInteger(n) ? BigInt(s) : n;
}

function normalize(v: unknown): Normal {
  if (v === undefined || v === null) return { kind: 'none' };
  if (typeof v === 'number') return Number.isNaN(v) ? { kind: 'other', v } : { kind: 'number', n: v };
  if (typeof v === 'bigint') return { kind: 'number', n: v };
  if (v instanceof Int32 || v instanceof Double) return normalize(v.valueOf());
  if (v instanceof Long) return { kind: 'number', n: v.toBigInt() };
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? { kind: 'other', v } : { kind: 'date', ms: v.getTime() };
  if (typeof v === 'string') {
    const s = v.trim();
    if (NUMERIC.test(s)) return { kind: 'number', n: numberOf(s) };
    const ms = ISO_DATE.test(s) ? Date.parse(s) : Number.NaN;
    return Number.isNaN(ms) ? { kind: 'text', s: v } : { kind: 'date', ms };
  }
  return { kind: 'other', v };
}

export const versionKind = (v: unknown): VersionKind => normalize(v).kind;

function sign(a: number | bigint, b: number | bigint): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.sign(a - b);
  // One side is beyond 2^53: compare exactly where both are integers.
  const whole = (x: number | bigint) => typeof x === 'bigint' || Number.isInteger(x);
  if (whole(a) && whole(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x === y ? 0 : x > y ? 1 : -1;
  }
  return Math.sign(Number(a) - Number(b));
}

const order = (s: number): VersionOrder => (s > 0 ? 'newer' : s < 0 ? 'older' : 'equal');

export function compareVersions(incoming: unknown, stored: unknown): VersionOrder {
  const a = normalize(incoming);
  const b = normalize(stored);
  if (a.kind !== b.kind) return 'kind-changed';
  if (a.kind === 'number' && b.kind === 'number') return order(sign(a.n, b.n));
  if (a.kind === 'date' && b.kind === 'date') return order(Math.sign(a.ms - b.ms));
  if (a.kind === 'text' && b.kind === 'text') return a.s === b.s ? 'equal' : 'unordered';
  return 'unordered';
}

/** What a write knows of a record: the version it is ordered by, its content hash, when it was read. */
export interface VersionedState {
  version?: unknown;
  hash?: string;
  readAt?: Date;
}

export interface WritePlan {
  op: 'insert' | 'replace' | 'skip';
  /** Set when the versions could not order the two contents. */
  conflict?: string;
}

/**
 * Insert when absent; nothing when the content is the same or the stored version is newer;
 * replace when the incoming version is newer. Otherwise (no versions, two opaque ones, the same
 * version with other content, a change of kind) the later read wins.
 */
export function planWrite(incoming: VersionedState & { readAt: Date }, stored: VersionedState | undefined): WritePlan {
  if (!stored) return { op: 'insert' };
  if (incoming.hash !== undefined && incoming.hash === stored.hash) return { op: 'skip' };
  const laterRead = !stored.readAt || incoming.readAt.getTime() >= stored.readAt.getTime();
  const byRead = laterRead ? 'replace' : 'skip';
  switch (compareVersions(incoming.version, stored.version)) {
    case 'newer':
      return { op: 'replace' };
    case 'older':
      return { op: 'skip' };
    case 'equal':
      // Stored before read times were kept (an older layout): rewritten in the current shape.
      if (!stored.readAt) return { op: 'replace' };
      return { op: byRead, conflict: `version ${String(incoming.version)} is stored with other content` };
    case 'kind-changed':
      return { op: byRead, conflict: `version changed kind (${versionKind(stored.version)} → ${versionKind(incoming.version)})` };
    default:
      return { op: byRead };
  }
}
