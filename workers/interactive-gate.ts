// Background work yields to interactive work in the same worker process
// (WORKER_YIELD_TO_LOGINS_MS). Lanes give a login's tasks slots of their own, but its queries
// still share the database and the CPU with the scans and upserts running beside it; a main- or
// bulk-lane activity that waits before it starts, and a reconcile scan that waits before its next
// chunk, while a login's activities run, hand both back for those few hundred milliseconds.
// Counted in this process only: a worker process that runs no interactive lane never waits.

export interface InteractiveGate {
  /** An interactive activity (regular or local) started / ended. */
  enter(): void;
  leave(): void;
  /** Interactive activities running now. */
  readonly running: number;
  /** Resolves when none runs, or after `maxMs`; the milliseconds waited. */
  idle(maxMs: number): Promise<number>;
}

export function createInteractiveGate(): InteractiveGate {
  let running = 0;
  let waiters = new Set<() => void>();
  return {
    enter() {
      running += 1;
    },
    leave() {
      running = Math.max(0, running - 1);
      if (running > 0) return;
      const woken = waiters;
      waiters = new Set();
      for (const wake of woken) wake();
    },
    get running() {
      return running;
    },
    async idle(maxMs) {
      if (running === 0 || maxMs <= 0) return 0;
      const started = performance.now();
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, maxMs);
        waiters.add(done);
      });
      return performance.now() - started;
    },
  };
}
