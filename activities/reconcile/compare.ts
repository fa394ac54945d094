import type { Document } from 'mongodb';
import { ReconcileOutcome, type ExtraPolicy, type ReconcileCounters } from '../../shared/reconcile';
import type { SyncMeta } from '../records/writer';
import { hashOf, keyId, targetIsNewer, versionOf, viewOf, type Key } from './keys';
import type { FindingAction, RepairOp } from './store';
import type { MergedItem, SourceItem } from './stream';

// One chunk's comparison: outcome per key by content hash, the repairs it calls for and the
// findings to list. Pure: a redone chunk sees the same target (repairs are only applied between
// chunks, to keys already passed) and so yields the same result.

export interface RepairEntry {
  key: Key;
  keyId: string;
  op: RepairOp;
  /** Hash of the target record as observed (replace, delete): the repair's guard. */
  observedHash?: string;
  /** Hash of the source record (insert, replace): a target already equal needs nothing. */
  sourceHash?: string;
  /** The document to insert (insert, replace). */
  doc?: Document;
  /** Staged by an earlier attempt: its effect may already be applied, so check before writing. */
  redo: boolean;
}

export interface Finding {
  key: Key;
  keyId: string;
  outcome: ReconcileOutcome;
  action: FindingAction;
  message?: string;
}

export interface CompareSettings {
  dryRun: boolean;
  extras: ExtraPolicy;
  batchId: string;
  /** Tenant sources: documents are written as tenant sync writes them (the record, `_sync` beside). */
  tenantMode: boolean;
  now: Date;
}

export interface ChunkComparison {
  counts: Partial<ReconcileCounters>;
  repairs: RepairEntry[];
  findings: Finding[];
}

interface SourceView {
  view: Document;
  version?: unknown;
  hash: string;
}

function sourceView(s: SourceItem): SourceView {
  if (s.doc) {
    const view = viewOf(s.doc);
    return { view, version: versionOf(s.doc), hash: hashOf(view) };
  }
  // A tenant record is compared whole, as tenant sync stores it: `{ _id, ...data }`.
  const r = s.record!;
  return { view: r.data, version: r.version ?? r.updatedAt, hash: hashOf(r.data) };
}

/** What a repair writes: the source document as is, or a tenant record in the tenant-sync shape. */
function writeDocOf(s: SourceItem, v: SourceView, o: CompareSettings): Document {
  if (s.doc) return s.doc;
  const r = s.record!;
  const meta: SyncMeta = { hash: v.hash, readAt: o.now, syncedAt: o.now, runId: o.batchId };
  if (v.version !== undefined) meta.version = v.version;
  return { _id: r.id, ...r.data, _sync: meta };
}

/** One key's outcome, computed as the streams are merged so that its documents die young. */
export interface ItemResult {
  key: Key;
  outcome: ReconcileOutcome;
  repair?: RepairEntry;
  finding?: Finding;
}

export function compareItem({ key, source, target }: MergedItem, o: CompareSettings): ItemResult {
  const finding = (outcome: ReconcileOutcome, action: FindingAction, message?: string): ItemResult => ({
    key,
    outcome,
    finding: { key, keyId: keyId(key), outcome, action, ...(message ? { message } : {}) },
  });
  if (source && target) {
    const sv = sourceView(source);
    const observedHash = hashOf(viewOf(target));
    if (sv.hash === observedHash) return { key, outcome: ReconcileOutcome.matched };
    const outcome = ReconcileOutcome.mismatched;
    if (o.dryRun) return finding(outcome, 'reported');
    if (targetIsNewer(sv.version, versionOf(target)))
      return finding(outcome, 'conflict', `target version ${String(versionOf(target))} is newer than source version ${String(sv.version)}`);
    return {
      key,
      outcome,
      repair: { key, keyId: keyId(key), op: 'replace', observedHash, sourceHash: sv.hash, doc: writeDocOf(source, sv, o), redo: false },
    };
  }
  if (source) {
    const outcome = ReconcileOutcome.missingInTarget;
    if (o.dryRun) return finding(outcome, 'reported');
    const sv = sourceView(source);
    return {
      key,
      outcome,
      repair: { key, keyId: keyId(key), op: 'insert', sourceHash: sv.hash, doc: writeDocOf(source, sv, o), redo: false },
    };
  }
  const outcome = ReconcileOutcome.extraInTarget;
  if (o.dryRun) return finding(outcome, 'reported');
  if (o.extras === 'flag') return finding(outcome, 'flagged');
  return { key, outcome, repair: { key, keyId: keyId(key), op: 'delete', observedHash: hashOf(viewOf(target!)), redo: false } };
}

