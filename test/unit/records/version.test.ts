import { describe, expect, it } from 'vitest';
import { Binary, Double, Int32, Long, ObjectId } from 'mongodb';
import { canonical, keyText, recordHash } from '../../../activities/records/hash';
import { unsafeField } from '../../../activities/records/fields';
import { compareVersions, planWrite, versionKind, type VersionOrder } from '../../../activities/records/version';

// Versions compare by kind, never as text; what a write does with each comparison; the
// type-aware record hash and the field-name check the writer relies on.

const at = (iso: string) => new Date(iso);

describe('compareVersions (incoming vs stored)', () => {
  const cases: Array<[string, unknown, unknown, VersionOrder]> = [
    ['numeric strings as numbers: "10" > "9"', '10', '9', 'newer'],
    ['"9" < "10"', '9', '10', 'older'],
    ['a number against a numeric string: 10 > "9"', 10, '9', 'newer'],
    ['a numeric string against a number: "9" < 10', '9', 10, 'older'],
    ['Int32 and Long by value', new Int32(7), Long.fromNumber(6), 'newer'],
    ['Double 2.0 equals 2', new Double(2), 2, 'equal'],
    ['Longs beyond 2^53 exactly', Long.fromString('9007199254740993'), Long.fromString('9007199254740992'), 'newer'],
    ['a Date against its ISO string: equal', at('2024-05-01T10:00:00Z'), '2024-05-01T10:00:00.000Z', 'equal'],
    ['a Date against an older ISO string', at('2024-05-01T10:00:01Z'), '2024-05-01T10:00:00Z', 'newer'],
    ['ISO strings with zones as instants', '2024-05-01T12:00:00+02:00', '2024-05-01T10:00:01Z', 'older'],
    ['a date-only string as a date', '2024-05-02', at('2024-05-01T23:00:00Z'), 'newer'],
    ['two opaque strings: no order', 'v10', 'v9', 'unordered'],
    ['the same opaque string', 'etag-1', 'etag-1', 'equal'],
    ['number → opaque string: a change of kind', 'v2', 1, 'kind-changed'],
    ['date → number: a change of kind', 5, at('2024-01-01T00:00:00Z'), 'kind-changed'],
    ['unversioned → versioned', 1, undefined, 'kind-changed'],
    ['both unversioned', undefined, undefined, 'unordered'],
  ];
  it.each(cases)('%s', (_name, incoming, stored, expected) => {
    expect(compareVersions(incoming, stored)).toBe(expected);
  });

  it('names kinds', () => {
    expect([
      versionKind(' 42 '),
      versionKind('1e3'),
      versionKind('2024-01-01'),
      versionKind('abc'),
      versionKind(null),
      versionKind({}),
    ]).toEqual(['number', 'number', 'date', 'text', 'none', 'other']);
  });
});

describe('planWrite', () => {
  const t0 = at('2024-01-01T00:00:00Z');
  const t1 = at('2024-01-01T00:00:01Z');
  const stored = (version: unknown, hash = 'old', readAt: Date | null = t0) => ({ version, hash, ...(readAt ? { readAt } : {}) });

  it('inserts when absent; same content is never rewritten', () => {
    expect(planWrite({ version: 1, hash: 'h', readAt: t1 }, undefined)).toEqual({ op: 'insert' });
    expect(planWrite({ version: 2, hash: 'h', readAt: t1 }, stored(1, 'h'))).toEqual({ op: 'skip' });
  });

  it('a newer version replaces, an older one does not, whenever each was read', () => {
    expect(planWrite({ version: '10', hash: 'h', readAt: t0 }, stored(9, 'x', t1))).toEqual({ op: 'replace' });
    expect(planWrite({ version: '9', hash: 'h', readAt: t1 }, stored('10'))).toEqual({ op: 'skip' });
  });

  it('the same version with other content is a conflict, decided by the later read', () => {
    const later = planWrite({ version: 3, hash: 'h', readAt: t1 }, stored(3));
    expect(later).toMatchObject({ op: 'replace', conflict: expect.stringMatching(/version 3 is stored with other content/) });
    expect(planWrite({ version: 3, hash: 'h', readAt: t0 }, stored(3, 'x', t1))).toMatchObject({
      op: 'skip',
      conflict: expect.any(String),
    });
  });

  it('a version that changed kind is a conflict, not a record stuck as unchanged', () => {
    expect(planWrite({ version: 'v2', hash: 'h', readAt: t1 }, stored(1))).toMatchObject({
      op: 'replace',
      conflict: expect.stringMatching(/number → text/),
    });
  });

  it('unversioned records: a read that came earlier never overwrites a later one', () => {
    expect(planWrite({ hash: 'h', readAt: t0 }, stored(undefined, 'x', t1))).toEqual({ op: 'skip' });
    expect(planWrite({ hash: 'h', readAt: t1 }, stored(undefined, 'x', t0))).toEqual({ op: 'replace' });
  });

  it('a copy stored before read times were kept is rewritten without a conflict', () => {
    expect(planWrite({ version: 3, hash: 'h', readAt: t0 }, stored(3, 'x', null))).toEqual({ op: 'replace' });
  });
});

describe('record hash and keys', () => {
  it('keeps BSON types apart but numbers by value (promoted or not)', () => {
    const oid = new ObjectId();
    expect(recordHash({ a: new Date(0) })).not.toBe(recordHash({ a: new Date(0).toISOString() }));
    expect(recordHash({ a: oid })).not.toBe(recordHash({ a: oid.toHexString() }));
    expect(recordHash({ a: new Binary(Buffer.from('hi')) })).not.toBe(recordHash({ a: Buffer.from('hi').toString('base64') }));
    expect(recordHash({ a: new Int32(5), b: new Double(1.5), c: Long.fromNumber(7) })).toBe(recordHash({ c: 7, b: 1.5, a: 5 }));
    expect(canonical(Long.fromString('9007199254740993'))).toEqual({ $long: '9007199254740993' });
    expect(recordHash({ a: '1' })).not.toBe(recordHash({ a: 1 }));
  });

  it('gives distinct map keys to "5" and 5, and to an ObjectId and its hex', () => {
    const oid = new ObjectId();
    expect(keyText('5')).not.toBe(keyText(5));
    expect(keyText(new Int32(5))).toBe(keyText(5));
    expect(keyText(oid)).not.toBe(keyText(oid.toHexString()));
  });
});

describe('unsafeField', () => {
  it('finds operator, dotted and NUL names at any depth, and our reserved top-level names', () => {
    expect(unsafeField({ ok: 1, nested: { list: [{ fine: true }] } })).toBeUndefined();
    expect(unsafeField({ profile: { $set: { admin: true } } })).toMatch(/profile › \$set starts with "\$"/);
    expect(unsafeField({ list: [{ x: 1 }, { 'a.b': 1 }] })).toMatch(/list › \[1\] › a\.b contains "\."/);
    expect(unsafeField({ 'bad\0': 1 })).toMatch(/NUL/);
    expect(unsafeField({ _sync: {} })).toMatch(/reserved/);
    expect(unsafeField({ nested: { _sync: 1, _id: 2 } })).toBeUndefined();
  });
});
