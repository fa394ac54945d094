import { randomBytes } from 'node:crypto';
import type { Redis } from './redis';

// A single-Redis lock with expiry: SET NX PX to take it, compare-and-delete to release. One key
// per lock, so it works unchanged on a Redis Cluster (the key's master holds it) and on Sentinel.
// (redlock adds multi-node quorum we do not need; its current major targets another ioredis.)

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export interface HeldLock {
  key: string;
  release(): Promise<void>;
}

export interface LockOptions {
  /**
   * Keep the lock as a lease: it expires `ttlMs` after the last renewal, renewed every ttlMs/3
   * while held, for at most `maxHoldMs` — so a holder that dies frees it within `ttlMs`, however
   * long a live holder works. @default no renewal (it expires after ttlMs)
   */
  maxHoldMs?: number;
}

export async function tryLock(redis: Redis, key: string, ttlMs: number, o: LockOptions = {}): Promise<HeldLock | undefined> {
  const token = randomBytes(12).toString('hex');
  const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return undefined;
  const until = Date.now() + (o.maxHoldMs ?? 0);
  const renew =
    o.maxHoldMs === undefined
      ? undefined
      : setInterval(
          () => {
            if (Date.now() > until) clearInterval(renew);
            else void Promise.resolve(redis.eval(RENEW, 1, key, token, String(ttlMs))).catch(() => undefined);
          },
          Math.max(50, Math.floor(ttlMs / 3)),
        );
  renew?.unref();
  return {
    key,
    release: async () => {
      if (renew) clearInterval(renew);
      await redis.eval(RELEASE, 1, key, token);
    },
  };
}

/**
 * Waits until nobody holds `key`, or `readyKey` (a holder's "what you wait for is done") exists,
 * or `timeoutMs` passes; true unless it timed out.
 */
export async function waitForUnlock(redis: Redis, key: string, timeoutMs: number, pollMs = 25, readyKey?: string): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await redis.exists(key)) === 0) return true;
    if (readyKey && (await redis.exists(readyKey)) === 1) return true;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return false;
}
