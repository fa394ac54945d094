import { BSON, type Db } from 'mongodb';
import type { Migration, MigrationRegistry } from '../../activities/migrations/registry';
import { collectionExists, listIndexSpecs, snapshotCollection } from '../../activities/migrations/copy';
import type { CollectionSnapshot } from '../../shared/migrations';

// Migrations defined by a test at run time: worker and API share one registry the test adds to.

export function mutableRegistry(): MigrationRegistry & { add(...ms: Migration[]): void } {
  const byName = new Map<string, Migration>();
  return {
    add: (...ms) => ms.forEach((m) => byName.set(m.name, m)),
    list: () => [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    get: (name) => byName.get(name),
  };
}

/** `n` documents with types a lossy copy would change (doubles that look like ints, longs, dates, nesting). */
export async function seed(db: Db, collection: string, n: number, batch = 1000): Promise<void> {
  for (let i = 0; i < n; i += batch) {
    const docs = Array.from({ length: Math.min(batch, n - i) }, (_, j) => {
      const k = i + j;
      return {
        _id: `d${String(k).padStart(7, '0')}`,
        n: k,
        score: new BSON.Double(k % 7),
        big: BSON.Long.fromNumber(k * 1_000_003),
        at: new Date(1_700_000_000_000 + k),
        tags: ['a', k % 3],
        meta: { even: k % 2 === 0 },
      };
    });
    await db.collection(collection).insertMany(docs as never[]);
  }
}

export interface CollectionState {
  exists: boolean;
  snapshot: CollectionSnapshot;
  indexes: string[];
}

/** Count + checksum + index names of each collection: "identical" in the restore assertions. */
export async function stateOf(db: Db, names: readonly string[]): Promise<Record<string, CollectionState>> {
  const out: Record<string, CollectionState> = {};
  for (const name of names) {
    const exists = await collectionExists(db, name);
    out[name] = {
      exists,
      snapshot: await snapshotCollection(db.collection(name)),
      indexes: (await listIndexSpecs(db.collection(name))).map((i) => i.name).sort(),
    };
  }
  return out;
}

/** A promise the test resolves to let a blocked migration go on. */
export function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}
