import type { RemoteInvalidator } from '../../../infra/cache-bus';
import type { Db } from 'mongodb';
import { createSecretsRotation, type RotationSummary, type SecretsStatus } from '../../../activities/maintenance/secrets-rotation';
import type { Keyring } from '../../../infra/secrets';

// Secrets at rest for /api/secrets (`secrets status|rotate`): the API process holds the keyring,
// so counting and re-sealing happen here, never in the CLI. Answers carry key IDs, counts and
// places (`tenant:<id>:source.settings.token`) — never a value, sealed or not.

export interface SecretsStatusAnswer extends SecretsStatus {
  primaryKeyId: string;
  /** SECRETS_KEY is unset: the built-in development key is in use. */
  usingDevKey: boolean;
}

export interface RotateBatchAnswer {
  primaryKeyId: string;
  /** Re-sealed under the primary key by this call (plaintext that got sealed included). */
  rotated: number;
  /** Changed by someone else between read and write: left as they wrote it. */
  skipped: number;
  /** Secrets the next call would still try; 0 once a call has gone through all of them. */
  remaining: number;
  /** Secrets that did not re-seal (a key no longer listed, a damaged value): place and reason. */
  failed: RotationSummary['failed'];
}

export interface SecretsServiceOptions {
  db: Db;
  keyring: Keyring;
  /** Re-sealed tenant secrets change what the tenant cache holds: it is cleared in every process after a batch that re-sealed any. */
  invalidator?: Pick<RemoteInvalidator, 'clear'>;
}

/** Thrown by the rotation's per-document hook to end a pass once the batch is full. */
class BatchFull extends Error {}

export function createSecretsService(o: SecretsServiceOptions) {
  const rotation = createSecretsRotation(o.db, o.keyring);
  const { primaryKeyId } = o.keyring;

  async function status(): Promise<SecretsStatusAnswer> {
    return { primaryKeyId, usingDevKey: o.keyring.usingDevKey, ...(await rotation.status()) };
  }

  /** Not yet under the primary key, less those this call already tried and failed on. */
  async function pendingAfter(failed: number): Promise<number> {
    const s = await rotation.status();
    return Math.max(0, s.total - (s.byKey[primaryKeyId] ?? 0) - failed);
  }

  /**
   * Re-seals up to `limit` secrets (a document's few fields may go a little past it), in the
   * rotation's own natural-order pass from the start: values already under the primary key are
   * only checked, so every call moves on to the ones still to do. A full pass ends the rotation.
   */
  async function rotateBatch(limit: number): Promise<RotateBatchAnswer> {
    let sum: RotationSummary | undefined;
    let full = false;
    try {
      sum = await rotation.rotate((s) => {
        sum = s;
        if (s.resealed + s.skipped >= limit) throw new BatchFull();
      });
    } catch (err) {
      if (!(err instanceof BatchFull)) throw err;
      full = true;
    }
    const done = sum ?? { resealed: 0, skipped: 0, failed: [] };
    if (done.resealed > 0) await o.invalidator?.clear('tenants');
    const remaining = full ? await pendingAfter(done.failed.length) : 0;
    return { primaryKeyId, rotated: done.resealed, skipped: done.skipped, remaining, failed: done.failed };
  }

  return { status, rotateBatch };
}

export type SecretsService = ReturnType<typeof createSecretsService>;
