import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DrillSummary } from '../../../bench/drill/run';
import { FAULT_KINDS } from '../../../bench/drill/schedule';
import { tsEntry } from '../../../infra/dev/ts-entry';

// The short chaos drill (issue 18) as part of the test run: its own embedded stack, 2 API and
// 2 worker processes, a login storm and a 10k-record repairing reconcile, one fault of each kind
// from a fixed seed; every check of the drill's table must pass. The full drill is `npm run drill`.

describe('the short chaos drill', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'short-drill-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('answers every login, runs no tenant twice at once, loses nothing and leaves nothing stuck under seeded faults', async () => {
    const json = path.join(dir, 'summary.json');
    const [cmd, args] = tsEntry('bench/drill.ts');
    const child = spawn(cmd, [...args, '--short', '--seed', '7', '--json', json], {
      cwd: path.resolve(__dirname, '../../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, out.slice(-6_000)).toBe(0);
    const s = JSON.parse(readFileSync(json, 'utf8')) as DrillSummary;
    expect(new Set(s.faults.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
    expect(s.checks).toHaveLength(6);
    for (const c of s.checks) expect(c.ok, `${c.check}: ${c.detail}`).toBe(true);
    expect(Number(s.figures.logins)).toBeGreaterThan(100);
  }, 330_000);
});
