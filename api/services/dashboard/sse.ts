// Server-sent events framing (the WHATWG HTML "server-sent events" format) for the dashboard
// stream: `event:` and one `data:` line per line of the payload, a blank line after each event.

/** One event; `data` is JSON-encoded (JSON has no raw newlines, so it stays one data line). */
export function sseEvent(event: string, data: unknown, id?: string | number): string {
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(event)) throw new TypeError(`not an SSE event name: ${event}`);
  const lines = JSON.stringify(data)
    .split('\n')
    .map((l) => `data: ${l}`);
  return `${id !== undefined ? `id: ${String(id).replace(/[\r\n]/g, '')}\n` : ''}event: ${event}\n${lines.join('\n')}\n\n`;
}

/** A comment line: ignored by clients, keeps proxies from closing an idle stream. */
export const sseComment = (text: string): string => `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;

/** How long the client waits before it reconnects after the stream ended or broke. */
export const sseRetry = (ms: number): string => `retry: ${Math.max(0, Math.round(ms))}\n\n`;

/** The stream's bounds from its query: interval between snapshots and how many to send. */
export interface StreamBounds {
  intervalMs: number;
  events: number;
}

export const STREAM_DEFAULTS = { intervalMs: 2_000, minIntervalMs: 500, maxIntervalMs: 60_000, maxEvents: 10_000 } as const;

/** Bounds from query strings; a value out of range is a RangeError naming it. */
export function streamBounds(q: { intervalMs?: string; events?: string }, maxStreamMs: number): StreamBounds {
  const num = (name: string, v: string | undefined, min: number, max: number, dflt: number) => {
    if (v === undefined) return dflt;
    const n = /^\d{1,9}$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`${name}: a whole number from ${min} to ${max}`);
    return n;
  };
  const intervalMs = num(
    'intervalMs',
    q.intervalMs,
    STREAM_DEFAULTS.minIntervalMs,
    STREAM_DEFAULTS.maxIntervalMs,
    STREAM_DEFAULTS.intervalMs,
  );
  // A stream lasts at most maxStreamMs: the client reconnects (and its token is checked again).
  const byTime = Math.max(1, Math.floor(maxStreamMs / intervalMs));
  const events = Math.min(num('events', q.events, 1, STREAM_DEFAULTS.maxEvents, byTime), byTime);
  return { intervalMs, events };
}
