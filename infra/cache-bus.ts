import type { BusDriver, CacheBusMessage, CreateBusDriverResult } from 'bentocache/types';
import type { Logger } from './logger';
import { unlinkMatching, type Redis } from './redis';
import { withTimeout } from './timeout';

// The cache's invalidation bus: bentocache's bus protocol (delete/clear/set messages per
// namespace) over Redis pub/sub, with our own small transport instead of its Redis one. Ours
// keeps the connections we made (fail-fast publisher, error handlers, logging), resubscribes after
// a failed first SUBSCRIBE, and encodes JSON — so a process without a BentoCache (the worker's
// finishing activity) can send the same invalidation with two Redis commands (invalidateRemote).

/** Where the keys of one platform database live: every key and channel starts with it (deployments sharing a Redis stay apart). */
export const cacheRedisPrefix = (scope: string) => `cache:${scope}`;
/** The bus channel of a scope (bentocache's channel name under our prefix). */
export const busChannel = (scope: string, channel: string) => `${cacheRedisPrefix(scope)}:${channel}`;
/** bentocache's own channel for a store named `store` (its Bus: `bentocache.notifications:<store>`). */
export const storeChannel = (store: string) => `bentocache.notifications:${store}`;
/** Our one store's name. */
export const STORE_NAME = 'platform';
/** An entry's Redis key: driver prefix, namespace, key (bentocache's RedisDriver layout). */
export const l2Key = (scope: string, namespace: string, key: string) => `${cacheRedisPrefix(scope)}:${namespace}:${key}`;

interface Envelope {
  busId: string;
  payload: CacheBusMessage;
}

export function encodeEnvelope(e: Envelope): string {
  return JSON.stringify(e);
}

/** The envelope in `raw`, or undefined for anything that is not one (a foreign publisher on the channel). */
export function decodeEnvelope(raw: string): Envelope | undefined {
  try {
    const e = JSON.parse(raw) as Partial<Envelope>;
    if (typeof e.busId !== 'string' || !e.payload || !Array.isArray(e.payload.keys) || typeof e.payload.type !== 'string') return undefined;
    return e as Envelope;
  } catch {
    return undefined;
  }
}

export interface BusConnections {
  /** Publishes (a fail-fast connection: no offline queue). */
  publisher: Redis;
  /** Subscribes (dedicated: a subscribed connection runs no other command). */
  subscriber: Redis;
  scope: string;
  onError: (what: string, err: unknown) => void;
}

/** A @boringnode/bus transport over our connections (bentocache's BusDriver contract). */
export function redisJsonTransport(c: BusConnections): BusDriver {
  let id = '';
  const handlers = new Map<string, (payload: CacheBusMessage) => void>();
  const subscribeAll = () => {
    if (handlers.size === 0) return;
    c.subscriber.subscribe(...handlers.keys()).catch((err: unknown) => c.onError('bus subscribe', err));
  };
  // A SUBSCRIBE that failed (Redis away at start) is not resubscribed by ioredis: do it on every ready.
  c.subscriber.on('ready', subscribeAll);
  c.subscriber.on('message', (channel: string, raw: string) => {
    const e = decodeEnvelope(raw);
    if (!e || e.busId === id) return; // our own message: already applied here
    handlers.get(channel)?.(e.payload);
  });
  const transport: BusDriver = {
    setId(busId: string) {
      id = busId;
      return transport;
    },
    onReconnect(cb: () => void) {
      c.subscriber.on('ready', cb);
    },
    async publish(channel: string, message: unknown) {
      await c.publisher.publish(busChannel(c.scope, channel), encodeEnvelope({ busId: id, payload: message as CacheBusMessage }));
    },
    async subscribe(channel: string, handler: (payload: never) => void | Promise<void>) {
      handlers.set(busChannel(c.scope, channel), handler as (payload: CacheBusMessage) => void);
      if (c.subscriber.status === 'ready') subscribeAll();
    },
    async unsubscribe(channel: string) {
      handlers.delete(busChannel(c.scope, channel));
      await c.subscriber.unsubscribe(busChannel(c.scope, channel)).catch(() => undefined);
    },
    async disconnect() {
      // The connections are the cache's: it closes them.
    },
  };
  return transport;
}

