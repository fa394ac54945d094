import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from 'mongodb';
import { driftOf, generatePair, rawCompare } from '../../../fixtures/reconcile-data';
import { lastJson, useCli } from '../../helpers/cli';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// The reconcile CLI as an operator runs it: a child process with the file's config, through the
// HTTP API (an app listening on a loopback port) to the worker in this process.

const STACK = { worker: {}, app: {} };

describe('CLI: reconcile', () => {
  let data: Db;
  const stack = useStack(STACK);
  const cli = useCli(stack);
  beforeAll(() => {
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
});
