import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClient, writeClient } from '../../../fixtures/clients';
import type { UpsertAllClientsWorkflow } from '../../../shared/client-upsert';
import { lastJson, useCli } from '../../helpers/cli';
import { useStack } from '../../helpers/use-stack';

// The clients CLI as an operator runs it: `validate` checks files locally; `sync` and `show` go
// through the HTTP API (an app on a loopback port) to the worker in this process, which reads
// the configs from its own CLIENTS_DIR.

describe('CLI: clients', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'clients-cli-'));
  const badDir = mkdtempSync(path.join(tmpdir(), 'clients-cli-bad-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(badDir, { recursive: true, force: true });
  });
  const stack = useStack({ env: { CLIENTS_DIR: dir }, worker: {}, app: {} });
  const cli = useCli(stack);

  it('validate checks the files without a server: ok, a route left out, invalid (exit 1)', { timeout: 60_000 }, async () => {
    writeClient(dir, generateClient('cli-alpha', { routes: 4, users: 1 }));
    const good = await cli('clients', 'validate', '--dir', dir);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/^cli-alpha\s+ok \(4 routes, 2 menus, 12 components, 1 users\)$/m);

    const partly = generateClient('cli-beta', { routes: 2, users: 1 });
    (partly.routes[1] as unknown as Record<string, unknown>).path = 'no-slash';
    writeClient(badDir, partly);
    writeClient(badDir, { ...generateClient('cli-gamma', { routes: 1 }), key: 'someone-else' }, 'cli-gamma');
    writeFileSync(path.join(badDir, 'cli-delta.json'), '{ not json');
    const bad = await cli('clients', 'validate', '--dir', badDir);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^cli-beta\s+ok, 1 route\(s\) left out \(1 routes/m);
    expect(bad.stdout).toMatch(/^cli-gamma\s+INVALID$/m);
    expect(bad.stdout).toContain("client 'cli-gamma': key: must equal the file name's key 'cli-gamma'");
    expect(bad.stdout).toMatch(/^cli-delta\s+INVALID$/m);
    expect(bad.stdout).toContain("client 'cli-delta': (file): not valid JSON");
  });

  it(
    'sync upserts through the API and the worker; show prints the result; unknown clients fail; --wait prints the summary',
    { timeout: 120_000 },
    async () => {
      writeClient(dir, generateClient('cli-alpha', { routes: 4, users: 1 }));
      const sync = await cli('clients', 'sync', 'cli-alpha');
      expect(sync.code, sync.stderr).toBe(0);
      const started = lastJson(sync.stdout) as { workflowId: string; runId: string };
      expect(started).toEqual({ workflowId: expect.stringContaining('client-upsert-batch:'), runId: expect.any(String) });
      const summary = await stack.deps.temporal.client.workflow
        .getHandle<UpsertAllClientsWorkflow>(started.workflowId, started.runId, { followRuns: true })
        .result();
      expect(summary).toMatchObject({ total: 1, upserted: 1, failed: 0, invalid: 0 });

      const show = await cli('clients', 'show', 'cli-alpha');
      expect(show.code, show.stderr).toBe(0);
      const view = JSON.parse(show.stdout);
      expect(view).toMatchObject({ key: 'cli-alpha', name: 'Client cli-alpha', status: 'completed', runs: 1 });
      expect(view.appliedConfigHash).toBe(view.lastConfigHash);
      expect(view.lastResult.routes).toEqual({ added: 4, updated: 0, removed: 0, unchanged: 0, failed: 0 });

      // Unchanged since: a second sync of everything in the folder skips it after one hash compare.
      const again = await cli('clients', 'sync');
      expect(again.code, again.stderr).toBe(0);
      const all = lastJson(again.stdout) as { workflowId: string; runId: string };
      expect(all.workflowId).toContain('client-upsert-all:');
      const second = await stack.deps.temporal.client.workflow
        .getHandle<UpsertAllClientsWorkflow>(all.workflowId, all.runId, { followRuns: true })
        .result();
      expect(second).toMatchObject({ total: 1, unchanged: 1, upserted: 0 });

      const missing = await cli('clients', 'show', 'cli-nobody');
      expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining("client 'cli-nobody' has never been upserted") });
      const badKey = await cli('clients', 'sync', 'Not A Key');
      expect(badKey.code).toBe(1);
      expect(badKey.stderr).toContain('Invalid request');
      // --wait follows the run through GET /api/clients/runs/:workflowId and prints its summary.
      const wait = await cli('clients', 'sync', '--force', '--wait', 'cli-alpha');
      expect(wait.code, wait.stderr).toBe(0);
      const [startLine, ...rest] = wait.stdout.trim().split('\n');
      expect(JSON.parse(startLine!).workflowId).toContain('client-upsert-batch:');
      expect(JSON.parse(rest.join('\n'))).toMatchObject({ total: 1, upserted: 1, failed: 0 });
      // That route answers this queue's client-upsert runs only, never another workflow's result.
      const reader = await stack.bearer(['clients:read'], []);
      for (const id of [`tenant-sync:${'x'}`, 'client-upsert-all:another-queue', `reconcile:${started.runId}`]) {
        const res = await stack.app.inject({ method: 'GET', url: `/api/clients/runs/${encodeURIComponent(id)}`, headers: reader });
        expect(res.statusCode, id).toBe(404);
      }
    },
  );
});
