import { isDeepStrictEqual } from 'node:util';
import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import { emptyCounts, type ItemCounts } from '../../shared/client-upsert';
import type { RouteSpec } from './config';
import type { ClientStore, RouteBackupDoc, RouteDoc } from './store';
import { REPLACE_BATCH } from '../records/writer';

// Route synchronization by deep equality, made all-or-nothing by a backup written before the
// first route write (a saga inside the step). FerretDB has no transactions and the write takes
// several commands (insert, replace batches of ≤ 50 — 100+ hang FerretDB —, delete), so:
// 1. a leftover backup (an attempt that died mid-write) is restored first;
// 2. the diff is computed against what is stored; nothing changes → nothing is written;
// 3. a backup of every route the write touches is inserted, then the write runs;
// 4. success deletes the backup; failure leaves it for the workflow's compensation (or the
//    next attempt) to restore — so readers see old routes or new ones, never a mix, for longer
//    than the failing write.

export type RouteWritePhase = 'insert' | 'replace' | 'delete';

export interface RoutePlan {
  added: RouteSpec[];
  updated: Array<{ spec: RouteSpec; old: RouteDoc }>;
  removed: RouteDoc[];
  unchanged: number;
  /** Stored routes whose config entry is invalid: left as they are. */
  kept: number;
}

/** A stored route without its storage fields: what the config said. */
export function specOf(doc: RouteDoc): Record<string, unknown> {
  const { _id, createdAt, updatedAt, ...spec } = doc;
  return spec;
}

/** Pure diff. `invalidKeys` are routes the config has but could not validate: their stored versions stay. */
export function planRoutes(stored: readonly RouteDoc[], desired: readonly RouteSpec[], invalidKeys: ReadonlySet<string>): RoutePlan {
  const byKey = new Map(stored.map((d) => [d._id, d]));
  const plan: RoutePlan = { added: [], updated: [], removed: [], unchanged: 0, kept: 0 };
  const wanted = new Set<string>();
  for (const spec of desired) {
    wanted.add(spec.key);
    const old = byKey.get(spec.key);
    if (!old) plan.added.push(spec);
    else if (isDeepStrictEqual(specOf(old), { ...spec })) plan.unchanged += 1;
    else plan.updated.push({ spec, old });
  }
  for (const d of stored) {
    if (wanted.has(d._id)) continue;
    if (invalidKeys.has(d._id)) plan.kept += 1;
    else plan.removed.push(d);
  }
  return plan;
}

export const hasChanges = (p: RoutePlan) => p.added.length + p.updated.length + p.removed.length > 0;

export function countsOf(p: RoutePlan, failed: number): ItemCounts {
  return { ...emptyCounts(), added: p.added.length, updated: p.updated.length, removed: p.removed.length, unchanged: p.unchanged, failed };
}

async function replaceAll(col: Collection<RouteDoc>, docs: readonly RouteDoc[], after?: () => Promise<void>): Promise<void> {
  for (let b = 0; b < docs.length; b += REPLACE_BATCH) {
    const ops = docs.slice(b, b + REPLACE_BATCH).map((d): AnyBulkWriteOperation<RouteDoc> => {
      const { _id, ...replacement } = d;
      return { replaceOne: { filter: { _id }, replacement, upsert: true } };
    });
    await col.bulkWrite(ops, { ordered: true });
    await after?.();
  }
}

const ID_CHUNK = 500;
async function deleteIds(col: Collection<RouteDoc>, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += ID_CHUNK) await col.deleteMany({ _id: { $in: ids.slice(i, i + ID_CHUNK) } });
}

/** Puts the routes back as the backup says, then drops the backup. Idempotent. */
export async function restoreFromBackup(store: ClientStore, clientKey: string, backup: RouteBackupDoc): Promise<void> {
  const col = store.routes(clientKey);
  await deleteIds(col, backup.added);
  await replaceAll(col, backup.previous);
  await store.backups.deleteOne({ _id: clientKey });
}

export interface RouteWriteOptions {
  runId: string;
  /** Called after each write command (test seam for failures mid-write). */
  afterWrite?: (phase: RouteWritePhase) => Promise<void>;
  /** Called between write commands (heartbeats). */
  progress?: () => void;
}

/** Applies the plan under a backup; throws with the backup left in place when a write fails. */
export async function applyRoutePlan(store: ClientStore, clientKey: string, plan: RoutePlan, o: RouteWriteOptions): Promise<void> {
  const col = store.routes(clientKey);
  await store.backups.insertOne({
    _id: clientKey,
    runId: o.runId,
    previous: [...plan.updated.map((u) => u.old), ...plan.removed],
    added: plan.added.map((s) => s.key),
    createdAt: new Date(),
  });
  const now = new Date();
  const after = async (phase: RouteWritePhase) => {
    o.progress?.();
    await o.afterWrite?.(phase);
  };
  if (plan.added.length > 0) {
    await col.insertMany(
      plan.added.map((spec) => ({ ...spec, _id: spec.key, createdAt: now, updatedAt: now })),
      { ordered: true },
    );
    await after('insert');
  }
  if (plan.updated.length > 0) {
    await replaceAll(
      col,
      plan.updated.map(({ spec, old }) => ({ ...spec, _id: spec.key, createdAt: old.createdAt, updatedAt: now })),
      () => after('replace'),
    );
  }
  if (plan.removed.length > 0) {
    await deleteIds(
      col,
      plan.removed.map((d) => d._id),
    );
    await after('delete');
  }
  await store.backups.deleteOne({ _id: clientKey });
}
