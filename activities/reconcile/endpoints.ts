import { ApplicationFailure } from '@temporalio/activity';
import { MongoClient, type Collection, type Document } from 'mongodb';
import { platformDbRole } from './guard';
import { SyncErrorType } from '../../shared/errors';
import type { ReconcileInput } from '../../shared/reconcile';
import type { ActivityDeps } from '../deps';
import { SecretDecryptError, SecretKeyUnknownError } from '../../infra/secrets';
import { revealBatchSecrets } from './secrets';
import type { ReconcileStore } from './store';
import { createSource } from '../sources';
import { DEFAULT_OUTBOUND, mongoUriRefusal, vettingLookup } from '../sources/outbound';
import { SourceError, type SourceConnector } from '../sources/types';
import type { TenantRepository } from '../tenant-sync/registry';
import { InProcessProfiles } from '../profiles';

// Where a reconcile reads and writes: the target namespace and the source (a namespace, or a
// tenant's connector). External URIs come from the batch document, never from workflow input.

export interface Endpoints {
  target: Collection<Document>;
  targetClient: MongoClient;
  source: { kind: 'namespace'; col: Collection<Document> } | { kind: 'tenant'; connector: SourceConnector; collection: string };
  close(): Promise<void>;
}

export const nonRetryable = (message: string) =>
  ApplicationFailure.create({ type: SyncErrorType.VALIDATION_ERROR, message, nonRetryable: true });

/** Decrypts stored secrets; a missing key or a damaged value will not heal on retry. */
function revealOrFail<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SecretKeyUnknownError || err instanceof SecretDecryptError || err instanceof SourceError)
      throw nonRetryable(err.message);
    throw err;
  }
}

export async function openEndpoints(
  deps: ActivityDeps,
  store: ReconcileStore,
  tenants: TenantRepository,
  input: ReconcileInput,
): Promise<Endpoints> {
  const batch = await store.getBatch(input.batchId);
  if (!batch) throw nonRetryable(`reconcile batch '${input.batchId}' is not registered`);
  // Whatever registered the batch (an older API too): the platform database is never opened.
  const platformEnd = platformDbRole(input, deps.mongo.db.databaseName) ?? platformDbRole(batch, deps.mongo.db.databaseName);
  if (platformEnd) throw nonRetryable(`the platform database is never a reconcile ${platformEnd}`);
  const own: MongoClient[] = [];
  const clientFor = (uri: string | undefined) => {
    if (!uri) return deps.mongo.client;
    // Allowlisted or not, an external URI never reaches a link-local or metadata address.
    const refused = mongoUriRefusal(DEFAULT_OUTBOUND, uri);
    if (refused) throw nonRetryable(`reconcile URI refused: ${refused}`);
    const c = new MongoClient(uri, {
      ...InProcessProfiles.outboundMongo,
      maxPoolSize: 4,
      appName: 'sync-orchestrator-reconcile',
      lookup: vettingLookup(DEFAULT_OUTBOUND),
    });
    own.push(c);
    return c;
  };
  const uris = revealOrFail(() => revealBatchSecrets(deps.secrets, batch));
  const targetClient = clientFor(uris.targetUri);
  const target = targetClient.db(input.target.db).collection(input.target.collection);
  let source: Endpoints['source'];
  let connector: SourceConnector | undefined;
  if (input.source.kind === 'namespace') {
    source = { kind: 'namespace', col: clientFor(uris.sourceUri).db(input.source.db).collection(input.source.collection) };
  } else {
    const tenant = await tenants.get(input.source.tenantId);
    if (!tenant) throw nonRetryable(`tenant '${input.source.tenantId}' is not registered`);
    connector = createSource(
      revealOrFail(() => tenants.revealSource(tenant)),
      deps.outbound,
    );
    source = { kind: 'tenant', connector, collection: input.source.collection };
  }
  return {
    target,
    targetClient,
    source,
    async close() {
      await Promise.allSettled([connector?.close(), ...own.map((c) => c.close())]);
    },
  };
}

/** Counts from collStats (FerretDB answers estimatedDocumentCount with a full scan). */
export async function countOf(col: Collection<Document>): Promise<number> {
  try {
    const s = await col.db.command({ collStats: col.collectionName });
    if (typeof s.count === 'number') return s.count;
  } catch {
    // not supported here: fall through
  }
  return col.estimatedDocumentCount().catch(() => 0);
}