export function jsonBusDriver(c: BusConnections): CreateBusDriverResult {
  // Publishing retries once Redis is back (bentocache's retry queue, flushed on reconnect).
  return { options: { retryQueue: { enabled: true, maxSize: 1_000 } }, factory: () => redisJsonTransport(c) };
}

/** The bus's namespace field for a namespace of our store (bentocache: the namespaced stack's prefix, under the cache's prefix). */
export const busNamespace = (scope: string, namespace: string) => `${cacheRedisPrefix(scope)}:${namespace}`;

/**
 * Invalidates one entry from a process that has no cache (the worker): drops the Redis copy and
 * tells every API process to drop its in-process copy — what `cache.namespace(ns).delete(key)` does.
 */
export async function invalidateRemote(redis: Redis, scope: string, namespace: string, key: string): Promise<void> {
  const payload: CacheBusMessage = { type: 'delete', keys: [key], namespace: busNamespace(scope, namespace) };
  await redis.unlink(l2Key(scope, namespace, key));
  await redis.publish(busChannel(scope, storeChannel(STORE_NAME)), encodeEnvelope({ busId: `remote-${process.pid}`, payload }));
}

/** The API's cache namespaces (infra/cache), named here for processes that only invalidate. */
export const CACHED_NAMESPACES = ['tenants', 'sync-status'] as const;

/** Keys per SCAN step of a namespace clear, unlinked in one pipeline (never KEYS: it blocks Redis). */
export const CLEAR_BATCH = 100;

/**
 * Drops a whole namespace from a process that has no cache: its Redis keys by SCAN (steps of
 * CLEAR_BATCH, on every master of a cluster) + UNLINK, then a clear message, on which every API process empties its in-process
 * copy. For writes that may have touched any entry (a migration, a restore, a secrets rotation).
 * Returns the Redis keys removed.
 */
export async function clearRemote(redis: Redis, scope: string, namespace: string): Promise<number> {
  // The glob's only wildcard is ours: scope (a database name) and namespace have no glob characters.
  // On a cluster every master is scanned (the namespace's keys are spread over all slots).
  const removed = await unlinkMatching(redis, `${l2Key(scope, namespace, '')}*`, CLEAR_BATCH);
  const payload: CacheBusMessage = { type: 'clear', keys: [], namespace: busNamespace(scope, namespace) };
  await redis.publish(busChannel(scope, storeChannel(STORE_NAME)), encodeEnvelope({ busId: `remote-${process.pid}`, payload }));
  return removed;
}

/** Bound on one remote invalidation: it runs at the end of a write and must never hold it up for long. */
const REMOTE_DROP_MS = 500;
const REMOTE_CLEAR_MS = 5_000;

/**
 * The invalidations a process without a cache sends after writing what the API caches: bounded,
 * never failing the write they follow (a lost one is healed by the API's flush after a Redis
 * outage, or by the entry's TTL), a failure logged as a warning.
 */
export function createRemoteInvalidator(redis: Redis, scope: string, log: Logger) {
  const warn = (what: string, err: unknown) =>
    log.warn({ err: err instanceof Error ? err.message : String(err), what }, 'cache invalidation not sent');
  return {
    async drop(namespace: string, key: string): Promise<void> {
      await withTimeout(`cache invalidate ${namespace}`, REMOTE_DROP_MS, () => invalidateRemote(redis, scope, namespace, key)).catch(
        (err: unknown) => warn(`${namespace}:${key}`, err),
      );
    },
    async clear(...namespaces: string[]): Promise<void> {
      await Promise.all(
        namespaces.map((ns) =>
          withTimeout(`cache clear ${ns}`, REMOTE_CLEAR_MS, () => clearRemote(redis, scope, ns)).catch((err: unknown) => warn(ns, err)),
        ),
      );
    },
  };
}

export type RemoteInvalidator = ReturnType<typeof createRemoteInvalidator>;
