import { ValidationError } from './errors';

// Cursor paging shared by every list endpoint. A cursor is opaque to callers: base64url of
// `{k: last key, d: direction}`. Lists walk an indexed key (`_id`) upwards with `limit + 1`, so
// a page costs one bounded read and rows inserted meanwhile never shift or repeat older rows.
// Pure (no node modules): the API, the stores and the CLI import it.

export const PAGE_LIMIT_DEFAULT = 50;
export const PAGE_LIMIT_MAX = 200;

/** The key a page ends at: a document `_id` (string or number), or an opaque token (Temporal visibility). */
export type PageKey = string | number;
/** Only forward paging is offered; the field keeps the format open for a `prev` later. */
export type PageDirection = 'next';

export interface PageInfo {
  limit: number;
  nextCursor: string | null;
  hasNext: boolean;
  /** A cursor was given: there are rows before this page. */
  hasPrev: boolean;
  /** All matching rows, where counting them is cheap (small collections only). */
  total?: number;
}

export interface Page<T> {
  items: T[];
  page: PageInfo;
}

export interface PageRequest {
  limit: number;
  /** The decoded cursor's key: rows strictly after it. */
  after?: PageKey;
}

const CURSOR_PATTERN = /^[A-Za-z0-9_-]{1,1400}$/;

const toBase64Url = (s: string): string => {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};

const fromBase64Url = (s: string): string => {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
};

export function encodeCursor(key: PageKey, d: PageDirection = 'next'): string {
  return toBase64Url(JSON.stringify({ k: key, d }));
}

/** The key a cursor points after; anything that is not a cursor we made is a ValidationError (400). */
export function decodeCursor(cursor: string): { key: PageKey; direction: PageDirection } {
  const bad = () => new ValidationError('cursor: not a cursor from a previous page of this list', { cursor: cursor.slice(0, 64) });
  if (!CURSOR_PATTERN.test(cursor)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromBase64Url(cursor));
  } catch {
    throw bad();
  }
  if (typeof parsed !== 'object' || parsed === null) throw bad();
  const { k, d } = parsed as { k?: unknown; d?: unknown };
  const keyOk = (typeof k === 'string' && k.length > 0) || (typeof k === 'number' && Number.isFinite(k));
  if (!keyOk || d !== 'next' || Object.keys(parsed).length !== 2) throw bad();
  return { key: k as PageKey, direction: 'next' };
}

/** `?limit` (default 50, at most 200; the query schema already refuses other text) and `?cursor`. */
export function pageRequestOf(q: { limit?: string | number; cursor?: string }): PageRequest {
  const raw = q.limit === undefined || q.limit === '' ? PAGE_LIMIT_DEFAULT : Number(q.limit);
  if (!Number.isInteger(raw) || raw < 1 || raw > PAGE_LIMIT_MAX)
    throw new ValidationError(`limit: an integer from 1 to ${PAGE_LIMIT_MAX}`, { limit: q.limit });
  return q.cursor === undefined ? { limit: raw } : { limit: raw, after: decodeCursor(q.cursor).key };
}

/**
 * A page from up to `limit + 1` rows read after `req.after` in key order: the extra row only
 * says that another page exists.
 */
export function pageOf<T>(rows: readonly T[], req: PageRequest, keyOf: (row: T) => PageKey, total?: number): Page<T> {
  const items = rows.slice(0, req.limit);
  const hasNext = rows.length > req.limit;
  return {
    items,
    page: {
      limit: req.limit,
      nextCursor: hasNext && items.length > 0 ? encodeCursor(keyOf(items.at(-1)!)) : null,
      hasNext,
      hasPrev: req.after !== undefined,
      ...(total !== undefined ? { total } : {}),
    },
  };
}

/** The same page with each row mapped (documents → API views). */
export const mapPage = <T, U>(p: Page<T>, fn: (row: T) => U): Page<U> => ({ items: p.items.map(fn), page: p.page });
