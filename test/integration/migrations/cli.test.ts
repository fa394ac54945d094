import { beforeAll, describe, expect, it } from 'vitest';
import { defineMigration } from '../../../activities/migrations/registry';
import { useCli } from '../../helpers/cli';
import { mutableRegistry, seed, stateOf } from '../../helpers/migrations';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// The migrate CLI as an operator runs it: a child process with the file's config, through the
// HTTP API (an app listening on a loopback port) to the worker in this process.

const registry = mutableRegistry();
const STACK = {
  worker: { settings: { migrations: { registry, batchSize: 250 } } },
  app: { extra: { migrations: registry } },
};

describe('CLI: migrate', () => {
  const stack = useStack(STACK);
  const cli = useCli(stack);

  it('migrate status lists a pending migration; migrate up runs it through the API and the worker', { timeout: 180_000 }, async () => {
    const name = `${uniqueId('m')}-cli`;
    const col = uniqueId('cli_items').replace(/-/g, '_');
    await stack.deps.mongo.db.collection(col).insertMany([{ n: 1 }, { n: 2 }]);
    registry.add(
      defineMigration({
        name,
        description: 'flag items from the CLI',
        collections: [col],
        up: async (ctx) => {
          const r = await ctx.db.collection(col).updateMany({}, { $set: { flag: true } });
          ctx.changes.push(`flagged ${r.modifiedCount}`);
        },
        verify: async (ctx) => ({ ok: (await ctx.db.collection(col).countDocuments({ flag: true })) === 2, message: 'all flagged' }),
      }),
    );
    const before = await cli('migrate', 'status', '--json');
    expect(before.code, before.stderr).toBe(0);
    expect((JSON.parse(before.stdout) as { pending: Array<{ name: string }> }).pending.map((m) => m.name)).toContain(name);

    const up = await cli('migrate', 'up', name, '--json');
    expect(up.code, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({
      state: 'completed',
      results: [{ name, outcome: 'completed', changes: ['flagged 2'], verify: { ok: true } }],
    });
    expect(await stack.deps.mongo.db.collection(col).countDocuments({ flag: true })).toBe(2);
    const after = await stack.app.inject({ method: 'GET', url: '/api/migrations/status', headers: await stack.bearer(['admin']) });
    expect(after.json().completed.map((m: { name: string }) => m.name)).toContain(name);
  });

  it(
    'migrate backup, backups, restore and prune go through the API; an unknown backup fails with the problem',
    { timeout: 180_000 },
    async () => {
      const db = stack.deps.mongo.db;
      const col = uniqueId('cli_bk').replace(/-/g, '_');
      await seed(db, col, 120);
      const before = await stateOf(db, [col]);

      const backup = await cli('migrate', 'backup', col);
      expect(backup.code, backup.stderr).toBe(0);
      const ref = JSON.parse(backup.stdout) as { backupId: string; count: number; checksum: string };
      expect(ref).toMatchObject({ collection: col, count: 120, checksum: before[col]!.snapshot.checksum });

      const list = await cli('migrate', 'backups');
      expect(list.code, list.stderr).toBe(0);
      expect((JSON.parse(list.stdout) as Array<{ backupId: string }>).map((b) => b.backupId)).toContain(ref.backupId);

      const into = `${col}_restored`;
      const restore = await cli('migrate', 'restore', ref.backupId, '--into', into);
      expect(restore.code, restore.stderr).toBe(0);
      expect(JSON.parse(restore.stdout)).toMatchObject({ backupId: ref.backupId, collection: into, count: 120, verified: true });
      expect((await stateOf(db, [into]))[into]!.snapshot).toEqual(before[col]!.snapshot);

      const unknown = await cli('migrate', 'restore', 'backup__nope__x');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain("Not found: backup 'backup__nope__x' was not found");

      const prune = await cli('migrate', 'prune', '--older-than-ms', String(365 * 86_400_000));
      expect(prune.code, prune.stderr).toBe(0);
      expect(JSON.parse(prune.stdout)).toMatchObject({ expired: [], cutoff: expect.any(String) });
      const badAge = await cli('migrate', 'prune', '--older-than-ms', 'soon');
      expect(badAge.code).toBe(1);
      expect(badAge.stderr).toContain('Invalid request');
    },
  );
});
