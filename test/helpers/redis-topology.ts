import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, isPortOpen } from '../../infra/dev/servers';

// Throw-away Redis topologies for tests, on loopback and free ports, without persistence: a
// Redis Cluster of N masters, and a master + replica watched by one Sentinel. Each answers a
// stop() that ends every server it started (and removes its files), also after a failed start.

const run = promisify(execFile);

export interface RedisTopologyHandle {
  /** `host:port` of the data nodes (cluster masters; sentinel: master then replica). */
  nodes: string[];
  /** `host:port` of the sentinels (sentinel set only). */
  sentinels: string[];
  /** The pids of every server started, for the test's checks. */
  pids: number[];
  stop(): Promise<void>;
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

/** The started servers of one topology, stopped together (SIGTERM, SIGKILL after 3 s). */
function group(dir: string) {
  const children: ChildProcess[] = [];
  // A test process that exits without its afterAll (a crash, a timeout kill) takes the servers along.
  const onExit = () => children.forEach((c) => c.kill('SIGKILL'));
  process.once('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    await Promise.all(
      children.map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        const timer = setTimeout(() => c.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  const start = async (port: number, args: string[]) => {
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = '';
    child.stderr?.on('data', (b: Buffer) => (tail = (tail + b.toString()).slice(-2000)));
    children.push(child);
    await until(`redis-server on ${port}`, 10_000, async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited: ${tail}`);
      return isPortOpen(port);
    });
  };
  return { children, stop, start };
}

const base = (dir: string, port: number) => [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'no',
  '--dir',
  dir,
];

const cli = (port: number, ...args: string[]) => run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 20_000 });

/** A Redis Cluster of `masters` masters (no replicas), every slot assigned, cluster_state ok on every node. */
export async function startRedisCluster(masters = 3): Promise<RedisTopologyHandle> {
  const dir = mkdtempSync(path.join(tmpdir(), 'redis-cluster-'));
  const g = group(dir);
  try {
    const ports: number[] = [];
    for (let i = 0; i < masters; i++) {
      // Two free ports per node: clients, and the cluster bus (cluster-port, Redis ≥ 7; port + 10000 may not exist).
      const [port, bus] = [await freePort(), await freePort()];
      ports.push(port);
      const nodeDir = path.join(dir, String(port));
      mkdirSync(nodeDir);
      await g.start(port, [
        ...base(nodeDir, port),
        '--cluster-enabled',
        'yes',
        '--cluster-port',
        String(bus),
        '--cluster-config-file',
        path.join(nodeDir, 'nodes.conf'),
        '--cluster-node-timeout',
        '2000',
      ]);
    }
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-yes'], { timeout: 30_000 });
    await until('cluster_state:ok on every node', 20_000, async () => {
      for (const p of ports) if (!(await cli(p, 'cluster', 'info')).stdout.includes('cluster_state:ok')) return false;
      return true;
    });
    return { nodes, sentinels: [], pids: g.children.map((c) => c.pid!), stop: g.stop };
  } catch (err) {
    await g.stop();
    throw err;
  }
}

/** A master, its replica, and one Sentinel watching them as `name` (quorum 1, down after 1 s). */
export async function startRedisSentinel(name = 'mymaster'): Promise<RedisTopologyHandle> {
  const dir = mkdtempSync(path.join(tmpdir(), 'redis-sentinel-'));
  const g = group(dir);
  try {
    const [master, replica, sentinel] = [await freePort(), await freePort(), await freePort()];
    await g.start(master, base(dir, master));
    await g.start(replica, [...base(dir, replica), '--replicaof', '127.0.0.1', String(master), '--dbfilename', `replica-${replica}.rdb`]);
    await until('replica in sync', 10_000, async () =>
      (await cli(replica, 'info', 'replication')).stdout.includes('master_link_status:up'),
    );
    // Sentinel rewrites its config file: it must be writable and its own.
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinel}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${master} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 4000`,
        '',
      ].join('\n'),
    );
    await g.start(sentinel, [conf, '--sentinel']);
    await until('sentinel sees the replica', 15_000, async () =>
      /num-slaves\s+1/.test((await cli(sentinel, 'sentinel', 'master', name)).stdout.replace(/\n/g, ' ')),
    );
    return {
      nodes: [`127.0.0.1:${master}`, `127.0.0.1:${replica}`],
      sentinels: [`127.0.0.1:${sentinel}`],
      pids: g.children.map((c) => c.pid!),
      stop: g.stop,
    };
  } catch (err) {
    await g.stop();
    throw err;
  }
}

/** The `host:port` a sentinel names as the current master of `name`. */
export async function sentinelMaster(sentinel: string, name = 'mymaster'): Promise<string> {
  const [host, port] = sentinel.split(':');
  const { stdout } = await run('redis-cli', ['-h', host!, '-p', port!, 'sentinel', 'get-master-addr-by-name', name], { timeout: 5_000 });
  const [h, p] = stdout.trim().split('\n');
  return `${h}:${p}`;
}

/** Asks the sentinel to fail over now (promotes the replica), without waiting for a failure. */
export async function sentinelFailover(sentinel: string, name = 'mymaster'): Promise<void> {
  const [host, port] = sentinel.split(':');
  await run('redis-cli', ['-h', host!, '-p', port!, 'sentinel', 'failover', name], { timeout: 5_000 });
}
