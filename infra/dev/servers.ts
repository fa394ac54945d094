import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { SEARCH_ATTRIBUTE_NAMES } from '../../shared/constants';
import { dynamicConfigArgs } from '../temporal-dynamic-config';

// Starts the real servers of the embedded stack as child processes bound to 127.0.0.1.

export interface ServerHandle {
  name: string;
  port: number;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export type LineSink = (server: string, line: string) => void;

/** A free TCP port on loopback, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function isPortOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

async function waitForPort(name: string, port: number, child: ChildProcess, timeoutMs: number, tail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before listening:\n${tail()}`);
    if (await isPortOpen(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${tail()}`);
}

function startProcess(
  name: string,
  bin: string,
  args: string[],
  port: number,
  sink: LineSink | undefined,
  timeoutMs: number,
  env?: NodeJS.ProcessEnv,
): Promise<ServerHandle> {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let tail = '';
  const onData = (b: Buffer) => {
    const text = b.toString();
    tail = (tail + text).slice(-4000);
    if (sink) for (const line of text.split('\n')) if (line.trim()) sink(name, line);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const handle: ServerHandle = {
    name,
    port,
    process: child,
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return waitForPort(name, port, child, timeoutMs, () => tail).then(
    () => handle,
    async (err: unknown) => {
      await handle.stop(1_000);
      throw err;
    },
  );
}

export interface TemporalServerOptions {
  bin: string;
  port: number;
  uiPort: number;
  /** SQLite file; omit for in-memory. */
  dbFile?: string;
  headless?: boolean;
  sink?: LineSink;
}

export function startTemporal(o: TemporalServerOptions): Promise<ServerHandle> {
  if (o.dbFile) mkdirSync(path.dirname(o.dbFile), { recursive: true });
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(o.port), '--log-format', 'json', '--log-level', 'error'];
  if (o.headless) args.push('--headless');
  else args.push('--ui-ip', '127.0.0.1', '--ui-port', String(o.uiPort));
  if (o.dbFile) args.push('--db-filename', o.dbFile);
  for (const sa of SEARCH_ATTRIBUTE_NAMES) args.push('--search-attribute', `${sa}=Keyword`);
  args.push(...dynamicConfigArgs());
  // The dev server also opens port+1 (metrics/HTTP) etc.; --http-port off keeps the footprint small.
  return startProcess('temporal', o.bin, args, o.port, o.sink, 60_000);
}

export interface FerretOptions {
  bin: string;
  port: number;
  dataDir: string;
  sink?: LineSink;
}

export function startFerret(o: FerretOptions): Promise<ServerHandle> {
  const sqliteDir = path.join(o.dataDir, 'sqlite');
  mkdirSync(sqliteDir, { recursive: true });
  const args = [
    '--handler=sqlite',
    `--sqlite-url=file:${sqliteDir}/`,
    `--listen-addr=127.0.0.1:${o.port}`,
    `--state-dir=${o.dataDir}`,
    '--debug-addr=-',
    '--telemetry=disable',
    '--log-level=error',
    '--log-format=json',
  ];
  return startProcess('ferretdb', o.bin, args, o.port, o.sink, 30_000);
}

export interface RedisOptions {
  port: number;
  /** Directory for the append-only file; omit for no persistence (tests). */
  dataDir?: string;
  sink?: LineSink;
}

export function startRedis(o: RedisOptions): Promise<ServerHandle> {
  const args = ['--bind', '127.0.0.1', '--port', String(o.port), '--save', ''];
  if (o.dataDir) {
    mkdirSync(o.dataDir, { recursive: true });
    args.push('--dir', o.dataDir, '--appendonly', 'yes');
  } else {
    args.push('--appendonly', 'no');
  }
  return startProcess('redis', 'redis-server', args, o.port, o.sink, 15_000);
}
