import type { Collection, Document } from 'mongodb';
import { ReconcileOutcome } from '../shared/reconcile';
import type { Finding, RepairEntry } from './reconcile-compare';
import { hashOf, viewOf, type Key } from './reconcile-keys';
import { insertStepping } from './reconcile-store';

// Applies staged repairs in one batch. Shaped by FerretDB (DESIGN.md): an update or replace
// scans the collection per statement, `$in` costs one scan per call, `$or` is far slower, and
// inserts are cheap. So: read the guarded records' current state (few: point reads; many: one
// `$in`), delete those still as observed (one `deleteMany $in`), then insert the replacements
// and the missing records in one ordered insert that steps over collisions. A collision or a
// changed record means someone else wrote it first: a conflict, listed, never overwritten.

/** Up to this many records are read and deleted one by one (each a cheap `_id` lookup). */
export const POINT_REPAIR_MAX = 8;

export interface RepairResult {
  repaired: number;
  conflicts: number;
  failed: number;
  inserted: number;
  deleted: number;
  /** Found already repaired: an earlier attempt applied them before it was cut short. */
  alreadyApplied: number;
  findings: Finding[];
}

const outcomeOf = (e: RepairEntry) => (e.op === 'insert' ? ReconcileOutcome.missingInTarget : e.op === 'delete' ? ReconcileOutcome.extraInTarget : ReconcileOutcome.mismatched);

const mapKey = (k: Key) => (k instanceof Object ? `o:${JSON.stringify(k)}` : `${typeof k}:${k}`);

async function currentHashes(target: Collection<Document>, keys: Key[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const docs: Document[] = [];
  if (keys.length <= POINT_REPAIR_MAX) {
    for (const k of keys) {
      const d = await target.findOne({ _id: k } as Document);
      if (d) docs.push(d);
    }
  } else {
    docs.push(...(await target.find({ _id: { $in: keys } } as Document).toArray()));
  }
  for (const d of docs) out.set(mapKey(d._id as Key), hashOf(viewOf(d)));
  return out;
}

async function deleteKeys(target: Collection<Document>, keys: Key[]): Promise<number> {
  if (keys.length === 0) return 0;
  if (keys.length <= POINT_REPAIR_MAX) {
    let n = 0;
    for (const k of keys) n += (await target.deleteOne({ _id: k } as Document)).deletedCount;
    return n;
  }
  return (await target.deleteMany({ _id: { $in: keys } } as Document)).deletedCount;
}

export async function applyRepairs(target: Collection<Document>, entries: readonly RepairEntry[]): Promise<RepairResult> {
  const r: RepairResult = { repaired: 0, conflicts: 0, failed: 0, inserted: 0, deleted: 0, alreadyApplied: 0, findings: [] };
  const conflict = (e: RepairEntry, message: string) => {
    r.conflicts += 1;
    r.findings.push({ key: e.key, keyId: e.keyId, outcome: outcomeOf(e), action: 'conflict', message });
  };

  // Guarded entries (and every entry of an earlier attempt) are checked against the target now.
  const checked = entries.filter((e) => e.redo || e.op !== 'insert');
  const current = checked.length ? await currentHashes(target, checked.map((e) => e.key)) : new Map<string, string>();
  const toDelete: RepairEntry[] = [];
  const toInsert: RepairEntry[] = [];
  for (const e of entries) {
    if (!e.redo && e.op === 'insert') {
      toInsert.push(e);
      continue;
    }
    const now = current.get(mapKey(e.key));
    if (e.op === 'delete') {
      if (now === undefined) r.alreadyApplied += 1;
      else if (now === e.observedHash) toDelete.push(e);
      else conflict(e, 'the target record changed since it was compared');
    } else if (now !== undefined && now === e.sourceHash) {
      r.alreadyApplied += 1;
    } else if (now === undefined) {
      toInsert.push(e);
    } else if (e.op === 'replace' && now === e.observedHash) {
      toDelete.push(e);
      toInsert.push(e);
    } else {
      conflict(e, e.op === 'insert' ? 'someone else inserted the record since it was compared' : 'the target record changed since it was compared');
    }
  }

  r.deleted = await deleteKeys(target, toDelete.map((e) => e.key));
  const deletedExtras = toDelete.filter((e) => e.op === 'delete').length;
  const ins = await insertStepping(target, toInsert.map((e) => e.doc!), true);
  r.inserted = ins.inserted;
  for (const i of ins.duplicates) conflict(toInsert[i]!, 'someone else wrote the record before the repair');
  for (const f of ins.failures) {
    const e = toInsert[f.index]!;
    r.failed += 1;
    r.findings.push({ key: e.key, keyId: e.keyId, outcome: outcomeOf(e), action: 'failed', message: f.message.slice(0, 300) });
  }
  // An extra counts once deleted; a replacement or a missing record once inserted.
  r.repaired = r.alreadyApplied + Math.min(deletedExtras, r.deleted) + ins.inserted;
  return r;
}
