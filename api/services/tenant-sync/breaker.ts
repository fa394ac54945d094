import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleAll,
  isBrokenCircuitError,
  type CircuitBreakerPolicy,
  type IBreaker,
} from 'cockatiel';

// The login path's circuit breaker. cockatiel runs the closed → open → half-open machine;
// FailureCountBreaker decides when it opens: failures in a row, failures in a window, or at once.

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Failures that open the breaker: this many in a row, or this many within `windowMs`. */
  failures: number;
  /** Time in which `failures` failures open the breaker whatever succeeded between them (ms). */
  windowMs: number;
  /** Time open before one probe call is let through (ms). */
  resetMs: number;
  /** A failure this accepts opens the breaker at once. @default () => false */
  opensAtOnce?: (error: unknown) => boolean;
  /** Called after every change of state. @default undefined */
  onTransition?: (from: BreakerState, to: BreakerState) => void;
}

interface FailureCountState {
  consecutive: number;
  recent: number[];
}

/**
 * Opens after `failures` consecutive failures, or after `failures` failures within `windowMs`
 * (successes between them do not matter), or at once when `opensAtOnce()` says so.
 */
export class FailureCountBreaker implements IBreaker {
  private readonly consecutive: ConsecutiveBreaker;
  /** Times (ms) of the latest failures, oldest first, at most `failures` of them. */
  private recent: number[] = [];

  constructor(
    private readonly failures: number,
    private readonly windowMs: number,
    private readonly opensAtOnce: () => boolean = () => false,
  ) {
    if (!Number.isSafeInteger(failures) || failures < 1)
      throw new TypeError(`breaker failures must be a positive integer, got ${failures}`);
    if (!(windowMs > 0)) throw new TypeError(`breaker windowMs must be positive, got ${windowMs}`);
    this.consecutive = new ConsecutiveBreaker(failures);
  }

  get state(): FailureCountState {
    return { consecutive: this.consecutive.state, recent: [...this.recent] };
  }

  set state(value: unknown) {
    const v = value as Partial<FailureCountState>;
    this.consecutive.state = v.consecutive ?? 0;
    this.recent = [...(v.recent ?? [])];
  }

  success(state: CircuitState): void {
    this.consecutive.success();
    // A probe that succeeded closes the breaker: it starts counting afresh.
    if (state === CircuitState.HalfOpen) this.recent = [];
  }

  failure(): boolean {
    const now = Date.now();
    this.recent.push(now);
    if (this.recent.length > this.failures) this.recent.shift();
    const inRow = this.consecutive.failure();
    const inWindow = this.recent.length >= this.failures && now - (this.recent[0] ?? now) <= this.windowMs;
    return this.opensAtOnce() || inRow || inWindow;
  }
}

const stateNames: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Open]: 'open',
  [CircuitState.Isolated]: 'open',
};

/** Every call is a failure if it throws; an open breaker throws cockatiel's BrokenCircuitError. */
export function createCircuitBreaker(o: CircuitBreakerOptions) {
  // cockatiel sets lastFailure to the failure it is counting just before it asks the breaker.
  const lastError = () => {
    const f = policy.lastFailure;
    return f && 'error' in f ? f.error : undefined;
  };
  const opensAtOnce = o.opensAtOnce ?? (() => false);
  const policy: CircuitBreakerPolicy = circuitBreaker(handleAll, {
    halfOpenAfter: o.resetMs,
    breaker: new FailureCountBreaker(o.failures, o.windowMs, () => opensAtOnce(lastError())),
  });
  const stats = { fires: 0, successes: 0, failures: 0, rejects: 0 };
  let current: BreakerState = 'closed';
  policy.onStateChange((s) => {
    const from = current;
    current = stateNames[s];
    if (from !== current) o.onTransition?.(from, current);
  });

  return {
    async execute<T>(fn: () => Promise<T>): Promise<T> {
      stats.fires++;
      // cockatiel queues calls behind a half-open probe; here they are refused, as when open.
      if (policy.state === CircuitState.HalfOpen) {
        stats.rejects++;
        throw new BrokenCircuitError('the circuit breaker is half-open and its probe is in flight');
      }
      try {
        const value = await policy.execute(() => fn());
        stats.successes++;
        return value;
      } catch (err) {
        if (isBrokenCircuitError(err)) stats.rejects++;
        else stats.failures++;
        throw err;
      }
    },
    /** Open stays open until the first call after `resetMs`, which becomes the probe. */
    state: (): BreakerState => current,
    stats: () => ({ ...stats }),
  };
}

export type CircuitBreaker = ReturnType<typeof createCircuitBreaker>;
export { isBrokenCircuitError };
