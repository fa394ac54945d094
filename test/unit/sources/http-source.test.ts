import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpSource, createSource, SourceError, type SourceConnector, type SourceRecord } from '../../../activities/sources';
import { freePort } from '../../../infra/dev/servers';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';

// The HTTP source against the in-process fixture upstream: paging, incremental reads and the
// mapping of every failure to the seed's error types, without ever echoing the token.

const TOKEN = 'tok-Secret-9f8e7d6c5b4a';
let upstream: FixtureUpstream;
let tenantSeq = 0;

/** A fresh tenant (own counters and knobs) with its connector. */
function tenant(collections: Record<string, number>, timeoutMs?: number): { id: string; source: SourceConnector } {
  const id = `t${++tenantSeq}`;
  const baseUrl = upstream.seedTenant(id, { collections, token: TOKEN });
  return { id, source: createHttpSource({ baseUrl, token: TOKEN, timeoutMs }) };
}

async function readAll(
  source: SourceConnector,
  collection: string,
  limit: number,
  changedSince?: string,
): Promise<{ records: SourceRecord[]; pages: number }> {
  const records: SourceRecord[] = [];
  let after: string | null = null;
  let pages = 0;
  do {
    const page = await source.readPage(collection, { after, limit, changedSince });
    records.push(...page.records);
    after = page.nextCursor;
    pages++;
  } while (after);
  return { records, pages };
}

/** Rejects with a SourceError of `type` whose message and details never carry the token. */
async function expectSourceError(work: Promise<unknown>, type: SourceError['errorType']): Promise<SourceError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SourceError);
  const e = err as SourceError;
  expect(e.errorType).toBe(type);
  expect(`${e.message} ${e.stack} ${JSON.stringify(e.details)}`).not.toContain(TOKEN);
  return e;
}

beforeAll(async () => {
  upstream = await startFixtureUpstream();
});
afterAll(async () => {
  await upstream?.close();
});

