import type { Logger } from './logger';

/**
 * Signals this close after the first are the same request arriving twice, not an operator
 * asking again: Ctrl-C on `make up` reaches a child once from the terminal (SIGINT to the
 * whole process group) and once from the supervisor forwarding it (SIGTERM), milliseconds apart.
 */
export const SIGNAL_COALESCE_MS = 1_000;

export interface ShutdownOptions {
  /** Signals within this long of the first are counted as the first. @default SIGNAL_COALESCE_MS */
  coalesceMs?: number;
}

/**
 * Runs `close` once on SIGINT/SIGTERM, bounded by `timeoutMs`. A repeated signal within
 * `coalesceMs` of the first is the same one (logged, ignored); a later one, or the budget
 * running out, exits at once.
 */
export function onShutdownSignal(log: Logger, timeoutMs: number, close: () => Promise<void>, o: ShutdownOptions = {}): void {
  const coalesceMs = o.coalesceMs ?? SIGNAL_COALESCE_MS;
  let firstAt: number | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (firstAt !== undefined) {
      const afterMs = Date.now() - firstAt;
      if (afterMs < coalesceMs) {
        log.info({ signal, afterMs }, 'repeated signal counted as the first: still draining');
        return;
      }
      log.warn({ signal, afterMs }, 'second signal: exiting now');
      process.exit(1);
    }
    firstAt = Date.now();
    log.info({ signal, timeoutMs }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown budget exceeded: exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    close().then(
      () => {
        log.info('shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
