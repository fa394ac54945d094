import type { Collection, Document } from 'mongodb';
import { AppError } from '../../shared/errors';
import { ReconcileOutcome } from '../../shared/reconcile';
import type { Finding, RepairEntry } from './compare';
import { hashOf, keyOf, viewOf, type Key } from './keys';
import { FAITHFUL } from '../migrations/copy';
import { insertStepping } from './store';

// Applies staged repairs in one batch. Shaped by FerretDB (DESIGN.md): an update or replace
// scans the collection per statement, `$in` costs one scan per call, `$or` is far slower, and
// inserts are cheap. So: read the guarded records' current state (few: point reads; many: one
// `$in`), delete those still as observed (one `deleteMany $in`), then insert the replacements
// and the missing records in one ordered insert that steps over collisions. A collision or a
// changed record means someone else wrote it first: a conflict, listed, never overwritten.
//
// A replace is delete-then-insert under one `_id` (insert-before-delete cannot work with the
// key as `_id`, and replaceOne scans), so it loses nothing this way: before the delete, a copy
// of each record is saved in the undo log (one cheap insert); a replacement the server refuses
// puts the copy back; a failure of the restore, or of the whole flush, throws — the staged
// repair and its copy stay until the caller records the flush, and a re-run (redo) finishes it.

/** Up to this many records are read and deleted one by one (each a cheap `_id` lookup). */
export const POINT_REPAIR_MAX = 8;

/** A target record as it was just before a repair deleted it. */
export interface UndoCopy {
  key: Key;
  keyId: string;
  doc: Document;
}

/** Where a flush keeps the copies of the records it deleted until their replacements are in. */
export interface UndoLog {
  save(copies: UndoCopy[]): Promise<void>;
  /** Copies saved by this or an earlier attempt, by keyId. */
  load(keyIds: string[]): Promise<Map<string, Document>>;
}

/** Thrown when a record a repair deleted could not be put back; its copy stays in the undo log. */
export class RepairRestoreError extends AppError {
  constructor(
    readonly keys: readonly unknown[],
    cause?: unknown,
  ) {
    const what = `${keys.length} record(s) deleted by the repair could not be restored yet; their copies are kept for the retry`;
    super('repair-incomplete', what, { cause });
  }
}

export interface RepairResult {
  repaired: number;
  conflicts: number;
  failed: number;
  inserted: number;
  deleted: number;
  /** Replacements refused by the server whose previous record was put back. */
  restored: number;
  /** Found already repaired: an earlier attempt applied them before it was cut short. */
  alreadyApplied: number;
  findings: Finding[];
}

const outcomeOf = (e: RepairEntry) =>
  e.op === 'insert' ? ReconcileOutcome.missingInTarget : e.op === 'delete' ? ReconcileOutcome.extraInTarget : ReconcileOutcome.mismatched;

const mapKey = (k: Key) => (k instanceof Object ? `o:${JSON.stringify(k)}` : `${typeof k}:${k}`);

