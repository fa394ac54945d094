import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { SyncErrorType } from '../shared/errors';
import { emptyCounts, type ClientUpsertError, type ItemCounts } from '../shared/client-upsert';
import { userRef, type UserSpec } from './client-config';
import { DUPLICATE_KEY, type ClientStore, type ClientUserDoc, type UserCredential } from './client-store';

// Missing users of a client are created; no plaintext password is ever stored, logged or sent
// through Temporal (the activity reads the config file and the environment itself). A config
// user gets the scrypt hash it carries, a scrypt hash of the password in the environment
// variable it names, or an invite: a random token of which only the SHA-256 is stored.
// Existing users get this client's membership (and its roles) when they lack it.

const SCRYPT = { N: 16_384, r: 8, p: 1, keylen: 32 } as const;

function scrypt(password: string, salt: Buffer, keylen: number, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, o, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$N$r$p$salt$hash`, base64url parts. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: 64 * 1024 * 1024 });
  return timingSafeEqual(key, expected);
}

/** A new invite: the token goes to whoever delivers invites; only its hash is stored. */
export function newInvite(ttlMs: number): { token: string; credential: UserCredential } {
  const token = randomBytes(32).toString('base64url');
  return { token, credential: { kind: 'invite', tokenHash: createHash('sha256').update(token).digest('base64url'), expiresAt: new Date(Date.now() + ttlMs) } };
}

export interface UserSyncOptions {
  env: NodeJS.ProcessEnv;
  inviteTtlMs: number;
}

type UserOutcome = { change: 'added' | 'updated' | 'unchanged' } | { error: ClientUpsertError };

async function syncUser(store: ClientStore, clientKey: string, u: UserSpec, i: number, o: UserSyncOptions): Promise<UserOutcome> {
  const item = userRef(u.email);
  const membership = { clientKey, roles: u.roles };
  const existing = await store.users.findOne({ _id: u.email });
  if (!existing) {
    let credential: UserCredential;
    if (u.passwordHash) credential = { kind: 'password', hash: u.passwordHash };
    else if (u.passwordEnv) {
      const secret = o.env[u.passwordEnv];
      if (!secret) return { error: { clientKey, operation: 'users', errorType: SyncErrorType.VALIDATION_ERROR, retryable: false, item, field: `users[${i}].passwordEnv`, message: `environment variable ${u.passwordEnv} is not set: user not created` } };
      credential = { kind: 'password', hash: await hashPassword(secret) };
    } else credential = newInvite(o.inviteTtlMs).credential;
    const now = new Date();
    const doc: ClientUserDoc = { _id: u.email, email: u.email, firstName: u.firstName, lastName: u.lastName, status: credential.kind === 'invite' ? 'invited' : 'active', memberships: [membership], credential, createdAt: now, updatedAt: now };
    try {
      await store.users.insertOne(doc);
      return { change: 'added' };
    } catch (err) {
      if ((err as { code?: number }).code !== DUPLICATE_KEY) throw err;
    }
  }
  // Another client's run (or a retried attempt) created the user first: only the membership is ours.
  const current = existing ?? (await store.users.findOne({ _id: u.email }));
  if (!current) throw new Error(`user ${item} vanished while being created`);
  const mine = current.memberships.find((m) => m.clientKey === clientKey);
  if (mine && isDeepStrictEqual(mine.roles, u.roles)) return { change: 'unchanged' };
  const others = current.memberships.filter((m) => m.clientKey !== clientKey);
  await store.users.updateOne({ _id: u.email }, { $set: { memberships: [...others, membership], updatedAt: new Date() } });
  return { change: 'updated' };
}

/** Every config user at once (point reads by e-mail); outcomes in config order. */
export async function syncUsers(store: ClientStore, clientKey: string, users: readonly UserSpec[], o: UserSyncOptions): Promise<{ counts: ItemCounts; errors: ClientUpsertError[] }> {
  const counts = emptyCounts();
  const errors: ClientUpsertError[] = [];
  for (const r of await Promise.all(users.map((u, i) => syncUser(store, clientKey, u, i, o)))) {
    if ('error' in r) {
      counts.failed += 1;
      errors.push(r.error);
    } else counts[r.change] += 1;
  }
  return { counts, errors };
}
