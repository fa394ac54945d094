// Keeping a lease alive: `renew` every `everyMs` for at most `maxHoldMs`, again after `retryMs`
// when a renewal fails (the store stalled), and no more once it answers false (the lease is gone
// or someone else's). The MongoDB lease (infra/mongo-lease.ts) and the Idempotency-Key's pending
// claim (api/plugins/idempotency.ts) both hold theirs this way. Returns the stop.

export interface RenewalOptions {
  everyMs: number;
  maxHoldMs: number;
  /** @default everyMs */
  retryMs?: number;
  /** Told when a renewal answers false. */
  onLost?: () => void;
}

export function keepRenewing(renew: () => Promise<boolean>, o: RenewalOptions): () => void {
  const until = Date.now() + o.maxHoldMs;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (ms: number) => {
    if (stopped || Date.now() > until) return;
    timer = setTimeout(() => {
      renew().then(
        (held) => (held ? schedule(o.everyMs) : o.onLost?.()),
        () => schedule(o.retryMs ?? o.everyMs),
      );
    }, ms);
    timer.unref();
  };
  schedule(o.everyMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
