import { SyncErrorType } from '../../shared/errors';
import { boundedGet, createOutboundAgents, type GetResult } from './http-get';
import { DEFAULT_OUTBOUND, isOutboundRefusal, type OutboundPolicy } from './outbound';
import { SourceError, type HttpSourceSettings, type SourceConnector, type SourcePage, type SourceRecord } from './types';
import { InProcessProfiles } from '../profiles';

// JSON-over-HTTP upstream: GET {base}/collections and GET {base}/collections/{name}/records.

const MAX_PAGE_LIMIT = 5_000;
/** An upstream's own reason, as quoted in a failure message, is cut here. */
const REASON_CHARS = 160;
/** A date, or a date-time with an explicit zone (a zoneless time would depend on the host's TZ). */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/i;
const NETWORK_CODES =
  /ECONNREFUSED|ECONNRESET|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|UND_ERR_SOCKET|socket hang up|other side closed|fetch failed|terminated/i;

/** Cursors followed and pages read by one collection read (keyed by collection and changedSince). */
interface ReadState {
  seen: Set<string>;
  pages: number;
}

export function createHttpSource(settings: HttpSourceSettings, policy: OutboundPolicy = DEFAULT_OUTBOUND): SourceConnector {
  const base = settings.baseUrl.replace(/\/+$/, '');
  const timeoutMs = settings.timeoutMs ?? InProcessProfiles.httpSource.requestTimeoutMs;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (settings.token) headers.authorization = `Bearer ${settings.token}`;
  const agents = createOutboundAgents(policy);
  const reads = new Map<string, ReadState>();

  /** One GET with its own deadline joined to the caller's signal; every failure becomes a SourceError. */
  async function getJson(path: string, collection: string | undefined, signal?: AbortSignal): Promise<unknown> {
    const url = `${base}${path}`;
    const where = `GET ${safeUrl(url)}`;
    const ctrl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctrl.abort();
    }, timeoutMs);
    const onAbort = () => ctrl.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await boundedGet(new URL(url), { policy, agents, headers, signal: ctrl.signal });
      if (res.status < 200 || res.status > 299) throw statusError(res, where, collection, settings.token);
      const text = res.body.toString('utf8');
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new SourceError(SyncErrorType.VALIDATION_ERROR, `${where}: response is not JSON`, { status: res.status, collection });
      }
    } catch (err) {
      if (err instanceof SourceError) throw err;
      if (isOutboundRefusal(err)) throw new SourceError(SyncErrorType.VALIDATION_ERROR, `${where}: ${err.message}`, { collection });
      // The caller's own abort (deadline, activity cancellation) keeps the caller's reason.
      if (signal?.aborted && !timedOut)
        throw signal.reason instanceof Error
          ? signal.reason
          : new SourceError(SyncErrorType.TIMEOUT_ERROR, `${where}: aborted`, { collection });
      if (timedOut) throw new SourceError(SyncErrorType.TIMEOUT_ERROR, `${where}: no answer within ${timeoutMs} ms`, { collection });
      const detail = describe(err);
      const type = NETWORK_CODES.test(detail) ? SyncErrorType.NETWORK_ERROR : SyncErrorType.UNKNOWN_ERROR;
      throw new SourceError(type, `${where}: ${detail}`, { collection });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  return {
    kind: 'http',
    async listCollections(signal) {
      const body = await getJson('/collections', undefined, signal);
      const names = isObject(body) ? body.collections : undefined;
      if (!Array.isArray(names) || !names.every((n): n is string => typeof n === 'string' && n.length > 0)) {
        throw new SourceError(SyncErrorType.VALIDATION_ERROR, 'collection list: expected {"collections": [string]}');
      }
      return names;
    },
    async readPage(collection, { after, limit, changedSince, signal }) {
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
        throw new SourceError(
          SyncErrorType.VALIDATION_ERROR,
          `collection ${collection}: page limit ${limit} is outside 1..${MAX_PAGE_LIMIT}`,
          { collection },
        );
      }
      const bound = (what: string) => new SourceError(SyncErrorType.VALIDATION_ERROR, `collection ${collection}: ${what}`, { collection });
      const key = `${collection}\u0000${changedSince ?? ''}`;
      const state = (after ? reads.get(key) : undefined) ?? { seen: new Set<string>(), pages: 0 };
      reads.set(key, state);
      if (state.pages >= policy.maxPages) throw bound(`more than SOURCE_MAX_PAGES (${policy.maxPages}) pages`);
      const query = new URLSearchParams({ limit: String(Math.min(limit, policy.maxPageRecords)) });
      if (after) query.set('after', after);
      if (changedSince) query.set('changedSince', changedSince);
      const body = await getJson(`/collections/${encodeURIComponent(collection)}/records?${query}`, collection, signal);
      const count = isObject(body) && Array.isArray(body.records) ? body.records.length : 0;
      if (count > policy.maxPageRecords)
        throw bound(`page has ${count} records, more than SOURCE_MAX_PAGE_RECORDS (${policy.maxPageRecords})`);
      const page = parsePage(body, collection, after ?? null);
      if (after) state.seen.add(after);
      if (page.nextCursor !== null && state.seen.has(page.nextCursor))
        throw bound(`cursor cycle: cursor "${page.nextCursor}" was already read`);
      state.pages++;
      return page;
    },
    async close() {
      reads.clear();
      agents.destroy();
    },
  };
}

