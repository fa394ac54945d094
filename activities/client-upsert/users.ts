import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { SyncErrorType } from '../../shared/errors';
import { emptyCounts, type ClientUpsertError, type ItemCounts } from '../../shared/client-upsert';
import { userRef, type UserSpec } from './config';
import { DUPLICATE_KEY, membershipId, type ClientStore, type ClientUserDoc, type UserCredential } from './store';

// Missing users of a client are created; no plaintext password is ever stored, logged or sent
// through Temporal (the activity reads the config file and the environment itself). A config
// user gets the scrypt hash it carries, a scrypt hash of the password in the environment
// variable it names, or an invite: a random token of which only the SHA-256 is stored.
// Existing users get this client's membership (and its roles) when they lack it: one document
// per (client, user), so concurrent clients sharing a user cannot lose each other's membership.

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
  const key = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  });
  return timingSafeEqual(key, expected);
}

/** A new invite: the token goes to whoever delivers invites; only its hash is stored. */
export function newInvite(ttlMs: number): { token: string; credential: UserCredential } {
  const token = randomBytes(32).toString('base64url');
  return {
    token,
    credential: {
      kind: 'invite',
      tokenHash: createHash('sha256').update(token).digest('base64url'),
      expiresAt: new Date(Date.now() + ttlMs),
    },
  };
}

export interface UserSyncOptions {
  env: NodeJS.ProcessEnv;
  inviteTtlMs: number;
}

type UserOutcome = { change: 'added' | 'updated' | 'unchanged' } | { error: ClientUpsertError };

const ignoreDuplicate = (err: unknown) => {
  if ((err as { code?: number }).code !== DUPLICATE_KEY) throw err;
};

/** Moves a user's memberships from the legacy embedded list into membership documents. */
async function importLegacy(store: ClientStore, user: ClientUserDoc): Promise<void> {
  const now = new Date();
  for (const m of user.memberships ?? []) {
    await store.memberships
      .insertOne({
        _id: membershipId(m.clientKey, user._id),
        clientKey: m.clientKey,
        email: user._id,
        roles: m.roles,
        createdAt: now,
        updatedAt: now,
      })
      .catch(ignoreDuplicate);
  }
  await store.users.updateOne({ _id: user._id }, { $unset: { memberships: '' } });
}

/**
 * This client's membership of the user: inserted by `_id` (atomic, never touching another
 * client's), its roles set in place only when they changed (only this client writes it).
 */
async function ensureMembership(store: ClientStore, clientKey: string, email: string, roles: string[]): Promise<'updated' | 'unchanged'> {
  const _id = membershipId(clientKey, email);
  let current = await store.memberships.findOne({ _id });
  if (!current) {
    const now = new Date();
    try {
      await store.memberships.insertOne({ _id, clientKey, email, roles, createdAt: now, updatedAt: now });
      return 'updated';
    } catch (err) {
      ignoreDuplicate(err);
    }
    current = await store.memberships.findOne({ _id });
    if (!current) throw new Error(`membership of ${userRef(email)} in '${clientKey}' vanished while being created`);
  }
  if (isDeepStrictEqual(current.roles, roles)) return 'unchanged';
  await store.memberships.updateOne({ _id }, { $set: { roles, updatedAt: new Date() } });
  return 'updated';
}

async function syncUser(store: ClientStore, clientKey: string, u: UserSpec, i: number, o: UserSyncOptions): Promise<UserOutcome> {
  const item = userRef(u.email);
  const existing = await store.users.findOne({ _id: u.email });
  let created = false;
  if (!existing) {
    let credential: UserCredential;
    if (u.passwordHash) credential = { kind: 'password', hash: u.passwordHash };
    else if (u.passwordEnv) {
      const secret = o.env[u.passwordEnv];
      if (!secret)
        return {
          error: {
            clientKey,
            operation: 'users',
            errorType: SyncErrorType.VALIDATION_ERROR,
            retryable: false,
            item,
            field: `users[${i}].passwordEnv`,
            message: `environment variable ${u.passwordEnv} is not set: user not created`,
          },
        };
      credential = { kind: 'password', hash: await hashPassword(secret) };
    } else credential = newInvite(o.inviteTtlMs).credential;
    const now = new Date();
    const doc: ClientUserDoc = {
      _id: u.email,
      email: u.email,
      firstName: u.firstName,
      lastName: u.lastName,
      status: credential.kind === 'invite' ? 'invited' : 'active',
      credential,
      createdAt: now,
      updatedAt: now,
    };
    // Another client's run (or a retried attempt) may create the user first: then only the membership is ours.
    try {
      await store.users.insertOne(doc);
      created = true;
    } catch (err) {
      ignoreDuplicate(err);
    }
  } else if (existing.memberships) await importLegacy(store, existing);
  const membership = await ensureMembership(store, clientKey, u.email, u.roles);
  return { change: created ? 'added' : membership };
}

/** Every config user at once (point reads by e-mail); outcomes in config order. */
export async function syncUsers(
  store: ClientStore,
  clientKey: string,
  users: readonly UserSpec[],
  o: UserSyncOptions,
): Promise<{ counts: ItemCounts; errors: ClientUpsertError[] }> {
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
