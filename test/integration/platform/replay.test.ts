import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DefaultLogger, Runtime, Worker, type ReplayResult } from '@temporalio/worker';
import * as workflows from '../../../workflows';
import { workflowSinks } from '../../../workers/telemetry';
import { historyFromJson } from '../../helpers/history-json';
import { stackInfo } from '../../helpers/stack';

// Replays every recorded history (test/fixtures/histories, `npm run histories:record`) with the
// workflow bundle the workers run (interceptor modules included) and the worker's sinks. A change
// to workflow code that would not replay a run already in flight fails here, before it ships.
// Needs no server: only the bundle the global setup built.

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/histories');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
/** `tenantSyncWorkflow.json`, `reconcileWorkflow.continued.json` → the workflow type before the first dot. */
const typeOfFile = (file: string) => file.split('.')[0]!;
const startedOf = (file: string) => {
  const history = historyFromJson(readFileSync(path.join(DIR, file), 'utf8'));
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  return { history, workflowType: started?.workflowType?.name ?? '', workflowId: started?.workflowId ?? file };
};

describe('replay of recorded workflow histories', () => {
  const results = new Map<string, ReplayResult>();

  beforeAll(async () => {
    try {
      Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
    } catch {
      // already installed in this process
    }
    const histories = files.map((f) => ({ workflowId: `${f}|${startedOf(f).workflowId}`, history: startedOf(f).history }));
    const code = readFileSync(stackInfo().bundlePath, 'utf8');
    const options = { workflowBundle: { code }, sinks: workflowSinks(undefined), replayName: 'replay-test' };
    for await (const r of Worker.runReplayHistories(options, histories)) results.set(r.workflowId.split('|')[0]!, r);
  });

  it('every workflow type the bundle exports has a recorded history, and every history names its type', () => {
    const exported = Object.entries(workflows)
      .filter(([, v]) => typeof v === 'function')
      .map(([name]) => name)
      .sort();
    expect(exported.length).toBeGreaterThanOrEqual(9);
    expect([...new Set(files.map(typeOfFile))].sort()).toEqual(exported);
    for (const f of files) expect(startedOf(f).workflowType, f).toBe(typeOfFile(f));
  });

  it.each(files)('%s replays without a determinism violation', (file) => {
    const r = results.get(file);
    expect(r, `${file} was not replayed`).toBeDefined();
    expect(r!.error, String(r!.error)).toBeUndefined();
  });
});
