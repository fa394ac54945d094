import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../../infra/dev/ensure-tools';
import { tsEntry } from '../../infra/dev/ts-entry';

// One of the repository's entry points (api/server.ts, workers/worker.ts, …) run by node --import tsx as a
// process of its own, the way operators run it: started, waited for until it says it is ready,
// signalled, and stopped (SIGTERM, SIGKILL after a bound). api-process.ts and worker-process.ts
// add what each entry point needs.

export interface EntryProcess {
  child: ChildProcess;
  /** Its output so far (stdout and stderr, the last `keepChars` characters). */
  output(): string;
  /** Sends a signal (the shutdown tests). */
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `killAfterMs`; resolves once it has exited. */
  stop(): Promise<void>;
}

export interface EntryOptions {
  /** The entry point, relative to the repository root. */
  entry: string;
  /** The whole environment of the process (callers start from process.env). */
  env: NodeJS.ProcessEnv;
  /** Resolves once the output contains this. */
  readyText: string;
  /** @default 90000 */
  startTimeoutMs?: number;
  /** @default 20000 */
  killAfterMs?: number;
  /** @default 50000 */
  keepChars?: number;
}

export async function startEntryProcess(o: EntryOptions): Promise<EntryProcess> {
  const startTimeoutMs = o.startTimeoutMs ?? 90_000;
  const keepChars = o.keepChars ?? 50_000;
  const [cmd, args] = tsEntry(path.join(REPO_ROOT, o.entry));
  const child = spawn(cmd, args, {
    cwd: REPO_ROOT,
    env: o.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-keepChars);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${o.entry} did not start within ${startTimeoutMs / 1000} s:\n${out.slice(-4000)}`)),
      startTimeoutMs,
    );
    const onData = () => {
      if (out.includes(o.readyText)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${o.entry} exited (${String(code)}):\n${out.slice(-4000)}`));
    });
  });
  return {
    child,
    output: () => out,
    kill: (signal) => child.kill(signal),
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), o.killAfterMs ?? 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}
