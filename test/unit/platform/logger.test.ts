import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { withLogFields } from '../../../infra/log-context';
import { createLogger } from '../../../infra/logger';

// The unit-of-work fields (infra/log-context.ts) reach every line, but never twice: a JSON line
// with a repeated key is ambiguous to log shippers.

function capture() {
  const out = new PassThrough();
  let text = '';
  out.on('data', (b: Buffer) => (text += b.toString()));
  return { log: createLogger({ name: 'test', destination: out }), lines: () => text.trim().split('\n') };
}

const count = (line: string, key: string) => line.split(`"${key}":`).length - 1;

describe('logger', () => {
  it('adds the activity fields to every line, once, also under a child that binds some of them', async () => {
    const { log, lines } = capture();
    withLogFields({ traceId: 'trace-1', correlationId: 'corr-1', workflowId: 'wf-1', activityType: 'syncCollection' }, () => {
      log.child({ correlationId: 'corr-1', workflowId: 'wf-1' }).info('child line');
      log.info('root line');
    });
    log.info('outside');
    await new Promise((r) => setImmediate(r));
    const [child, root, outside] = lines();
    for (const line of [child!, root!]) {
      for (const key of ['traceId', 'correlationId', 'workflowId', 'activityType']) expect(count(line, key), `${key} in ${line}`).toBe(1);
      expect(JSON.parse(line)).toMatchObject({
        traceId: 'trace-1',
        correlationId: 'corr-1',
        workflowId: 'wf-1',
        activityType: 'syncCollection',
      });
    }
    expect(JSON.parse(outside!)).not.toHaveProperty('traceId');
  });
});
