import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../../infra/dev/ensure-tools';
import { tsEntry } from '../../infra/dev/ts-entry';

// The drill's API and worker processes: the real entry points (api/server.ts, workers/worker.ts)
// run by node with tsx's loader in one process each (the tsx CLI would put the entry point in a
// child process of its own, out of a SIGKILL's reach), each in a slot that keeps its port and
// environment, so a killed one restarts as the same member of the round-robin.

export interface Slot {
  readonly name: string;
  /** Loopback URL (API slots). */
  readonly url?: string;
  pid(): number | undefined;
  alive(): boolean;
  start(): Promise<void>;
  /** SIGKILL, no drain (the fault). */
  kill(): void;
  /** SIGTERM, SIGKILL after 15 s; resolves once it has exited. */
  stop(): Promise<void>;
  /** The output of every process of this slot (its last 20,000 characters). */
  output(): string;
  /** Its error and fatal log lines and the direct-sync lease's warnings (the first 20, without stacks, 800 characters each). */
  errors(): string[];
}

export function apiSlot(name: string, port: number, env: NodeJS.ProcessEnv): Slot {
  return slot(name, 'api/server.ts', 'api listening', { ...env, HOST: '127.0.0.1', PORT: String(port) }, `http://127.0.0.1:${port}`);
}

export function workerSlot(name: string, env: NodeJS.ProcessEnv): Slot {
  return slot(name, 'workers/worker.ts', '"worker running"', env);
}

function slot(name: string, entry: string, readyText: string, env: NodeJS.ProcessEnv, url?: string): Slot {
  let child: ChildProcess | undefined;
  let out = '';
  const errors: string[] = [];
  let partial = '';
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  return {
    name,
    url,
    pid: () => child?.pid,
    alive,
    async start() {
      const [cmd, args] = tsEntry(path.join(REPO_ROOT, entry));
      const c = spawn(cmd, args, {
        cwd: REPO_ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = c;
      let fresh = '';
      const keep = (b: Buffer) => {
        const s = b.toString();
        out = (out + s).slice(-20_000);
        const lines = (partial + s).split('\n');
        partial = lines.pop()!.slice(-8_000);
        for (const l of lines)
          if (errors.length < 20 && /"level":"(error|fatal)"|direct-sync lease/.test(l))
            errors.push(l.replace(/"stack":"(?:[^"\\]|\\.)*",?/g, '').slice(0, 800));
        fresh = (fresh + s).slice(-4_000);
      };
      c.stdout!.on('data', keep);
      c.stderr!.on('data', keep);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          c.kill('SIGKILL');
          reject(new Error(`${name} did not start within 120 s:\n${fresh}`));
        }, 120_000);
        const onData = () => {
          if (fresh.includes(readyText)) {
            clearTimeout(timer);
            c.stdout!.off('data', onData);
            c.stderr!.off('data', onData);
            resolve();
          }
        };
        c.stdout!.on('data', onData);
        c.stderr!.on('data', onData);
        c.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${String(code ?? signal)}) before it was ready:\n${fresh}`));
        });
      });
    },
    kill() {
      if (alive()) child!.kill('SIGKILL');
    },
    async stop() {
      if (!alive()) return;
      const c = child!;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
    output: () => out,
    errors: () => [...errors],
  };
}
