import { ApplicationFailure } from '@temporalio/common';
import { isRetryableErrorType, isSyncErrorType, SyncErrorType } from './errors';
import { redactConnectionDetails } from './redact';
import type { SyncFailure } from './tenant-sync';

// Builds the SyncFailure a collection reports. Pure: the workflow bundle and the API share it.
// Messages are stored and shown, so they lose connection details (hosts, ports, URIs) here.

export interface FailureContext {
  tenantId: string;
  collection: string;
  correlationId: string;
}

export function failureOf(ctx: FailureContext, errorType: SyncErrorType, message: string, started: number): SyncFailure {
  const safe = redactConnectionDetails(message, { keep: [ctx.collection, ctx.tenantId] }).slice(0, 500);
  return {
    errorType,
    retryable: isRetryableErrorType(errorType),
    message: safe,
    correlationId: ctx.correlationId,
    tenantId: ctx.tenantId,
    collection: ctx.collection,
    durationMs: Date.now() - started,
  };
}

/** Reads the SyncFailure an activity attached to its ApplicationFailure (possibly wrapped in an ActivityFailure). */
export function failureFromError(
  err: unknown,
  ctx: FailureContext,
  started: number,
  classify: (err: unknown) => SyncErrorType = () => SyncErrorType.UNKNOWN_ERROR,
): SyncFailure {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++, e = (e as { cause?: unknown }).cause) {
    if (e instanceof ApplicationFailure) {
      const d = e.details?.[0] as SyncFailure | undefined;
      if (d && typeof d === 'object' && 'errorType' in d)
        return { ...d, message: redactConnectionDetails(String(d.message), { keep: [d.collection, d.tenantId] }) };
      return failureOf(ctx, isSyncErrorType(e.type) ? e.type : SyncErrorType.UNKNOWN_ERROR, e.message, started);
    }
  }
  return failureOf(ctx, classify(err), err instanceof Error ? err.message : String(err), started);
}
