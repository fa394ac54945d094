import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors';
import { MAX_START_DELAY_MS, startDelayOf } from '../../../shared/start-delay';

// Delayed starts: the request's startAt or delayMs as the Temporal startDelay, or a clear 400.

const NOW = Date.parse('2026-06-01T12:00:00.000Z');

describe('startDelayOf', () => {
  it('no delay, a zero delay, or a startAt of now start at once', () => {
    expect(startDelayOf({}, NOW)).toBeUndefined();
    expect(startDelayOf({ delayMs: 0 }, NOW)).toBeUndefined();
    expect(startDelayOf({ startAt: new Date(NOW).toISOString() }, NOW)).toBeUndefined();
    // A little clock skew between caller and API is "now", not an error.
    expect(startDelayOf({ startAt: new Date(NOW - 2_000).toISOString() }, NOW)).toBeUndefined();
  });

  it('a delay or a future time becomes the delay in ms', () => {
    expect(startDelayOf({ delayMs: 1_500 }, NOW)).toBe(1_500);
    expect(startDelayOf({ startAt: '2026-06-01T13:00:00.000Z' }, NOW)).toBe(3_600_000);
    expect(startDelayOf({ delayMs: MAX_START_DELAY_MS }, NOW)).toBe(MAX_START_DELAY_MS);
  });

  it.each([
    [{ startAt: '2026-06-01T11:00:00.000Z' }, 'in the past'],
    [{ startAt: 'soon' }, 'not a date-time'],
    [{ startAt: '2026-06-01T13:00:00.000Z', delayMs: 5 }, 'not both'],
    [{ delayMs: MAX_START_DELAY_MS + 1 }, 'at most'],
    [{ delayMs: 1.5 }, 'whole number'],
  ])('%j is refused (%s)', (req, message) => {
    expect(() => startDelayOf(req, NOW)).toThrow(ValidationError);
    expect(() => startDelayOf(req, NOW)).toThrow(message);
  });
});