/** Validates a records page; each record is kept whole (`id` included), its id/version/updatedAt read. */
function parsePage(body: unknown, collection: string, after: string | null): SourcePage {
  const bad = (what: string) => new SourceError(SyncErrorType.VALIDATION_ERROR, `collection ${collection}: ${what}`, { collection });
  if (!isObject(body) || !Array.isArray(body.records)) throw bad('expected {"records": [...], "nextCursor": string|null}');
  const next = body.nextCursor ?? null;
  if (next !== null && (typeof next !== 'string' || next === '')) throw bad('nextCursor must be a non-empty string or null');
  if (next !== null && next === after) throw bad(`cursor did not advance past "${after}"`);
  const records = body.records.map((raw: unknown, i): SourceRecord => {
    if (!isObject(raw)) throw bad(`record ${i} is not an object`);
    const { id, version, updatedAt } = raw;
    if (typeof id !== 'string' || id === '') throw bad(`record ${i} has no string id`);
    if (version !== undefined && typeof version !== 'string' && !(typeof version === 'number' && Number.isFinite(version))) {
      throw bad(`record ${i} (${id}) has a version that is neither a number nor a string`);
    }
    let at: string | undefined;
    if (updatedAt !== undefined) {
      at = parseRecordTime(updatedAt);
      if (!at) throw bad(`record ${i} (${id}) has an updatedAt that is not an ISO date`);
    }
    return { id, ...(version !== undefined && { version }), ...(at && { updatedAt: at }), data: raw };
  });
  return { records, nextCursor: next };
}

function statusError(res: GetResult, where: string, collection: string | undefined, token: string | undefined): SourceError {
  const { status } = res;
  // An auth failure's body may echo the credentials it refused: never quoted.
  const reason = status === 401 || status === 403 ? undefined : upstreamReason(res.body, token);
  const msg = `${where} answered ${status}${reason ? ` (${reason})` : ''}`;
  if (status === 401 || status === 403)
    return new SourceError(SyncErrorType.AUTH_ERROR, `${msg}: credentials rejected`, { status, collection });
  if (status === 404)
    return new SourceError(
      SyncErrorType.VALIDATION_ERROR,
      `${msg}: the upstream serves nothing at this path; check the tenant's source baseUrl and that the upstream serves this tenant${collection ? ` and its collection '${collection}'` : ''}`,
      { status, collection },
    );
  if (status === 400 || status === 422) return new SourceError(SyncErrorType.VALIDATION_ERROR, msg, { status, collection });
  if (status === 429)
    return new SourceError(SyncErrorType.NETWORK_ERROR, `${msg}: rate limited`, {
      status,
      collection,
      retryAfterMs: parseRetryAfter(res.retryAfter),
    });
  if (status === 408) return new SourceError(SyncErrorType.TIMEOUT_ERROR, msg, { status, collection });
  if (status >= 500) return new SourceError(SyncErrorType.NETWORK_ERROR, msg, { status, collection });
  return new SourceError(SyncErrorType.UNKNOWN_ERROR, msg, { status, collection });
}

/**
 * What an error answer says about itself: a JSON body's `error`/`message`/`detail`/`title` string,
 * or a short text line; the source's token, should the upstream echo it, is replaced.
 */
export function upstreamReason(body: Buffer, token?: string): string | undefined {
  const text = body.toString('utf8').trim();
  if (text === '') return undefined;
  let said: unknown = text;
  try {
    const json: unknown = JSON.parse(text);
    said = isObject(json) ? ['error', 'message', 'detail', 'title'].map((k) => json[k]).find((v) => typeof v === 'string') : undefined;
  } catch {
    if (text.startsWith('<') || text.startsWith('{')) said = undefined; // HTML, or JSON cut at ERROR_BODY_BYTES
  }
  if (typeof said !== 'string') return undefined;
  let line = said.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  if (token) line = line.split(token).join('<credentials>'); // an upstream that echoes the request's token
  if (line === '') return undefined;
  return `upstream: "${line.length > REASON_CHARS ? `${line.slice(0, REASON_CHARS)}…` : line}"`;
}

/** Retry-After is delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The URL without userinfo or query, for messages. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '<invalid url>';
  }
}

/** undici hides the socket error in `cause`: "fetch failed (ECONNREFUSED ...)". */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${err.message} (${typeof code === 'string' ? `${code}: ` : ''}${cause.message})`;
  }
  return err.message;
}

/** A valid ISO-8601 date string, normalised to `toISOString()`; undefined otherwise. */
function parseRecordTime(v: unknown): string | undefined {
  if (typeof v !== 'string' || !ISO_DATE.test(v)) return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
