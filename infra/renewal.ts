// Keeping a lease alive: `renew` every `everyMs` for at most `maxHoldMs`, again after `retryMs`
// when a renewal fails (the store stalled), and no more once it answers false (the lease is gone
// or someone else's). The MongoDB lease (infra/mongo-lease.ts) and the Idempotency-Key's pending
// claim (api/plugins/idempotency.ts) both hold theirs this way. Returns the stop, which settles
// once a renewal in flight has: a release written after it is never overwritten by a late
// renewal (FerretDB applies an update as read, modify, write back, so two at once can lose one).

export interface RenewalOptions {
  everyMs: number;
  maxHoldMs: number;
  /** @default everyMs */
  retryMs?: number;
  /** Told when a renewal answers false (not after the stop). */
  onLost?: () => void;
}

export function keepRenewing(renew: () => Promise<boolean>, o: RenewalOptions): () => Promise<void> {
  const until = Date.now() + o.maxHoldMs;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();
  const schedule = (ms: number) => {
    if (stopped || Date.now() > until) return;
    timer = setTimeout(() => {
      inFlight = renew().then(
        (held) => {
          if (held) schedule(o.everyMs);
          else if (!stopped) o.onLost?.();
        },
        () => schedule(o.retryMs ?? o.everyMs),
      );
    }, ms);
    timer.unref();
  };
  schedule(o.everyMs);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await inFlight;
  };
}
