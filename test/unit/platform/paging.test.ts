import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors';
import { decodeCursor, encodeCursor, mapPage, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, pageOf, pageRequestOf } from '../../../shared/paging';

// The cursor format and the page flags every list endpoint shares (shared/paging.ts).

describe('cursor encoding', () => {
  it('round-trips string and number keys, unicode included, as URL-safe text', () => {
    for (const key of ['t-001', 'rc-x|y/z+=', 'ünï©ødé 🚀', 42, 0, -7.5]) {
      const c = encodeCursor(key);
      expect(c).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeCursor(c)).toEqual({ key, direction: 'next' });
    }
  });

  it('is base64url of the last key and the direction', () => {
    const c = encodeCursor('abc');
    expect(JSON.parse(Buffer.from(c, 'base64url').toString('utf8'))).toEqual({ k: 'abc', d: 'next' });
  });

  it('refuses anything it did not make with a ValidationError (400)', () => {
    const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
    const bad = [
      '',
      'not a cursor!',
      '%%%',
      b64('plain text'),
      b64([1, 2]),
      b64(null),
      b64({ k: 'a' }),
      b64({ k: 'a', d: 'prev' }),
      b64({ k: '', d: 'next' }),
      b64({ k: { $gt: '' }, d: 'next' }),
      b64({ k: 'a', d: 'next', extra: 1 }),
      Buffer.from([0xff, 0xfe, 0xfd]).toString('base64url'),
      'A'.repeat(2000),
    ];
    for (const c of bad) {
      expect(() => decodeCursor(c), c).toThrow(ValidationError);
      try {
        decodeCursor(c);
      } catch (err) {
        expect((err as ValidationError).status).toBe(400);
      }
    }
  });
});

describe('page requests and flags', () => {
  it('limit defaults to 50, accepts 1..200, refuses the rest', () => {
    expect(pageRequestOf({})).toEqual({ limit: PAGE_LIMIT_DEFAULT });
    expect(pageRequestOf({ limit: '1' })).toEqual({ limit: 1 });
    expect(pageRequestOf({ limit: String(PAGE_LIMIT_MAX) })).toEqual({ limit: 200 });
    for (const limit of ['0', '201', '-1', '1.5', 'x']) expect(() => pageRequestOf({ limit }), limit).toThrow(ValidationError);
    expect(pageRequestOf({ cursor: encodeCursor('k9') })).toEqual({ limit: 50, after: 'k9' });
    expect(() => pageRequestOf({ cursor: 'garbage!' })).toThrow(ValidationError);
  });

  it('limit + 1 rows → hasNext with the last item as cursor; hasPrev when a cursor was given', () => {
    const rows = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
    const first = pageOf(rows, { limit: 2 }, (r) => r.id, 9);
    expect(first.items.map((r) => r.id)).toEqual(['a', 'b']);
    expect(first.page).toEqual({ limit: 2, nextCursor: encodeCursor('b'), hasNext: true, hasPrev: false, total: 9 });
    const last = pageOf(rows.slice(2), { limit: 2, after: 'b' }, (r) => r.id);
    expect(last.page).toEqual({ limit: 2, nextCursor: null, hasNext: false, hasPrev: true });
    const empty = pageOf([], { limit: 5 }, (r: { id: string }) => r.id);
    expect(empty).toEqual({ items: [], page: { limit: 5, nextCursor: null, hasNext: false, hasPrev: false } });
    expect(mapPage(first, (r) => r.id.toUpperCase()).items).toEqual(['A', 'B']);
  });
});
