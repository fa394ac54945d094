import type { Db, Document } from 'mongodb';
import { Collections } from '../../infra/mongo';
import { sealedKeyId, type Keyring } from '../../infra/secrets';
import { BATCH_SECRET_FIELDS, batchSecretPlace } from '../reconcile/secrets';
import { SECRET_FIELDS, tenantSecretPlace } from '../tenant-sync/registry';

// `secrets status|rotate`: every stored secret (tenant source tokens/URIs, reconcile batch URIs)
// counted by key ID, and re-sealed under the keyring's primary key. Idempotent: values already
// under the primary key are left alone; each write is conditional on the value it replaces.

/** One stored secret: its document, field path and AAD. */
interface StoredSecret {
  collection: string;
  id: string;
  path: string;
  where: string;
  value: string;
}

export interface SecretsStatus {
  /** Sealed values per key ID. */
  byKey: Record<string, number>;
  /** Values still in plaintext (written before encryption at rest). */
  plaintext: number;
  /** Key IDs in use that SECRETS_KEY does not list (their values cannot be decrypted). */
  unknownKeys: string[];
  total: number;
}

export interface RotationSummary {
  primaryKeyId: string;
  scanned: number;
  /** Re-sealed under the primary key (including plaintext that got sealed). */
  resealed: number;
  /** Already under the primary key. */
  current: number;
  /** Changed by someone else between read and write: left as they wrote it. */
  skipped: number;
  failed: Array<{ where: string; message: string }>;
}

const getPath = (doc: Document, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Document)[k] : undefined), doc);

/** Where secrets are stored: each collection, which of its documents may hold any, and the fields. */
const HOLDERS = [
  {
    collection: Collections.tenants,
    filter: {},
    projection: { _id: 1, source: 1 },
    fields: SECRET_FIELDS.map((f) => ({ path: `source.settings.${f}`, place: (id: string) => tenantSecretPlace(id, f) })),
  },
  {
    collection: Collections.reconcileBatches,
    filter: { secrets: { $exists: true } },
    projection: { _id: 1, secrets: 1 },
    fields: BATCH_SECRET_FIELDS.map((f) => ({ path: `secrets.${f}`, place: (id: string) => batchSecretPlace(id, f) })),
  },
] as const;

export function createSecretsRotation(db: Db, keyring: Keyring) {
  /** Every document that may hold secrets, with those it holds; one natural-order cursor per collection. */
  async function* stored(): AsyncGenerator<StoredSecret[]> {
    for (const h of HOLDERS) {
      for await (const doc of db.collection(h.collection).find(h.filter, { projection: h.projection })) {
        const id = String(doc._id);
        yield h.fields.flatMap(({ path, place }) => {
          const value = getPath(doc, path);
          return typeof value === 'string' ? [{ collection: h.collection, id, path, where: place(id), value }] : [];
        });
      }
    }
  }

  /** How many documents may hold secrets (the progress bar's total). */
  async function documents(): Promise<number> {
    const counts = await Promise.all(HOLDERS.map((h) => db.collection(h.collection).countDocuments(h.filter)));
    return counts.reduce((a, b) => a + b, 0);
  }

  async function status(): Promise<SecretsStatus> {
    const out: SecretsStatus = { byKey: {}, plaintext: 0, unknownKeys: [], total: 0 };
    for await (const doc of stored()) {
      for (const s of doc) {
        out.total += 1;
        const kid = sealedKeyId(s.value);
        if (kid === undefined) out.plaintext += 1;
        else out.byKey[kid] = (out.byKey[kid] ?? 0) + 1;
      }
    }
    out.unknownKeys = Object.keys(out.byKey).filter((k) => !keyring.keyIds.includes(k));
    return out;
  }

  async function resealOne(s: StoredSecret, sum: RotationSummary): Promise<void> {
    sum.scanned += 1;
    let next: { value: string; changed: boolean };
    try {
      next = keyring.reseal(s.value, s.where);
    } catch (err) {
      sum.failed.push({ where: s.where, message: err instanceof Error ? err.message : String(err) });
      return;
    }
    if (!next.changed) {
      sum.current += 1;
      return;
    }
    // Conditional on the value read: a secret re-registered meanwhile is not overwritten.
    const res = await db.collection(s.collection).updateOne({ _id: s.id as never, [s.path]: s.value }, { $set: { [s.path]: next.value } });
    if (res.matchedCount === 1) sum.resealed += 1;
    else sum.skipped += 1;
  }

  /** Re-seals every stored secret under the primary key; `onDocument` after each document (progress). */
  async function rotate(onDocument?: (summary: RotationSummary) => void): Promise<RotationSummary> {
    const sum: RotationSummary = { primaryKeyId: keyring.primaryKeyId, scanned: 0, resealed: 0, current: 0, skipped: 0, failed: [] };
    for await (const doc of stored()) {
      for (const s of doc) await resealOne(s, sum);
      onDocument?.(sum);
    }
    return sum;
  }

  return { status, rotate, documents };
}

export type SecretsRotation = ReturnType<typeof createSecretsRotation>;
