import { ValidationError } from './errors';

// Delayed starts (reconcile and migration runs): `startAt` (an ISO time) or `delayMs`, turned into
// the Temporal `startDelay` of the start — the workflow exists at once (its ID is taken, it counts
// as running, it can be cancelled) and its first task is dispatched only when the delay is over.

/** The longest delay accepted: a start further out belongs in a schedule. */
export const MAX_START_DELAY_MS = 7 * 24 * 3_600_000;
/** A `startAt` this little in the past is taken as "now" (clock skew between caller and API). */
const SKEW_MS = 5_000;

export interface StartDelayRequest {
  startAt?: string;
  delayMs?: number;
}

/** The delay in ms (undefined: start now); a bad, past or too distant time is a ValidationError. */
export function startDelayOf(r: StartDelayRequest, now = Date.now()): number | undefined {
  if (r.startAt !== undefined && r.delayMs !== undefined) throw new ValidationError('give startAt or delayMs, not both');
  let ms: number | undefined;
  if (r.delayMs !== undefined) ms = r.delayMs;
  if (r.startAt !== undefined) {
    const at = Date.parse(r.startAt);
    if (Number.isNaN(at)) throw new ValidationError(`startAt is not a date-time: '${r.startAt}'`);
    if (at < now - SKEW_MS) throw new ValidationError(`startAt ${r.startAt} is in the past`);
    ms = Math.max(0, at - now);
  }
  if (ms === undefined || ms === 0) return undefined;
  if (!Number.isInteger(ms) || ms < 0) throw new ValidationError('delayMs must be a whole number of milliseconds ≥ 0');
  if (ms > MAX_START_DELAY_MS) throw new ValidationError(`a start may be delayed by at most ${MAX_START_DELAY_MS} ms (7 days)`);
  return ms;
}
