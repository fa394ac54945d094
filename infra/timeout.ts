import { AppError } from '../shared/errors';

/** Thrown when an operation given a deadline did not finish in time. */
export class DeadlineExceededError extends AppError {
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
  ) {
    super('deadline-exceeded', `${operation} did not answer within ${timeoutMs} ms`);
  }
}

/**
 * Deadlines of calls to Temporal off the login path (starts, describes, queries, cancels from the
 * API, the CLI and worker start): an unreachable server can hang past the SDK's own timeouts.
 * The login path has its own, TEMPORAL_AUTH_TIMEOUT_MS.
 */
export const CallDeadlines = {
  /** One Temporal client call. */
  temporalMs: 10_000,
} as const;

/** Races a promise against a timer; the timer never keeps the process alive. */
export async function withTimeout<T>(operation: string, timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctrl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ctrl.abort();
      reject(new DeadlineExceededError(operation, timeoutMs));
    }, timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([fn(ctrl.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