describe('http source: reading', () => {
  it('lists collections and pages 2,500 records in id order, each exactly once', async () => {
    const { id, source } = tenant({ users: 2_500, roles: 3 });
    expect(await source.listCollections()).toEqual(['users', 'roles']);
    const { records, pages } = await readAll(source, 'users', 1_000);
    expect(pages).toBe(3);
    const ids = records.map((r) => r.id);
    expect(ids).toEqual(upstream.records(id, 'users').map((r) => r.id));
    expect(new Set(ids).size).toBe(2_500);
    expect(ids[0]).toBe('users-000001');
    expect(ids.at(-1)).toBe('users-002500');
    const whole = {
      id: 'users-000001',
      version: 1,
      updatedAt: '2024-01-01T00:00:00.000Z',
      name: 'users #1',
      value: 0,
      tags: ['t0', 'even'],
    };
    expect(records[0]).toEqual({ id: 'users-000001', version: 1, updatedAt: '2024-01-01T00:00:00.000Z', data: whole });
    expect(upstream.requestCount(id, 'users')).toBe(3);
    expect(upstream.recordsServed(id, 'users')).toBe(2_500);
  });

  it('reads only the records changed since a watermark', async () => {
    const { id, source } = tenant({ users: 2_500 });
    const first = await readAll(source, 'users', 5_000);
    const watermark = first.records
      .map((r) => r.updatedAt ?? '')
      .sort()
      .at(-1) as string;
    const changed = upstream.touch(id, 'users', 10);
    expect(changed).toHaveLength(10);
    upstream.resetCounters(id);
    const delta = await readAll(source, 'users', 4, watermark);
    // Inclusive boundary: the newest record already read (at the watermark) comes again.
    expect(delta.records.map((r) => r.id)).toEqual([...changed, 'users-002500']);
    expect(delta.records.slice(0, 10).every((r) => r.version === 2 && (r.updatedAt ?? '') > watermark)).toBe(true);
    expect(delta.records.at(-1)?.updatedAt).toBe(watermark);
    expect(delta.pages).toBe(3);
    expect(upstream.recordsServed(id, 'users')).toBe(11);
  });

  it('pages a 100k-record collection and filters it without rescanning from the start', async () => {
    const { id, source } = tenant({ big: 100_000 });
    const t0 = Date.now();
    const { records, pages } = await readAll(source, 'big', 5_000);
    expect(pages).toBe(20);
    expect(records.at(-1)?.id).toBe('big-100000');
    const changed = upstream.touch(id, 'big', 3);
    const delta = await readAll(source, 'big', 5_000, '2025-01-01T00:00:00.000Z');
    expect(delta.records.map((r) => r.id)).toEqual(changed);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('dispatches on the spec kind', () => {
    expect(createSource({ kind: 'http', settings: { baseUrl: upstream.baseUrl('x') } }).kind).toBe('http');
    expect(createSource({ kind: 'mongodb', settings: { uri: 'mongodb://127.0.0.1:1', database: 'x' } }).kind).toBe('mongodb');
  });
});

describe('http source: failures', () => {
  it('401 without the right token is AUTH_ERROR', async () => {
    const { id } = tenant({ users: 5 });
    const wrong = createHttpSource({ baseUrl: upstream.baseUrl(id), token: 'nope' });
    const e = await expectSourceError(wrong.readPage('users', { limit: 5 }), 'AUTH_ERROR');
    expect(e.details.status).toBe(401);
    await expectSourceError(createHttpSource({ baseUrl: upstream.baseUrl(id) }).listCollections(), 'AUTH_ERROR');
    const { source, id: id2 } = tenant({ users: 5 });
    upstream.failCollection(id2, 'users', 401);
    await expectSourceError(source.readPage('users', { limit: 5 }), 'AUTH_ERROR');
  });

  it('429 is NETWORK_ERROR carrying Retry-After; it passes once the failures are used up', async () => {
    const { id, source } = tenant({ users: 5 });
    upstream.failCollection(id, 'users', 429, 2);
    for (let i = 0; i < 2; i++) {
      const e = await expectSourceError(source.readPage('users', { limit: 5 }), 'NETWORK_ERROR');
      expect(e.details).toMatchObject({ status: 429, retryAfterMs: 1_000, collection: 'users' });
    }
    expect((await source.readPage('users', { limit: 5 })).records).toHaveLength(5);
    expect(upstream.requestCount(id, 'users')).toBe(3);
  });

  it('500 is NETWORK_ERROR until cleared; 400 and unknown collections are VALIDATION_ERROR', async () => {
    const { id, source } = tenant({ users: 5 });
    upstream.failCollection(id, 'users', 500);
    expect((await expectSourceError(source.readPage('users', { limit: 5 }), 'NETWORK_ERROR')).details.status).toBe(500);
    await expectSourceError(source.readPage('users', { limit: 5 }), 'NETWORK_ERROR');
    upstream.clearFailures(id);
    expect((await source.readPage('users', { limit: 5 })).records).toHaveLength(5);
    upstream.failCollection(id, 'users', 400, 1);
    expect((await expectSourceError(source.readPage('users', { limit: 5 }), 'VALIDATION_ERROR')).details.status).toBe(400);
    expect((await expectSourceError(source.readPage('nope', { limit: 5 }), 'VALIDATION_ERROR')).details.status).toBe(404);
  });

  it("a 404 says why: the upstream's own reason and what to check", async () => {
    const unknown = createHttpSource({ baseUrl: upstream.baseUrl('never-seeded'), token: TOKEN });
    const e = await expectSourceError(unknown.readPage('users', { limit: 5 }), 'VALIDATION_ERROR');
    expect(e.details.status).toBe(404);
    expect(e.message).toContain('answered 404 (upstream: "unknown tenant never-seeded: this upstream serves only seeded tenants');
    expect(e.message).toContain("check the tenant's source baseUrl and that the upstream serves this tenant and its collection 'users'");
    const { source } = tenant({ users: 5 });
    expect((await expectSourceError(source.readPage('nope', { limit: 5 }), 'VALIDATION_ERROR')).message).toMatch(
      /answered 404 \(upstream: "unknown collection nope for tenant t\d+"\)/,
    );
  });

  it("quotes at most a short line of an error body, nothing of an HTML page or an auth failure's, never the token", async () => {
    const bodies = [
      `{"message":"${'x'.repeat(5_000)}"}`,
      `plain\ntext ${'y'.repeat(300)}`,
      '<html><body>Not Found</body></html>',
      `{"error":"bad token ${TOKEN}"}`,
      `{"error":"no such page for ${TOKEN}"}`,
    ];
    const statuses = [500, 500, 404, 401, 400];
    const port = await freePort();
    let n = 0;
    const server: Server = createServer((_req, res) => {
      res.writeHead(statuses[n % statuses.length] ?? 500, { 'content-type': 'text/plain' });
      res.end(bodies[n++ % bodies.length]);
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      const source = createHttpSource({ baseUrl: `http://127.0.0.1:${port}` });
      // A JSON body cut at ERROR_BODY_BYTES does not parse: nothing is quoted.
      expect((await expectSourceError(source.readPage('a', { limit: 5 }), 'NETWORK_ERROR')).message).toMatch(/answered 500$/);
      const text = (await expectSourceError(source.readPage('a', { limit: 5 }), 'NETWORK_ERROR')).message;
      expect(text).toMatch(/answered 500 \(upstream: "plain text y{149}…"\)$/);
      const html = (await expectSourceError(source.readPage('a', { limit: 5 }), 'VALIDATION_ERROR')).message;
      expect(html).toMatch(/answered 404: the upstream serves nothing at this path/);
      // The token never comes back through a quoted body (expectSourceError checks it): a 401's is not quoted at all.
      const withToken = createHttpSource({ baseUrl: `http://127.0.0.1:${port}`, token: TOKEN });
      expect((await expectSourceError(withToken.readPage('a', { limit: 5 }), 'AUTH_ERROR')).message).toMatch(
        /answered 401: credentials rejected$/,
      );
      expect((await expectSourceError(withToken.readPage('a', { limit: 5 }), 'VALIDATION_ERROR')).message).toMatch(
        /answered 400 \(upstream: "no such page for <credentials>"\)$/,
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a page with a record missing its id is VALIDATION_ERROR naming the collection and the record', async () => {
    const { id, source } = tenant({ users: 50 });
    upstream.serveMalformed(id, 'users', true);
    const e = await expectSourceError(source.readPage('users', { limit: 20 }), 'VALIDATION_ERROR');
    expect(e.message).toMatch(/users.*record 19\b/);
    upstream.serveMalformed(id, 'users', false);
    expect((await source.readPage('users', { limit: 20 })).records).toHaveLength(20);
  });

  it('an upstream slower than timeoutMs is TIMEOUT_ERROR; the caller abort keeps its reason', async () => {
    const { id, source } = tenant({ users: 5 }, 100);
    upstream.setLatency(id, '*', 1_000);
    const t0 = Date.now();
    await expectSourceError(source.readPage('users', { limit: 5 }), 'TIMEOUT_ERROR');
    await expectSourceError(source.listCollections(), 'TIMEOUT_ERROR');
    expect(Date.now() - t0).toBeLessThan(900);
    const patient = createHttpSource({ baseUrl: upstream.baseUrl(id), token: TOKEN, timeoutMs: 5_000 });
    const reason = new Error('activity cancelled');
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(reason), 50);
    await expect(patient.readPage('users', { limit: 5, signal: ctrl.signal })).rejects.toBe(reason);
  });

  it('connection refused is NETWORK_ERROR', async () => {
    const port = await freePort();
    const source = createHttpSource({ baseUrl: `http://127.0.0.1:${port}/tenants/x`, token: TOKEN });
    const e = await expectSourceError(source.readPage('users', { limit: 5 }), 'NETWORK_ERROR');
    expect(e.message).toMatch(/ECONNREFUSED/);
  });

  it('the control routes drive the same knobs over HTTP', async () => {
    const post = async (method: string, body: object) => {
      const res = await fetch(`${upstream.url}/_control/${method}`, { method: 'POST', body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { result?: unknown; error?: string } };
    };
    const seeded = await post('seedTenant', { tenantId: 'ctl', collections: { users: 30 }, token: TOKEN });
    expect(seeded.body.result).toEqual({ baseUrl: upstream.baseUrl('ctl') });
    expect((await post('failCollection', { tenantId: 'ctl', collection: 'users', status: 500, times: 1 })).status).toBe(200);
    const source = createHttpSource({ baseUrl: upstream.baseUrl('ctl'), token: TOKEN });
    await expectSourceError(source.readPage('users', { limit: 30 }), 'NETWORK_ERROR');
    await source.readPage('users', { limit: 30 });
    expect((await post('touch', { tenantId: 'ctl', collection: 'users', n: 2 })).body.result).toEqual({
      ids: ['users-000001', 'users-000016'],
    });
    expect((await post('recordsServed', { tenantId: 'ctl', collection: 'users' })).body.result).toEqual({ count: 30 });
    expect((await post('requestCount', { tenantId: 'ctl', collection: 'users' })).body.result).toEqual({ count: 2 });
    expect((await post('failCollection', { tenantId: 'ctl', collection: 'users', status: 418 })).status).toBe(400);
    expect((await post('touch', { tenantId: 'nobody', collection: 'users', n: 1 })).status).toBe(404);
  });
});

describe('http source: malformed bodies', () => {
  let server: Server;
  let body = '';
  const source = () => createHttpSource({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: TOKEN });
  beforeAll(async () => {
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const ok = { id: 'a', version: 1, updatedAt: '2024-01-01T00:00:00Z', x: 1 };
  it.each([
    ['not JSON', '<html>', /not JSON/],
    ['no records array', JSON.stringify({ items: [] }), /expected/],
    ['a record that is not an object', JSON.stringify({ records: [ok, 'b'], nextCursor: null }), /record 1 is not an object/],
    ['a numeric id', JSON.stringify({ records: [{ ...ok, id: 7 }], nextCursor: null }), /record 0 has no string id/],
    ['an object version', JSON.stringify({ records: [ok, ok, { ...ok, version: { v: 1 } }], nextCursor: null }), /record 2 \(a\).*version/],
    ['a bad updatedAt', JSON.stringify({ records: [{ ...ok, updatedAt: 'yesterday' }], nextCursor: null }), /record 0 \(a\).*updatedAt/],
    ['a zoneless updatedAt', JSON.stringify({ records: [{ ...ok, updatedAt: '2024-01-01T10:00:00' }], nextCursor: null }), /updatedAt/],
    ['a numeric cursor', JSON.stringify({ records: [ok], nextCursor: 5 }), /nextCursor/],
  ])('%s is VALIDATION_ERROR', async (_name, text, message) => {
    body = text;
    const e = await expectSourceError(source().readPage('things', { limit: 10 }), 'VALIDATION_ERROR');
    expect(e.message).toMatch(message);
  });

  it('a well-formed page reads id, version and updatedAt and keeps every field as received', async () => {
    body = JSON.stringify({
      records: [
        { ...ok, updatedAt: '2024-01-01T01:00:00+01:00' },
        { id: 'b', version: '2024-05-01', y: null },
      ],
      nextCursor: 'b',
    });
    expect(await source().readPage('things', { limit: 10 })).toEqual({
      records: [
        { id: 'a', version: 1, updatedAt: '2024-01-01T00:00:00.000Z', data: { ...ok, updatedAt: '2024-01-01T01:00:00+01:00' } },
        { id: 'b', version: '2024-05-01', data: { id: 'b', version: '2024-05-01', y: null } },
      ],
      nextCursor: 'b',
    });
  });
});
