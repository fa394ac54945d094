import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { ensureTool, REPO_ROOT, type ToolName } from '../../infra/dev/ensure-tools';

// A Go-built checker (promtool, kubeconform) for an offline test file, and a scratch folder for
// the broken copies it feeds it. `make tools` builds the tool; a file run alone on a fresh machine
// builds it here (minutes: the hook's bound is 30 min).

export interface GoTool {
  /** The binary (after beforeAll). */
  readonly bin: string;
  /** A folder of this file's own, removed afterwards. */
  readonly scratch: string;
}

export function useGoTool(name: ToolName): GoTool {
  let bin: string | undefined;
  let scratch: string | undefined;
  beforeAll(async () => {
    bin = await ensureTool(name, path.resolve(REPO_ROOT, process.env.TOOLS_DIR ?? '.tools'), (m) =>
      process.stdout.write(`[${name}] ${m}\n`),
    );
    scratch = mkdtempSync(path.join(tmpdir(), `${name}-test-`));
  }, 30 * 60_000);
  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });
  const ready = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${name}: ${what} is set in beforeAll`);
    return v;
  };
  return {
    get bin() {
      return ready(bin, 'the binary');
    },
    get scratch() {
      return ready(scratch, 'the scratch folder');
    },
  };
}
