import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../infra/config';
import { redisTopology } from '../../../infra/redis';
import { quotaKeys } from '../../../api/services/quotas/quotas';
import { QuotaIds } from '../../../shared/quotas';

// The pure parts of the Redis topology: what client REDIS_MODE builds with which options, the
// config checks, and the quota keys' hash tags (keys one script touches share a cluster slot).

/** What Redis Cluster hashes for a key: the first `{…}` with something inside, else the whole key. */
function hashedPart(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('redisTopology', () => {
  it('standalone: the URL as given, with reconnect settings', () => {
    const t = redisTopology({ REDIS_URL: 'redis://10.0.0.1:6380/2' }, 'x');
    expect(t.mode).toBe('standalone');
    if (t.mode !== 'standalone') return;
    expect(t.url).toBe('redis://10.0.0.1:6380/2');
    expect(t.options).toMatchObject({ connectionName: 'x', maxRetriesPerRequest: 2 });
    expect(t.options.retryStrategy?.(100)).toBe(2_000);
    expect(t.options.commandTimeout).toBeUndefined();
  });

  it('REDIS_COMMAND_TIMEOUT_MS bounds every command (a stalled Redis fails fast), in every mode; 0 waits', () => {
    const url = 'redis://h:1';
    const s = redisTopology({ REDIS_URL: url, REDIS_COMMAND_TIMEOUT_MS: 1_000 }, 'x');
    const c = redisTopology({ REDIS_URL: url, REDIS_MODE: 'cluster', REDIS_COMMAND_TIMEOUT_MS: 700 }, 'x');
    const n = redisTopology({ REDIS_URL: url, REDIS_MODE: 'sentinel', REDIS_SENTINELS: ['s:1'], REDIS_COMMAND_TIMEOUT_MS: 300 }, 'x');
    expect(s.mode === 'standalone' && s.options.commandTimeout).toBe(1_000);
    expect(c.mode === 'cluster' && c.options.redisOptions?.commandTimeout).toBe(700);
    expect(n.mode === 'sentinel' && n.options.commandTimeout).toBe(300);
    const off = redisTopology({ REDIS_URL: url, REDIS_COMMAND_TIMEOUT_MS: 0 }, 'x');
    expect(off.mode === 'standalone' && off.options.commandTimeout).toBeUndefined();
  });

  it('cluster: seeds from REDIS_CLUSTER_NODES, credentials and TLS from the URL, reads on masters', () => {
    const t = redisTopology(
      { REDIS_URL: 'rediss://app:p%40ss@ignored:1', REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: ['a.example:7000', '10.0.0.2:7001'] },
      'c',
    );
    expect(t.mode).toBe('cluster');
    if (t.mode !== 'cluster') return;
    expect(t.nodes).toEqual([
      { host: 'a.example', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
    ]);
    expect(t.options.scaleReads).toBe('master');
    expect(t.options.redisOptions).toMatchObject({ username: 'app', password: 'p@ss', tls: {}, connectionName: 'c' });
  });

  it('cluster without nodes: the URL host is the seed; a database other than 0 is refused', () => {
    const t = redisTopology({ REDIS_URL: 'redis://cache.internal:6379', REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: [] }, 'c');
    expect(t.mode === 'cluster' && t.nodes).toEqual([{ host: 'cache.internal', port: 6379 }]);
    expect(() => redisTopology({ REDIS_URL: 'redis://h:6379/3', REDIS_MODE: 'cluster' }, 'c')).toThrow(/database 3/);
  });

  it('sentinel: sentinels, master name, sentinel password, and the data nodes credentials and database from the URL', () => {
    const t = redisTopology(
      {
        REDIS_URL: 'redis://:secret@unused:6379/4',
        REDIS_MODE: 'sentinel',
        REDIS_SENTINELS: ['s1:26379', 's2:26380'],
        REDIS_SENTINEL_NAME: 'orders',
        REDIS_SENTINEL_PASSWORD: 'sp',
      },
      's',
    );
    expect(t.mode).toBe('sentinel');
    expect(t.options).toMatchObject({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
      ],
      name: 'orders',
      password: 'secret',
      sentinelPassword: 'sp',
      db: 4,
      connectionName: 's',
    });
    expect(t.options).not.toHaveProperty('enableTLSForSentinelMode');
  });
});

describe('Redis topology config', () => {
  const load = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', ...env });

  it('defaults to standalone with the sentinel group mymaster', () => {
    const c = load({});
    expect([c.REDIS_MODE, c.REDIS_CLUSTER_NODES, c.REDIS_SENTINELS, c.REDIS_SENTINEL_NAME]).toEqual(['standalone', [], [], 'mymaster']);
  });

  it('sentinel mode needs sentinels; node lists must be host:port', () => {
    expect(() => load({ REDIS_MODE: 'sentinel' })).toThrow(/REDIS_SENTINELS: is required when REDIS_MODE=sentinel/);
    expect(() => load({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'a:1,redis://b:2' })).toThrow(/REDIS_CLUSTER_NODES: must be host:port/);
    expect(() => load({ REDIS_MODE: 'mesh' })).toThrow(/REDIS_MODE/);
    expect(load({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: ' a:1, b:2 ' }).REDIS_CLUSTER_NODES).toEqual(['a:1', 'b:2']);
  });
});

describe('quota keys', () => {
  it('the slot sets one admission touches share one hash tag; counters spread', () => {
    const scope = 'sync-orchestrator';
    const sets = [
      quotaKeys.running(scope, 'reconcile'),
      quotaKeys.running(scope, 'reconcile', 'acme'),
      quotaKeys.running(scope, 'migrations'),
    ];
    expect(sets[1]).toBe('quota:{sync-orchestrator:running}:reconcile:acme');
    expect(new Set(sets.map(hashedPart))).toEqual(new Set(['sync-orchestrator:running']));
    // Another deployment's sets hash elsewhere; counters have no tag (one key per script call).
    expect(hashedPart(quotaKeys.running('other', 'reconcile'))).toBe('other:running');
    const counter = quotaKeys.window(scope, QuotaIds.ensurePerMinute, 'acme', 42);
    expect(counter).toBe('quota:sync-orchestrator:ensure_per_minute:acme:42');
    expect(hashedPart(counter)).toBe(counter);
  });

  it('a scope with braces still gives every set of a deployment the same tag', () => {
    const scope = 'q}{x';
    expect(new Set([quotaKeys.running(scope, 'reconcile'), quotaKeys.running(scope, 'reconcile', 't')].map(hashedPart)).size).toBe(1);
  });
});
