import { readdirSync } from 'node:fs';
import { BSON } from 'mongodb';
import { describe, expect, it } from 'vitest';
import {
  createRegistry,
  defineMigration,
  loadMigrations,
  MIGRATIONS_DIR,
  MigrationDefinitionError,
  migrationTemplate,
  type Migration,
} from '../../../activities/migrations/registry';
import { ChecksumAccumulator } from '../../../activities/migrations/copy';
import { backupIdFor } from '../../../activities/migrations/backup';

const m = (name: string, extra: Partial<Migration> = {}): Migration =>
  defineMigration({
    name,
    description: name,
    collections: [],
    up: async () => undefined,
    verify: async () => ({ ok: true, message: '' }),
    ...extra,
  });

describe('migration registry', () => {
  it('orders by name and finds by name', () => {
    const r = createRegistry([m('20260102-b'), m('20260101-a'), m('20260103-c')]);
    expect(r.list().map((x) => x.name)).toEqual(['20260101-a', '20260102-b', '20260103-c']);
    expect(r.get('20260102-b')?.name).toBe('20260102-b');
    expect(r.get('nope')).toBeUndefined();
  });

  it('rejects duplicates, bad names and missing functions', () => {
    expect(() => createRegistry([m('a1'), m('a1')])).toThrow(MigrationDefinitionError);
    expect(() => createRegistry([m('has space')])).toThrow(/invalid migration name/);
    expect(() => createRegistry([m('a1', { verify: undefined as never })])).toThrow(/up\(\) and verify\(\)/);
    expect(() => createRegistry([m('a1', { collections: ['x', 'x'] })])).toThrow(/twice/);
  });

  it('loads migrations/: every file default-exports a migration named like the file', async () => {
    const files = readdirSync(MIGRATIONS_DIR).filter((f) => /^\d.*\.ts$/.test(f));
    const r = await loadMigrations();
    expect(r.list().map((x) => `${x.name}.ts`)).toEqual(files.sort());
    expect(r.list().length).toBeGreaterThanOrEqual(2);
  });

  it('creates a timestamped template named like its file', () => {
    const t = migrationTemplate('Add Plan Field!', new Date('2026-11-25T14:50:07Z'));
    expect(t.fileName).toBe('20261125145007-add-plan-field.ts');
    expect(t.source).toContain(`name: '${t.name}'`);
    expect(() => migrationTemplate('!!!')).toThrow(MigrationDefinitionError);
  });

  it('names backups after the collection and time', () => {
    expect(backupIdFor('tenants', new Date('2026-11-25T14:50:07Z'), 'abc123')).toBe('backup__tenants__20261125T145007_abc123');
  });
});

describe('checksum', () => {
  const bytes = (d: object) => BSON.serialize(d);
  const sum = (docs: object[]) => {
    const acc = new ChecksumAccumulator();
    for (const d of docs) acc.add(bytes(d));
    return acc.snapshot();
  };

  it('ignores document order but sees every value, type and field-order change', () => {
    const docs = [
      { _id: 1, a: 'x' },
      { _id: 2, a: 'y' },
      { _id: 3, a: 'z' },
    ];
    const base = sum(docs);
    expect(sum([...docs].reverse())).toEqual(base);
    expect(sum([docs[0]!, docs[1]!, { _id: 3, a: 'Z' }])).not.toEqual(base);
    expect(sum([docs[0]!, docs[1]!, { a: 'z', _id: 3 }])).not.toEqual(base);
    expect(sum([{ _id: 1, n: new BSON.Double(1) }])).not.toEqual(sum([{ _id: 1, n: new BSON.Int32(1) }]));
    expect(sum([...docs, docs[0]!]).checksum).not.toEqual(base.checksum);
  });

  it('resumes from a snapshot', () => {
    const docs = Array.from({ length: 10 }, (_, i) => ({ _id: i }));
    const first = new ChecksumAccumulator();
    for (const d of docs.slice(0, 4)) first.add(bytes(d));
    const resumed = new ChecksumAccumulator(first.snapshot());
    for (const d of docs.slice(4)) resumed.add(bytes(d));
    expect(resumed.snapshot()).toEqual(sum(docs));
  });
});
