import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { loadConfigOrExit } from '../../infra/config';
import { createLogger } from '../../infra/logger';
import { connectMongo, pingMongo } from '../../infra/mongo';
import { createRedis, pingRedis } from '../../infra/redis';
import { createTemporalClient, pingTemporal } from '../../infra/temporal';
import { withTimeout } from '../../infra/timeout';
import { Operations, WorkflowIds, SearchAttributeKeys } from '../../shared/constants';
import { StackProbeNames, type StackProbeWorkflow } from '../../shared/stack-probe';

export function registerHealthCommand(program: Command): void {
  program
    .command('health')
    .description('check MongoDB, Redis and Temporal from this machine; --deep also runs a probe workflow through the worker')
    .option('--deep', 'run the stack-probe workflow (needs a running worker)')
    .action(async (o: { deep?: boolean }) => {
      const config = loadConfigOrExit();
      const log = createLogger({ name: 'cli', level: 'silent' });
      const timeout = Math.max(config.READY_TIMEOUT_MS, 2_000);
      const results: Record<string, string> = {};
      let failed = false;
      const check = async (name: string, fn: () => Promise<unknown>) => {
        const t0 = performance.now();
        try {
          await withTimeout(name, timeout, fn);
          results[name] = `ok (${Math.round(performance.now() - t0)} ms)`;
        } catch (err) {
          failed = true;
          results[name] = `FAILED: ${err instanceof Error ? err.message : String(err)}`;
        }
      };
      const redis = createRedis(config, log, 'cli');
      const temporal = createTemporalClient(config);
      let mongo: Awaited<ReturnType<typeof connectMongo>> | undefined;
      await check('mongodb', async () => {
        mongo = await connectMongo(config, log);
        await pingMongo(mongo, timeout);
      });
      await check('redis', () => pingRedis(redis));
      await check('temporal', () => pingTemporal(temporal, timeout));
      if (o.deep && !failed) {
        await check('probe workflow', () =>
          temporal.client.workflow.execute<StackProbeWorkflow>(StackProbeNames.workflow, {
            taskQueue: config.TEMPORAL_TASK_QUEUE,
            workflowId: WorkflowIds.stackProbe(randomUUID()),
            args: [randomUUID()],
            workflowExecutionTimeout: '20 seconds',
            typedSearchAttributes: [{ key: SearchAttributeKeys.Operation, value: Operations.stackProbe }],
            memo: { what: 'stack probe (health --deep)', startedBy: 'cli' },
          }),
        );
      }
      for (const [k, v] of Object.entries(results)) process.stdout.write(`${k.padEnd(16)} ${v}\n`);
      redis.disconnect();
      await Promise.allSettled([mongo?.close(), temporal.close()]);
      process.exit(failed ? 1 : 0);
    });
}
