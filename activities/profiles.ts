// Timeout and retry profiles of the activity layer: where code retries or bounds a call inside its
// own process (the API's direct sync, a reconcile partition's chunks, outbound clients). Temporal's
// retries of whole activities are the workflow layer's table (workflows/profiles.ts).

export const InProcessProfiles = {
  /** The API's direct sync of one collection (api/services/tenant-sync/direct-sync.ts): a retryable failure is tried again after each pause. */
  directSync: { retryDelaysMs: [150, 400] },
  /** A reconcile chunk or repair flush: `retryAttempts` more tries (run options), the n-th after retryDelay × 2^(n−1). */
  reconcileChunk: { backoffCoefficient: 2 },
  /** A repair flush scans the target twice on FerretDB (minutes at millions of records): not bound by one chunk's timeout. */
  reconcileFlush: { minTimeoutMs: 30 * 60_000 },
  /** MongoDB clients to tenant sources and reconcile endpoints: an unreachable server fails fast. */
  outboundMongo: { serverSelectionTimeoutMS: 5_000, connectTimeoutMS: 3_000 },
  /** One request to an HTTP source, unless the tenant's settings say otherwise. @default 10 000 ms */
  httpSource: { requestTimeoutMs: 10_000 },
} as const;

/** The pause before retry `attempt` (1-based) of a reconcile chunk or flush. */
export const reconcileRetryDelayMs = (retryDelay: number, attempt: number) =>
  retryDelay * InProcessProfiles.reconcileChunk.backoffCoefficient ** (attempt - 1);