/** Counts, repairs and findings of one chunk's results. */
export function tallyChunk(results: readonly ItemResult[]): ChunkComparison {
  const counts = { processed: results.length, matched: 0, missing: 0, extra: 0, mismatched: 0, flagged: 0, conflicts: 0, chunksDone: 1 };
  const repairs: RepairEntry[] = [];
  const findings: Finding[] = [];
  for (const r of results) {
    if (r.outcome === ReconcileOutcome.matched) counts.matched += 1;
    else if (r.outcome === ReconcileOutcome.mismatched) counts.mismatched += 1;
    else if (r.outcome === ReconcileOutcome.missingInTarget) counts.missing += 1;
    else counts.extra += 1;
    if (r.repair) repairs.push(r.repair);
    if (r.finding) {
      findings.push(r.finding);
      if (r.finding.action === 'flagged') counts.flagged += 1;
      if (r.finding.action === 'conflict') counts.conflicts += 1;
    }
  }
  return { counts, repairs, findings };
}

export function compareChunk(items: readonly MergedItem[], o: CompareSettings): ChunkComparison {
  return tallyChunk(items.map((i) => compareItem(i, o)));
}

/** A key as a hashed scan saw it on each side: its content hash and version, not the record. */
export interface SpilledPair {
  key: Key;
  id: string;
  source?: { hash: string; version?: unknown };
  target?: { hash: string; version?: unknown };
}

/**
 * compareItem for a hashed scan (namespace sources only): the same outcomes and guards from the
 * spilled hashes and versions. Repairs that write carry no document yet — the flush reads the
 * source record by `_id` — so a chunk costs memory for keys and hashes only.
 */
export function compareSpilled({ key, id, source, target }: SpilledPair, o: CompareSettings): ItemResult {
  const finding = (outcome: ReconcileOutcome, action: FindingAction, message?: string): ItemResult => ({
    key,
    outcome,
    finding: { key, keyId: id, outcome, action, ...(message ? { message } : {}) },
  });
  if (source && target) {
    if (source.hash === target.hash) return { key, outcome: ReconcileOutcome.matched };
    const outcome = ReconcileOutcome.mismatched;
    if (o.dryRun) return finding(outcome, 'reported');
    if (targetIsNewer(source.version, target.version))
      return finding(
        outcome,
        'conflict',
        `target version ${String(target.version)} is newer than source version ${String(source.version)}`,
      );
    return { key, outcome, repair: { key, keyId: id, op: 'replace', observedHash: target.hash, sourceHash: source.hash, redo: false } };
  }
  if (source) {
    const outcome = ReconcileOutcome.missingInTarget;
    if (o.dryRun) return finding(outcome, 'reported');
    return { key, outcome, repair: { key, keyId: id, op: 'insert', sourceHash: source.hash, redo: false } };
  }
  const outcome = ReconcileOutcome.extraInTarget;
  if (o.dryRun) return finding(outcome, 'reported');
  if (o.extras === 'flag') return finding(outcome, 'flagged');
  return { key, outcome, repair: { key, keyId: id, op: 'delete', observedHash: target!.hash, redo: false } };
}
