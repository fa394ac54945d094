import { randomBytes } from 'node:crypto';
import type { Collection } from 'mongodb';
import { isDuplicateKey } from './mongo';
import { keepRenewing } from './renewal';

// A lease in MongoDB: single-flight across processes that share the database, held only by an
// insert that the unique `_id` admits once. It lives where the work it guards writes, so it is
// there exactly when that work can run (a Redis outage no longer lets two runs in at once).
//
// Each taking of a key is its own document, `<key>#<generation>`: a taker reads the newest one,
// and only when that is released (marked so) or expired inserts the next generation. Two takers that
// race insert the same `_id` and one of them gets a duplicate-key error, so the decision never
// rests on an update's filter (FerretDB evaluates a filter and writes in two steps). A holder
// renews its expiry every ttlMs/5 for at most maxHoldMs; a killed holder frees the key within
// ttlMs; a database stall shorter than about 4/5 of ttlMs does not cost a live holder its lease.
// A longer stall can (the drill met one: FerretDB frozen, then its backlog): a taker that takes
// over an expired lease marks it released, so the stalled holder's next renewal matches nothing
// and it learns it lost the lease (`lost()`, `onLost`) instead of renewing a lease someone else
// already holds the next generation of.
// Expiry times are the writer's clock: hosts that share a lease keep their clocks within a
// fraction of ttlMs (NTP does).

export interface LeaseDoc {
  _id: string;
  key: string;
  gen: number;
  token: string;
  expiresAt: Date;
  /** Set by the holder when what waiters wait for is done (e.g. a login's essential collections). */
  ready?: string;
  /** Set when its holder released it. The newest generation is kept, so generations only grow. */
  released?: boolean;
  /** Set (with `released`) by the taker of the next generation when this one had expired unreleased. */
  takenOverBy?: number;
  _schemaVersion: number;
}

export const LEASE_SCHEMA_VERSION = 1;

export interface HeldLease {
  key: string;
  /** Lets waiters go before release (they read `ready` from the lease). */
  markReady(value: string): Promise<void>;
  release(): Promise<void>;
  /** True once a renewal found the lease released under it: another taker holds the key now. */
  lost(): boolean;
}

export interface LeaseOptions {
  /** Renew for at most this long. @default ttlMs × 24 */
  maxHoldMs?: number;
  /** Told when a renewal finds the lease gone or taken over (the holder outlived it). */
  onLost?: () => void;
}

/** Older generations a taker lets stand before it deletes them (one delete per few takings, not one per taking). */
export const KEEP_OLD_GENERATIONS = 4;

/** The key's newest generation (or undefined) and how many documents the key has. */
async function newest(col: Collection<LeaseDoc>, key: string): Promise<{ top: LeaseDoc | undefined; count: number }> {
  const docs = await col.find({ key }).toArray();
  const top = docs.reduce<LeaseDoc | undefined>((a, d) => (a === undefined || d.gen > a.gen ? d : a), undefined);
  return { top, count: docs.length };
}

const live = (d: LeaseDoc | undefined, now = Date.now()) => d !== undefined && d.released !== true && d.expiresAt.getTime() > now;

/** Takes the lease, or answers undefined when a live holder has it. */
export async function tryLease(
  col: Collection<LeaseDoc>,
  key: string,
  ttlMs: number,
  o: LeaseOptions = {},
): Promise<HeldLease | undefined> {
  const { top, count } = await newest(col, key);
  if (live(top)) return undefined;
  const gen = (top?.gen ?? 0) + 1;
  const _id = `${key}#${gen}`;
  const token = randomBytes(12).toString('hex');
  try {
    await col.insertOne({ _id, key, gen, token, expiresAt: new Date(Date.now() + ttlMs), _schemaVersion: LEASE_SCHEMA_VERSION });
  } catch (err) {
    if (isDuplicateKey(err)) return undefined;
    throw err;
  }
  // Older generations are dead by construction (each was taken only once the one before it was);
  // they are cleared every few takings, off the taker's path, so a taking costs a read and an insert.
  if (top && count > KEEP_OLD_GENERATIONS) void col.deleteMany({ key, gen: { $lt: gen } }).catch(() => undefined);
  // Taken over from a holder whose lease ran out unreleased (dead, or stalled past its expiry):
  // marked released, so a holder that is still alive finds its next renewal refused.
  if (top && top.released !== true)
    await col.updateOne({ _id: top._id, released: { $ne: true } }, { $set: { released: true, takenOverBy: gen } }).catch(() => undefined);
  // Renewed every ttlMs/5; a renewal that fails (the server frozen, the driver's pool cleared)
  // is tried again every 250 ms, so a holder that outlives a short database stall keeps its lease.
  let lost = false;
  // Held while this generation is unreleased and no newer one exists: the check after the update
  // catches a takeover whose mark a concurrent renewal overwrote (FerretDB's updates are not atomic).
  const renew = async () => {
    const r = await col.updateOne({ _id, token, released: { $ne: true } }, { $set: { expiresAt: new Date(Date.now() + ttlMs) } });
    if (r.matchedCount === 0) return false;
    return (await col.findOne({ key, gen: { $gt: gen } }, { projection: { _id: 1 } })) === null;
  };
  const stop = keepRenewing(renew, {
    everyMs: Math.max(50, Math.floor(ttlMs / 5)),
    retryMs: 250,
    maxHoldMs: o.maxHoldMs ?? ttlMs * 24,
    onLost: () => {
      lost = true;
      o.onLost?.();
    },
  });
  return {
    key,
    markReady: async (value) => {
      await col.updateOne({ _id, token }, { $set: { ready: value } });
    },
    release: async () => {
      // After any renewal in flight, so a late renewal never overwrites the release.
      await stop();
      // Marked, not deleted: with the newest generation gone, the next taker would start again at
      // 1, and a late clean-up of "generations below mine" could delete that live lease.
      await col.updateOne({ _id, token }, { $set: { released: true, expiresAt: new Date(0) } });
    },
    lost: () => lost,
  };
}

/** Why a wait ended: the holder released it or marked it ready, its lease ran out (a dead holder), or the wait timed out. */
export type LeaseWait = 'released' | 'ready' | 'expired' | 'timeout';

/** Waits until nobody holds `key` or its holder marked it ready, for at most `timeoutMs`. */
export async function waitForLease(col: Collection<LeaseDoc>, key: string, timeoutMs: number, pollMs = 50): Promise<LeaseWait> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { top } = await newest(col, key);
    if (top === undefined || top.released === true) return 'released';
    if (top.ready !== undefined) return 'ready';
    if (!live(top)) return 'expired';
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return 'timeout';
}
