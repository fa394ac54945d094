import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClient, writeClient } from '../../../fixtures/clients';
import { createClientStore, membershipId, type ClientUserDoc } from '../../../activities/client-upsert/store';
import { syncUsers } from '../../../activities/client-upsert/users';
import { startClientUpsert } from '../../../activities/client-upsert/start';
import { Collections } from '../../../infra/mongo';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Memberships that concurrent client upserts cannot lose (issue 12, item 16), and an
// unchanged-config skip that does not keep a lost membership lost.

describe('client memberships', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'clients-members-'));
  let store: ReturnType<typeof createClientStore>;
  const opts = { env: {}, inviteTtlMs: 60_000 };

  afterAll(() => rmSync(dir, { recursive: true, force: true })); // after the stack's teardown (hooks run in reverse)
  const stack = useStack({ worker: { settings: { clientUpsert: { dir } } } });
  beforeAll(() => {
    store = createClientStore(stack.deps.mongo.db);
  });

  /** Client keys a user belongs to, wherever a membership is kept (documents, or a legacy list). */
  const clientsOf = async (email: string) => {
    const user = await stack.deps.mongo.db.collection<ClientUserDoc>(Collections.clientUsers).findOne({ _id: email });
    const docs = await stack.deps.mongo.db.collection(Collections.clientMemberships).find({ email }).toArray();
    return [...new Set([...(user?.memberships ?? []).map((m) => m.clientKey), ...docs.map((d) => d.clientKey as string)])].sort();
  };
  const user = (email: string, roles = ['USER']) => ({ email, firstName: 'F', lastName: 'L', roles });

  it('two clients adding the same users at once both keep their membership, for new and existing users alike', async () => {
    const emails = Array.from({ length: 24 }, (_, i) => `shared${i}@race.example`);
    // Half the users exist already (another client created them): the read-then-write path.
    await syncUsers(
      store,
      'race-c',
      emails.slice(0, 12).map((e) => user(e)),
      opts,
    );
    for (const e of emails) {
      const [a, b] = await Promise.all([
        syncUsers(store, 'race-a', [user(e, ['ADMIN'])], opts),
        syncUsers(store, 'race-b', [user(e)], opts),
      ]);
      expect(a.errors).toEqual([]);
      expect(b.errors).toEqual([]);
    }
    for (const [i, e] of emails.entries())
      expect(await clientsOf(e), e).toEqual(i < 12 ? ['race-a', 'race-b', 'race-c'] : ['race-a', 'race-b']);
    // Exactly one user document each, and each client's roles on its own membership.
    expect(await store.users.countDocuments({ _id: { $in: emails } })).toBe(emails.length);
    expect(await store.memberships.findOne({ _id: membershipId('race-a', emails[0]!) })).toMatchObject({ roles: ['ADMIN'] });
    expect(await store.memberships.findOne({ _id: membershipId('race-b', emails[0]!) })).toMatchObject({ roles: ['USER'] });
  });

  it('many clients sharing one user, all at once: every membership is there', async () => {
    const email = 'everyone@race.example';
    const keys = Array.from({ length: 8 }, (_, i) => `many-${i}`);
    const results = await Promise.all(keys.map((k) => syncUsers(store, k, [user(email)], opts)));
    expect(results.reduce((n, r) => n + r.counts.added, 0)).toBe(1);
    expect(await clientsOf(email)).toEqual(keys);
  });

  it('a role change updates only that client’s membership; a legacy embedded list is carried over', async () => {
    const email = 'legacy@race.example';
    const now = new Date();
    await store.users.insertOne({
      _id: email,
      email,
      firstName: 'L',
      lastName: 'G',
      status: 'invited',
      memberships: [{ clientKey: 'old-client', roles: ['R'] }],
      credential: { kind: 'invite', tokenHash: 'x', expiresAt: now },
      createdAt: now,
      updatedAt: now,
    });
    const r1 = await syncUsers(store, 'new-client', [user(email)], opts);
    expect(r1.counts).toMatchObject({ added: 0, updated: 1 });
    expect(await clientsOf(email)).toEqual(['new-client', 'old-client']);
    expect((await store.users.findOne({ _id: email }))?.memberships).toBeUndefined();
    const r2 = await syncUsers(store, 'new-client', [user(email, ['ADMIN'])], opts);
    expect(r2.counts).toMatchObject({ updated: 1 });
    expect(await store.memberships.findOne({ _id: membershipId('new-client', email) })).toMatchObject({ roles: ['ADMIN'] });
    expect(await store.memberships.findOne({ _id: membershipId('old-client', email) })).toMatchObject({ roles: ['R'] });
    expect((await syncUsers(store, 'new-client', [user(email, ['ADMIN'])], opts)).counts).toMatchObject({ unchanged: 1 });
  });

  it('through the workflow: two clients sharing users upsert in parallel; a membership lost later is put back although the configs did not change', async () => {
    const k1 = uniqueId('m1')
      .replace(/[^a-z0-9-]/g, '')
      .slice(0, 30);
    const k2 = uniqueId('m2')
      .replace(/[^a-z0-9-]/g, '')
      .slice(0, 30);
    const shared = Array.from({ length: 6 }, (_, i) => user(`both${i}@${k1}.example`));
    for (const k of [k1, k2]) {
      const c = generateClient(k, { routes: 2, users: 1 });
      c.users.push(...shared);
      writeClient(dir, c);
    }
    const run = async () =>
      (
        await startClientUpsert({
          client: stack.deps.temporal.client,
          taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
          keys: [k1, k2],
          concurrency: 2,
          trigger: 'test',
        })
      ).result();
    expect(await run()).toMatchObject({ total: 2, failed: 0 });
    for (const u of shared) expect(await clientsOf(u.email)).toEqual([k1, k2].sort());
    expect(await run()).toMatchObject({ total: 2, unchanged: 2, upserted: 0 });

    // Lost behind the skip's back (deleted, or the platform database restored from an older copy).
    await store.memberships.deleteOne({ _id: membershipId(k2, shared[3]!.email) });
    expect(await run()).toMatchObject({ total: 2, unchanged: 1, failed: 0 });
    expect(await clientsOf(shared[3]!.email)).toEqual([k1, k2].sort());
    const state = await store.state.findOne({ _id: k2 });
    expect(state?.members).toBe(7);
  });
});
