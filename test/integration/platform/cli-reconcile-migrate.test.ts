import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Db } from 'mongodb';
import { defineMigration } from '../../../activities/migrations/registry';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { driftOf, generatePair, rawCompare } from '../../../fixtures/reconcile-data';
import { mutableRegistry } from '../../helpers/migrations';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// The reconcile and migrate CLIs as an operator runs them: child processes with the file's
// config. `reconcile` goes straight to MongoDB and Temporal; `migrate` through the HTTP API
// (here an app listening on a loopback port) to the worker in this process.

const run = promisify(execFile);
type CliResult = { code: number; stdout: string; stderr: string };

describe('CLI: reconcile and migrate', () => {
  let apiUrl: string;
  let data: Db;
  const registry = mutableRegistry();

  /** One CLI process (tsx start-up is seconds on a busy machine); never throws, answers its exit code. */
  const cli = async (...args: string[]): Promise<CliResult> => {
    const env = {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      MONGODB_URI: stack.deps.config.MONGODB_URI,
      MONGODB_DB: stack.deps.config.MONGODB_DB,
      REDIS_URL: stack.deps.config.REDIS_URL,
      TEMPORAL_ADDRESS: stack.deps.config.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: stack.deps.config.TEMPORAL_TASK_QUEUE,
      AUTH_JWT_SECRET: stack.deps.config.AUTH_JWT_SECRET,
      SYNC_API_URL: apiUrl,
    };
    try {
      const r = await run(path.join(REPO_ROOT, 'node_modules/.bin/tsx'), [path.join(REPO_ROOT, 'cli/index.ts'), ...args], {
        env,
        timeout: 90_000,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      if (typeof err.code !== 'number') throw e;
      return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  };
  const lastJson = (out: string) => JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;

  const stack = useStack({
    worker: { settings: { tenantSync: { pageSize: 500 }, migrations: { registry, batchSize: 250 } } },
    app: { extra: { migrations: registry } },
  });
  beforeAll(async () => {
    apiUrl = await stack.app.listen({ host: '127.0.0.1', port: 0 });
    data = stack.deps.mongo.client.db(uniqueId('clirc').replace(/-/g, '_'));
  });
  afterAll(async () => {
    await data?.dropDatabase().catch(() => undefined);
  });

  it(
    'reconcile start --follow repairs the target; status shows the result; cancel of a finished batch and bad flags fail',
    { timeout: 180_000 },
    async () => {
      const n = 200;
      const { drift } = await generatePair(data, { source: 'src', target: 'tgt' }, n, driftOf(n, 0.05));
      const repaired = drift.missing + drift.mismatched + drift.extra;
      const ns = [
        '--source-db',
        data.databaseName,
        '--source-collection',
        'src',
        '--target-db',
        data.databaseName,
        '--target-collection',
        'tgt',
      ];
      const started = await cli('reconcile', 'start', ...ns, '--chunk-size', '50', '--extras', 'delete', '--follow', '--json');
      expect(started.code, started.stderr).toBe(0);
      const p = lastJson(started.stdout);
      const outcomes = {
        matched: n - drift.missing - drift.mismatched,
        missing_in_target: drift.missing,
        extra_in_target: drift.extra,
        mismatched: drift.mismatched,
      };
      expect(p).toMatchObject({ state: 'completed', processed: n + drift.extra, repaired, failed: 0, outcomes });
      expect(await rawCompare(data.collection('src'), data.collection('tgt'))).toEqual({
        processed: n,
        matched: n,
        missing: 0,
        extra: 0,
        mismatched: 0,
      });

      const batchId = p.batchId as string;
      const status = await cli('reconcile', 'status', batchId, '--json');
      expect(status.code, status.stderr).toBe(0);
      expect(lastJson(status.stdout)).toMatchObject({ batchId, state: 'completed', repaired, outcomes });

      const cancel = await cli('reconcile', 'cancel', batchId);
      expect(cancel.code).toBe(1);
      expect(cancel.stderr).toContain(batchId);
      expect(cancel.stderr).toMatch(/finished/);
      const bad = await cli('reconcile', 'start', '--source-db', data.databaseName);
      expect(bad).toMatchObject({ code: 1, stderr: expect.stringContaining('--source-collection') });
    },
  );

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
