import { MongoClient, MongoServerError, type Db } from 'mongodb';
import { tenantDbName } from './tenant-db-name';
import type { AppConfig } from './config';
import type { Logger } from './logger';

export interface Mongo {
  client: MongoClient;
  /** Platform database: tenants, sync_runs, reconcile_*, migrations ... */
  db: Db;
  /** A tenant's own target database. */
  tenantDb(tenantId: string): Db;
  close(): Promise<void>;
}

/** Collections of the platform database, in one place. */
export const Collections = {
  stackProbes: 'stack_probes',
  tenants: 'tenants',
  syncRuns: 'sync_runs',
  /** One document per tenant (point reads on the login path). */
  tenantSyncStatus: 'tenant_sync_status',
  /** Unused since watermarks moved into each tenant's database (activities/tenant-sync/state.ts); older deployments may still hold it. */
  syncState: 'sync_state',
  /** What the stuck-sync sweep found and did, one document per stuck run (activities/maintenance/stuck-syncs.ts). */
  stuckSyncs: 'stuck_syncs',
  /** One document per paused kind of work (activities/maintenance/pause-store.ts): who paused it and why. */
  workPauses: 'work_pauses',
  /** One document per tenant: when any of its syncs last moved (activities/tenant-sync/progress.ts). */
  syncProgress: 'sync_progress',
  /** Leases that single-flight work across processes (infra/mongo-lease.ts): one document per taking, `<key>#<generation>`. */
  leases: 'leases',
  /** Reconcile runs (activities/reconcile/store.ts): one per batch; chunk checkpoints; per-record findings; staged repairs. */
  reconcileBatches: 'reconcile_batches',
  reconcileChunks: 'reconcile_chunks',
  reconcileErrors: 'reconcile_errors',
  reconcilePending: 'reconcile_pending',
  /** Copies of target records a repair flush deleted, kept until their replacements are in (activities/reconcile/repair.ts). */
  reconcileUndo: 'reconcile_undo',
  /** One document per migration: its state (activities/migrations/store.ts). */
  migrations: 'migrations',
  /** One document per backup; the backup itself is the collection named by its _id. */
  migrationBackups: 'migration_backups',
  /** Client configs (activities/client-upsert/store.ts): small documents by _id; each client's routes in its own collection. */
  clients: 'clients',
  clientMenus: 'client_menus',
  clientComponents: 'client_components',
  clientComponentSets: 'client_component_sets',
  clientUsers: 'client_users',
  /** One document per (client, user) membership, inserted by _id (activities/client-upsert/users.ts). */
  clientMemberships: 'client_memberships',
  clientRouteBackups: 'client_route_backups',
  clientUpsertState: 'client_upsert_state',
  clientUpsertResults: 'client_upsert_results',
} as const;

export { tenantDbName } from './tenant-db-name';

/** E11000: an insert met a document with the same unique key. */
export const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === 11000;

export async function connectMongo(config: Pick<AppConfig, 'MONGODB_URI' | 'MONGODB_DB'>, log?: Logger): Promise<Mongo> {
  const client = new MongoClient(config.MONGODB_URI, {
    serverSelectionTimeoutMS: 5_000,
    connectTimeoutMS: 3_000,
    heartbeatFrequencyMS: 2_000,
    maxPoolSize: 50,
    appName: 'sync-orchestrator',
  });
  await client.connect();
  const db = client.db(config.MONGODB_DB);
  await ensureIndexes(db);
  log?.debug({ db: config.MONGODB_DB }, 'mongodb connected');
  return {
    client,
    db,
    tenantDb: (tenantId) => client.db(tenantDbName(tenantId)),
    close: () => client.close(),
  };
}

/** Index setup. Only indexes both FerretDB (SQLite) and MongoDB 7 support; no TTL (cleanup schedules expire data). */
async function ensureIndexes(db: Db): Promise<void> {
  await db.collection(Collections.stackProbes).createIndex({ createdAt: 1 });
  await db.collection(Collections.syncRuns).createIndex({ tenantId: 1, startedAt: -1 });
  await db.collection(Collections.syncRuns).createIndex({ state: 1, startedAt: 1 });
  await db.collection(Collections.reconcilePending).createIndex({ batchId: 1, partition: 1, seq: 1 });
  await db.collection(Collections.leases).createIndex({ key: 1 });
}

/** Pings with a hard deadline: a dead server answers within `timeoutMs`, not the driver's selection timeout. */
export async function pingMongo(mongo: Mongo, timeoutMs: number): Promise<void> {
  await mongo.db.command({ ping: 1 }, { timeoutMS: timeoutMs });
}
