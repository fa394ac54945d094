import { beforeAll, describe, expect, it } from 'vitest';
import { defineMigration } from '../../../activities/migrations/registry';
import { cliRunner } from '../../helpers/cli';
import { mutableRegistry } from '../../helpers/migrations';
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
  let apiUrl = '';
  const cli = cliRunner(
    () => stack.deps.config,
    () => apiUrl,
  );
  beforeAll(async () => {
    apiUrl = await stack.app.listen({ host: '127.0.0.1', port: 0 });
  });

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
});
