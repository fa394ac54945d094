import path from 'node:path';
import { Connection } from '@temporalio/client';
import { ensureTools } from './ensure-tools';
import { isPortOpen, startFerret, startRedis, startTemporal, type LineSink, type ServerHandle } from './servers';

// The embedded stack: Temporal dev server + FerretDB + Redis (reused when one answers).

export interface StackOptions {
  toolsDir: string;
  dataDir: string;
  temporalPort: number;
  uiPort: number;
  ferretPort: number;
  redisPort: number;
  /** Reuse a Redis already answering on redisPort (the dev default) instead of failing. */
  reuseRedis: boolean;
  /** Persist Temporal history and Redis data under dataDir (dev) or keep them ephemeral (tests). */
  persistent: boolean;
  headless?: boolean;
  sink?: LineSink;
  say?: (msg: string) => void;
}

export interface StackHandle {
  temporalAddress: string;
  mongoUri: string;
  redisUrl: string;
  uiUrl?: string;
  servers: ServerHandle[];
  stop(): Promise<void>;
}

/** Waits until the frontend answers and the default namespace exists (the port opens earlier). */
export async function waitForTemporal(address: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await conn.workflowService.describeNamespace({ namespace: 'default' });
        return;
      } finally {
        await conn.close();
      }
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`Temporal at ${address} not ready after ${timeoutMs} ms: ${String(last)}`);
}

export async function startStack(o: StackOptions): Promise<StackHandle> {
  const say = o.say ?? (() => undefined);
  const tools = await ensureTools(o.toolsDir, say);
  const servers: ServerHandle[] = [];
  const stop = async () => {
    // Reverse order of start; each gets a grace period to flush its data.
    await Promise.all(servers.reverse().map((s) => s.stop()));
  };
  try {
    const redisUp = o.reuseRedis && (await isPortOpen(o.redisPort));
    if (redisUp) say(`redis: reusing the one answering on 127.0.0.1:${o.redisPort}`);
    const started = await Promise.allSettled([
      startTemporal({
        bin: tools.temporal,
        port: o.temporalPort,
        uiPort: o.uiPort,
        dbFile: o.persistent ? path.join(o.dataDir, 'temporal', 'temporal.sqlite') : undefined,
        headless: o.headless,
        sink: o.sink,
      }),
      startFerret({ bin: tools.ferretdb, port: o.ferretPort, dataDir: path.join(o.dataDir, 'ferretdb'), sink: o.sink }),
      redisUp
        ? Promise.resolve(undefined)
        : startRedis({ port: o.redisPort, dataDir: o.persistent ? path.join(o.dataDir, 'redis') : undefined, sink: o.sink }),
    ]);
    for (const r of started) if (r.status === 'fulfilled' && r.value) servers.push(r.value);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const temporalAddress = `127.0.0.1:${o.temporalPort}`;
    await waitForTemporal(temporalAddress);
    return {
      temporalAddress,
      mongoUri: `mongodb://127.0.0.1:${o.ferretPort}/`,
      redisUrl: `redis://127.0.0.1:${o.redisPort}`,
      uiUrl: o.headless ? undefined : `http://127.0.0.1:${o.uiPort}`,
      servers,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