async function currentDocs(target: Collection<Document>, keys: Key[]): Promise<Map<string, Document>> {
  const out = new Map<string, Document>();
  const docs: Document[] = [];
  if (keys.length <= POINT_REPAIR_MAX) {
    for (const k of keys) {
      const d = await target.findOne({ _id: k } as Document, FAITHFUL);
      if (d) docs.push(d);
    }
  } else if (keys.length) {
    docs.push(...(await target.find({ _id: { $in: keys } } as Document, FAITHFUL).toArray()));
  }
  // Read as stored: an undo copy puts the record back with its BSON types.
  for (const d of docs) out.set(mapKey(keyOf(d._id) ?? (d._id as Key)), d);
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

const exists = async (target: Collection<Document>, key: Key) =>
  (await target.findOne({ _id: key } as Document, { projection: { _id: 1 } })) !== null;

/** Puts back the copies of refused replacements; throws unless each record is there again. */
async function restore(target: Collection<Document>, copies: UndoCopy[]): Promise<void> {
  let res;
  try {
    res = await insertStepping(
      target,
      copies.map((c) => c.doc),
    );
  } catch (err) {
    throw new RepairRestoreError(
      copies.map((c) => c.key),
      err,
    );
  }
  // A duplicate is fine when someone else wrote the record meanwhile, not when another unique index refused it.
  const missing: Key[] = [];
  for (const i of res.duplicates) if (!(await exists(target, copies[i]!.key))) missing.push(copies[i]!.key);
  if (missing.length) throw new RepairRestoreError(missing);
}

export async function applyRepairs(target: Collection<Document>, entries: readonly RepairEntry[], undo: UndoLog): Promise<RepairResult> {
  const r: RepairResult = { repaired: 0, conflicts: 0, failed: 0, inserted: 0, deleted: 0, restored: 0, alreadyApplied: 0, findings: [] };
  const conflict = (e: RepairEntry, message: string) => {
    r.conflicts += 1;
    r.findings.push({ key: e.key, keyId: e.keyId, outcome: outcomeOf(e), action: 'conflict', message });
  };

  // Guarded entries (and every entry of an earlier attempt) are checked against the target now.
  const checked = entries.filter((e) => e.redo || e.op !== 'insert');
  const current = await currentDocs(
    target,
    checked.map((e) => e.key),
  );
  const toDelete: RepairEntry[] = [];
  const toInsert: RepairEntry[] = [];
  const copies: UndoCopy[] = [];
  for (const e of entries) {
    if (!e.redo && e.op === 'insert') {
      toInsert.push(e);
      continue;
    }
    const doc = current.get(mapKey(e.key));
    const now = doc ? hashOf(viewOf(doc)) : undefined;
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
      copies.push({ key: e.key, keyId: e.keyId, doc: doc! });
    } else {
      conflict(
        e,
        e.op === 'insert' ? 'someone else inserted the record since it was compared' : 'the target record changed since it was compared',
      );
    }
  }

  if (copies.length) await undo.save(copies);
  r.deleted = await deleteKeys(
    target,
    toDelete.map((e) => e.key),
  );
  const deletedExtras = toDelete.filter((e) => e.op === 'delete').length;
  let ins;
  try {
    ins = await insertStepping(
      target,
      toInsert.map((e) => e.doc!),
      true,
    );
  } catch (err) {
    // Outcome unknown (a lost connection, a refused batch): put back what this attempt deleted,
    // best effort (a record already replaced answers "duplicate"); the retry redoes the rest.
    await restore(target, copies).catch(() => undefined);
    throw err;
  }
  r.inserted = ins.inserted;

  // Not written: a duplicate `_id` is someone else's record (a conflict); anything else is a
  // failure, and a replaced record gets its previous version back.
  const refused = ins.failures.map((f) => ({ index: f.index, message: f.message }));
  for (const i of ins.duplicates) {
    const e = toInsert[i]!;
    if (await exists(target, e.key)) conflict(e, 'someone else wrote the record before the repair');
    else refused.push({ index: i, message: 'refused by a unique index of the target' });
  }
  const replaced = refused.map((f) => toInsert[f.index]!).filter((e) => e.op === 'replace');
  if (replaced.length) {
    const saved = new Map(copies.map((c) => [c.keyId, c.doc]));
    const earlier = replaced.filter((e) => !saved.has(e.keyId)).map((e) => e.keyId);
    if (earlier.length) for (const [id, d] of await undo.load(earlier)) saved.set(id, d);
    const back = replaced.filter((e) => saved.has(e.keyId)).map((e) => ({ key: e.key, keyId: e.keyId, doc: saved.get(e.keyId)! }));
    await restore(target, back);
    r.restored = back.length;
  }
  for (const f of refused) {
    const e = toInsert[f.index]!;
    const kept = e.op === 'replace' ? '; the previous record was kept' : '';
    r.failed += 1;
    r.findings.push({ key: e.key, keyId: e.keyId, outcome: outcomeOf(e), action: 'failed', message: `${f.message.slice(0, 260)}${kept}` });
  }
  // An extra counts once deleted; a replacement or a missing record once inserted.
  r.repaired = r.alreadyApplied + Math.min(deletedExtras, r.deleted) + ins.inserted;
  return r;
}
