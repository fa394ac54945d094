import type { Keyring } from '../../infra/secrets';
import type { BatchDoc } from './store';

// A reconcile batch's external URIs, sealed in its document (reconcile_batches.secrets) and
// revealed only by the activity that opens the connections (reconcile-endpoints.ts).

export interface BatchSecrets {
  sourceUri?: string;
  targetUri?: string;
}

export const BATCH_SECRET_FIELDS = ['sourceUri', 'targetUri'] as const;

/** Where a batch's secret lives: the AAD that binds its sealed value to this batch and field. */
export const batchSecretPlace = (batchId: string, field: keyof BatchSecrets) => `reconcile:${batchId}:secrets.${field}`;

function mapSecrets(batchId: string, secrets: BatchSecrets, fn: (v: string, where: string) => string): BatchSecrets {
  const out: BatchSecrets = {};
  for (const f of BATCH_SECRET_FIELDS) {
    const v = secrets[f];
    if (v !== undefined) out[f] = fn(v, batchSecretPlace(batchId, f));
  }
  return out;
}

/** The URIs as stored: each sealed under the primary key. */
export const sealBatchSecrets = (keyring: Keyring, batchId: string, secrets: BatchSecrets): BatchSecrets =>
  mapSecrets(batchId, secrets, (v, w) => keyring.seal(v, w));

/** The URIs in clear (legacy plaintext passes through): only to open connections. */
export const revealBatchSecrets = (keyring: Keyring, batch: Pick<BatchDoc, '_id' | 'secrets'>): BatchSecrets =>
  mapSecrets(batch._id, batch.secrets ?? {}, (v, w) => keyring.reveal(v, w));
