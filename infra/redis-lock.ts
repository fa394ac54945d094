import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

// A single-Redis lock with expiry: SET NX PX to take it, compare-and-delete to release.
// (redlock adds multi-node quorum we do not need; its current major targets another ioredis.)

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface HeldLock {
  key: string;
  release(): Promise<void>;
}

export async function tryLock(redis: Redis, key: string, ttlMs: number): Promise<HeldLock | undefined> {
  const token = randomBytes(12).toString('hex');
  const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return undefined;
  return {
    key,
    release: async () => {
      await redis.eval(RELEASE, 1, key, token);
    },
  };
}

/** Waits until nobody holds `key` (or `timeoutMs` passes); true when it was released. */
export async function waitForUnlock(redis: Redis, key: string, timeoutMs: number, pollMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await redis.exists(key)) === 0) return true;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return false;
}
