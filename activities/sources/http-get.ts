import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { OutboundRefusal, portOf, refusalFor, vettingLookup, type OutboundPolicy } from './outbound';

// One bounded GET under the outbound policy: hosts vetted before and at connect time, only
// same-origin redirects (a few, each re-checked), and a body cap enforced while streaming.

/** Same-origin redirects followed before giving up. */
export const MAX_REDIRECTS = 3;
/** Of a non-2xx answer, only this much body is kept (it may say why: "unknown tenant"); the rest is dropped. */
export const ERROR_BODY_BYTES = 1_024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface GetResult {
  status: number;
  retryAfter: string | null;
  body: Buffer;
}

/** Keep-alive agents whose every new connection resolves through the policy's vetting lookup. */
export function createOutboundAgents(policy: OutboundPolicy) {
  const lookup = vettingLookup(policy);
  const http = new HttpAgent({ keepAlive: true, lookup });
  const https = new HttpsAgent({ keepAlive: true, lookup });
  return {
    http,
    https,
    destroy() {
      http.destroy();
      https.destroy();
    },
  };
}

export type OutboundAgents = ReturnType<typeof createOutboundAgents>;

/** Throws OutboundRefusal when `url` may not be called at all. */
export function assertCallable(policy: OutboundPolicy, url: URL): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new OutboundRefusal(`only http and https URLs may be called, not ${url.protocol}`);
  const why = refusalFor(policy, url.hostname, portOf(url));
  if (why) throw new OutboundRefusal(why);
}

/** GETs `url`; a non-2xx answer comes back with at most ERROR_BODY_BYTES of its body. */
export async function boundedGet(
  url: URL,
  o: { policy: OutboundPolicy; agents: OutboundAgents; headers: Record<string, string>; signal: AbortSignal },
): Promise<GetResult> {
  let at = url;
  for (let hop = 0; ; hop++) {
    assertCallable(o.policy, at);
    const res = await send(at, o);
    const location = res.headers.location;
    if (REDIRECTS.has(res.statusCode ?? 0) && location) {
      res.resume();
      const next = new URL(location, at);
      if (next.origin !== url.origin) throw new OutboundRefusal('redirect to another origin refused');
      if (hop >= MAX_REDIRECTS) throw new OutboundRefusal(`more than ${MAX_REDIRECTS} redirects`);
      at = next;
      continue;
    }
    const status = res.statusCode ?? 0;
    const retryAfter = headerOf(res, 'retry-after');
    if (status < 200 || status > 299) return { status, retryAfter, body: await readHead(res, ERROR_BODY_BYTES) };
    return { status, retryAfter, body: await readCapped(res, o.policy.maxPageBytes) };
  }
}

function send(url: URL, o: { agents: OutboundAgents; headers: Record<string, string>; signal: AbortSignal }): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const https = url.protocol === 'https:';
    const req = (https ? httpsRequest : httpRequest)(
      url,
      { method: 'GET', headers: o.headers, agent: https ? o.agents.https : o.agents.http, signal: o.signal },
      resolve,
    );
    req.on('error', reject);
    req.end();
  });
}

/** The body, refusing it (and dropping the connection) once it passes `max` bytes. */
function readCapped(res: IncomingMessage, max: number): Promise<Buffer> {
  const tooBig = () => new OutboundRefusal(`page body exceeds SOURCE_MAX_PAGE_BYTES (${max} bytes)`);
  const declared = Number(headerOf(res, 'content-length') ?? NaN);
  if (declared > max) {
    res.destroy();
    return Promise.reject(tooBig());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        res.destroy();
        reject(tooBig());
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks, size)));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(Object.assign(new Error('terminated: the response was cut short'), { code: 'ECONNRESET' }));
    });
  });
}

/** The first `max` bytes of the body; the connection is dropped if more follows. Never fails. */
function readHead(res: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => resolve(Buffer.concat(chunks).subarray(0, max));
    res.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= max) {
        res.destroy();
        done();
      }
    });
    res.on('end', done);
    res.on('error', done);
    res.on('close', done);
  });
}

function headerOf(res: IncomingMessage, name: string): string | null {
  const v = res.headers[name];
  return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
}
