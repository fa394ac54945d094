// Hedged fallback on the login path (LOGIN_HEDGE): when the Temporal answer has not come within
// a delay derived from recent healthy Temporal latencies, the direct sync of the essential
// collections starts beside it and the login takes whichever answers first. The workflow is not
// cancelled (it carries on with the rest); both write through the same version-guarded
// activity functions, so the loser's writes are no-ops or newer versions. Pure: no I/O here.

export interface HedgeSettings {
  /** LOGIN_HEDGE: false never hedges. */
  enabled: boolean;
  /** LOGIN_HEDGE_MIN_MS / LOGIN_HEDGE_MAX_MS: the delay's bounds. */
  minMs: number;
  maxMs: number;
  /** The login's Temporal deadline: a delay at or past it is no hedge (the timeout falls back anyway). */
  timeoutMs: number;
}

/** Successful Temporal answers remembered (a ring): p99 over the last few hundred logins. */
export const HEDGE_WINDOW = 256;
/** Below this many samples the p99 says little: the delay is the upper bound. */
export const HEDGE_MIN_SAMPLES = 20;
/** Delay = this × p99 of recent healthy answers (bounded). */
export const HEDGE_FACTOR = 2;

export function createHedge(s: HedgeSettings) {
  const ring: number[] = [];
  let next = 0;
  return {
    /** A Temporal login that answered, and how long it took. */
    observe(ms: number): void {
      if (!Number.isFinite(ms) || ms < 0) return;
      if (ring.length < HEDGE_WINDOW) ring.push(ms);
      else ring[next] = ms;
      next = (next + 1) % HEDGE_WINDOW;
    },
    /** When to start the direct sync beside the workflow; undefined: no hedge. */
    delayMs(): number | undefined {
      if (!s.enabled) return undefined;
      const bound = (ms: number) => Math.min(s.maxMs, Math.max(s.minMs, Math.round(ms)));
      const delay = ring.length < HEDGE_MIN_SAMPLES ? s.maxMs : bound(HEDGE_FACTOR * p99(ring));
      return delay < s.timeoutMs ? delay : undefined;
    },
    samples: () => ring.length,
  };
}

export type Hedge = ReturnType<typeof createHedge>;

/** The 99th percentile (nearest rank) of `xs`; 0 for none. */
export function p99(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!;
}
