import { describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../../activities/deps';
import { openEndpoints } from '../../../activities/reconcile/endpoints';
import type { ReconcileStore } from '../../../activities/reconcile/store';
import type { TenantRepository } from '../../../activities/tenant-sync/registry';
import { DEV_SECRETS_KEY, parseKeyring } from '../../../infra/secrets';
import type { ReconcileInput } from '../../../shared/reconcile';

// An external reconcile URI, even one the operator allowlisted, never opens a connection to a
// link-local or metadata address. Nothing connects here: the refusal comes before any client.

const source = { kind: 'namespace', db: 'upstream', collection: 'users' } as const;
const target = { db: 'copy', collection: 'users' };
const fakeDb = { databaseName: 'platform', collection: () => ({}) };
const deps = {
  mongo: { db: fakeDb, client: { db: () => fakeDb } },
  secrets: parseKeyring(DEV_SECRETS_KEY, true),
} as unknown as ActivityDeps;
const open = (secrets: { sourceUri?: string; targetUri?: string }) => {
  const store = { getBatch: async () => ({ _id: 'b1', source, target, secrets }) } as unknown as ReconcileStore;
  return openEndpoints(deps, store, {} as TenantRepository, { batchId: 'b1', source, target } as unknown as ReconcileInput);
};

describe('reconcile endpoints: outbound guard', () => {
  it.each([
    ['source', { sourceUri: 'mongodb://169.254.169.254:27017/?serverSelectionTimeoutMS=100' }],
    ['target', { targetUri: 'mongodb://u:p@db.example.com:27017,[fd00:ec2::254]:27017/' }],
  ])('a %s URI naming a metadata address is refused, non-retryably', async (_end, secrets) => {
    const err = await open(secrets).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ type: 'VALIDATION_ERROR', nonRetryable: true });
    expect((err as Error).message).toMatch(/reconcile URI refused: host .* is not allowed \(link-local\/metadata/);
  });

  it('an ordinary external URI still opens (lazily: no connection is made here)', async () => {
    const ep = await open({ sourceUri: 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100' });
    expect(ep.source.kind).toBe('namespace');
    await ep.close();
  });
});
