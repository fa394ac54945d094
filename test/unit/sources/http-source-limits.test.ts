import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createHttpSource,
  createSource,
  DEFAULT_OUTBOUND,
  SourceError,
  type OutboundPolicy,
  type SourceConnector,
} from '../../../activities/sources';
import {
  isBlockedHost,
  mongoUriRefusal,
  OutboundRefusal,
  refusalFor,
  sourceRefusal,
  vettingLookup,
} from '../../../activities/sources/outbound';

// The outbound policy of the HTTP source against local servers: allowlist, link-local/metadata
// refusal (as written and as resolved), redirects, body and record caps, cursor cycles and the
// page bound. Only loopback is ever contacted: refused hosts fail before any connection.

interface Local {
  url: string;
  port: number;
  hits: string[];
}

const servers: Array<{ close(): void; closeAllConnections(): void }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

/** A loopback server answering with `handler`; `hits` lists the request URLs it saw. */
async function local(handler: (req: IncomingMessage, res: ServerResponse, hits: string[]) => void): Promise<Local> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res, hits);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, hits };
}

const json = (res: ServerResponse, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
const page = (ids: string[], nextCursor: string | null) => ({ records: ids.map((id) => ({ id, v: 1 })), nextCursor });
const policy = (o: Partial<OutboundPolicy>): OutboundPolicy => ({ ...DEFAULT_OUTBOUND, ...o });

async function refusal(work: Promise<unknown>, message: RegExp): Promise<SourceError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SourceError);
  expect((err as SourceError).errorType).toBe('VALIDATION_ERROR');
  expect((err as SourceError).message).toMatch(message);
  return err as SourceError;
}

/** A resolver answering `address` for every name (never asks DNS). */
const resolveTo = (...addresses: string[]): LookupFunction =>
  ((_host: string, _o: unknown, cb: (e: null, a: Array<{ address: string; family: number }>) => void) =>
    cb(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    )) as unknown as LookupFunction;

describe('outbound policy: hosts', () => {
  it('a non-empty SOURCE_ALLOWED_HOSTS admits only the listed host (and port)', async () => {
    const up = await local((_req, res) => json(res, { collections: ['users'] }));
    const call = (allowedHosts: string[]) => createHttpSource({ baseUrl: up.url }, policy({ allowedHosts })).listCollections();
    await refusal(call(['api.example.com']), /host 127\.0\.0\.1 is not in SOURCE_ALLOWED_HOSTS/);
    await refusal(call([`127.0.0.1:${up.port + 1}`]), /not in SOURCE_ALLOWED_HOSTS/);
    expect(up.hits).toEqual([]);
    expect(await call(['127.0.0.1'])).toEqual(['users']);
    expect(await call([`127.0.0.1:${up.port}`])).toEqual(['users']);
    expect(await createHttpSource({ baseUrl: up.url }).listCollections()).toEqual(['users']); // loopback stays allowed by default
    expect(await createHttpSource({ baseUrl: `http://localhost:${up.port}` }).listCollections()).toEqual(['users']); // through real DNS
  });

  it('the vetting lookup answers both lookup shapes (one address, or all)', async () => {
    const lookup = vettingLookup(policy({ resolve: resolveTo('127.0.0.1', '::1') }));
    const one = await new Promise((resolve, reject) =>
      lookup('x.test', {}, (e, address, family) => (e ? reject(e) : resolve([address, family]))),
    );
    expect(one).toEqual(['127.0.0.1', 4]);
    const all = await new Promise((resolve, reject) =>
      lookup('x.test', { all: true }, (e, addresses) => (e ? reject(e) : resolve(addresses))),
    );
    expect(all).toEqual([
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ]);
    const bad = vettingLookup(policy({ resolve: resolveTo('169.254.169.254') }));
    const refused = await new Promise((resolve) => bad('x.test', {}, (e) => resolve(e)));
    expect(refused).toBeInstanceOf(OutboundRefusal);
  });

  it.each([
    ['the metadata IP', 'http://169.254.169.254/latest'],
    ['another link-local IP', 'http://169.254.10.1:8080/x'],
    ['the IP written as a number', 'http://2852039166/'],
    ['the IPv4-mapped IPv6 form', 'http://[::ffff:169.254.169.254]/'],
    ['IPv6 link-local', 'http://[fe80::1]/'],
    ['AWS IPv6 metadata', 'http://[fd00:ec2::254]/'],
    ['Alibaba metadata', 'http://100.100.100.200/'],
    ['GCP metadata by name', 'http://metadata.google.internal/computeMetadata/v1'],
  ])('%s is refused before any connection', async (_name, baseUrl) => {
    const resolve = resolveTo('127.0.0.1');
    await refusal(
      createHttpSource({ baseUrl, timeoutMs: 2_000 }, policy({ resolve })).listCollections(),
      /is not allowed \(link-local\/metadata; list it in SOURCE_ALLOWED_HOSTS\)/,
    );
  });

  it('a host name that resolves to a metadata address is refused at connect time', async () => {
    const up = await local((_req, res) => json(res, { collections: ['users'] }));
    const source = createHttpSource({ baseUrl: `http://rebind.test:${up.port}` }, policy({ resolve: resolveTo('169.254.169.254') }));
    await refusal(source.listCollections(), /host rebind\.test resolves to a link-local\/metadata address/);
    const mixed = createHttpSource({ baseUrl: `http://rebind.test:${up.port}` }, policy({ resolve: resolveTo('127.0.0.1', 'fe80::1') }));
    await refusal(mixed.listCollections(), /resolves to a link-local/);
    expect(up.hits).toEqual([]);
  });

  it('every new connection is vetted: a name rebinding to a metadata address after a first answer fails', async () => {
    const up = await local((_req, res) => json(res, { collections: ['users'] }, { connection: 'close' }));
    let answers = 0;
    const rebinding: LookupFunction = ((host: string, o: unknown, cb: never) =>
      resolveTo(answers++ === 0 ? '127.0.0.1' : '169.254.169.254')(host, o as never, cb)) as unknown as LookupFunction;
    const source = createHttpSource({ baseUrl: `http://rebind.test:${up.port}` }, policy({ resolve: rebinding }));
    expect(await source.listCollections()).toEqual(['users']);
    await refusal(source.listCollections(), /resolves to a link-local\/metadata address/);
    expect(up.hits).toHaveLength(1);
    await source.close();
  });

  it('listing a metadata host explicitly admits it; listing another name does not open metadata addresses', () => {
    expect(refusalFor(policy({ allowedHosts: ['169.254.169.254'] }), '169.254.169.254', '80')).toBeUndefined();
    expect(refusalFor(policy({ allowedHosts: ['[fd00:ec2::254]:80'] }), '[fd00:ec2::254]', '80')).toBeUndefined();
    expect(refusalFor(policy({}), 'metadata.google.internal.', '80')).toMatch(/link-local\/metadata/);
    expect(refusalFor(policy({}), 'localhost', '4010')).toBeUndefined();
    expect(isBlockedHost('::1')).toBe(false);
    expect(isBlockedHost('169.254.170.2')).toBe(true);
  });

  it('a MongoDB source refuses link-local and metadata hosts in its URI', async () => {
    expect(mongoUriRefusal(DEFAULT_OUTBOUND, 'mongodb://u:p@10.0.0.1:27017,169.254.169.254:27017/db')).toMatch(
      /169\.254\.169\.254 is not allowed/,
    );
    expect(mongoUriRefusal(DEFAULT_OUTBOUND, 'mongodb://[fe80::2]/db')).toMatch(/fe80::2 is not allowed/);
    expect(mongoUriRefusal(policy({ allowedHosts: ['db.internal'] }), 'mongodb+srv://cluster.example.net/db')).toMatch(
      /not in SOURCE_ALLOWED_HOSTS/,
    );
    expect(mongoUriRefusal(DEFAULT_OUTBOUND, 'mongodb://127.0.0.1:27017,localhost/db')).toBeUndefined();
    expect(sourceRefusal(DEFAULT_OUTBOUND, { kind: 'http', settings: { baseUrl: 'http://[::ffff:a9fe:a9fe]:80/x' } })).toMatch(
      /is not allowed/,
    );
    expect(sourceRefusal(DEFAULT_OUTBOUND, { kind: 'http', settings: { baseUrl: 'http://127.0.0.1:4010/x' } })).toBeUndefined();
    // Stored and shown as written: no credentials or keys in the base URL (they belong in the sealed token).
    expect(sourceRefusal(DEFAULT_OUTBOUND, { kind: 'http', settings: { baseUrl: 'http://user:pw@127.0.0.1:4010/x' } })).toMatch(
      /must not carry credentials/,
    );
    expect(sourceRefusal(DEFAULT_OUTBOUND, { kind: 'http', settings: { baseUrl: 'http://127.0.0.1:4010/x?api_key=s3cret' } })).toMatch(
      /must not have a query/,
    );
    expect(sourceRefusal(DEFAULT_OUTBOUND, { kind: 'http', settings: { baseUrl: 'http://127.0.0.1:4010/x#frag' } })).toMatch(
      /must not have a query or fragment/,
    );
    const source = createSource(
      { kind: 'mongodb', settings: { uri: 'mongodb://169.254.169.254:27017/x', database: 'x' } },
      DEFAULT_OUTBOUND,
    );
    await refusal(source.listCollections(), /listCollections: host 169\.254\.169\.254 is not allowed/);
    await source.close();
  });
});

describe('outbound policy: redirects', () => {
  it('a redirect to another origin is refused without calling it', async () => {
    const other = await local((_req, res) => json(res, { collections: ['stolen'] }));
    const up = await local((_req, res) => res.writeHead(302, { location: `${other.url}/collections` }).end());
    await refusal(createHttpSource({ baseUrl: up.url }).listCollections(), /redirect to another origin refused/);
    expect(other.hits).toEqual([]);
  });

  it('same-origin redirects are followed (a few), with the token kept', async () => {
    const auth: Array<string | undefined> = [];
    const up = await local((req, res) => {
      auth.push(req.headers.authorization);
      if (req.url === '/old/collections') return res.writeHead(301, { location: '/new/collections' }).end();
      if (req.url === '/loop/collections') return res.writeHead(307, { location: '/loop/collections' }).end();
      return json(res, { collections: ['users'] });
    });
    expect(await createHttpSource({ baseUrl: `${up.url}/old`, token: 'tok' }).listCollections()).toEqual(['users']);
    expect(up.hits).toEqual(['/old/collections', '/new/collections']);
    expect(auth).toEqual(['Bearer tok', 'Bearer tok']);
    await refusal(createHttpSource({ baseUrl: `${up.url}/loop` }).listCollections(), /more than 3 redirects/);
  });
});

describe('outbound policy: page bounds', () => {
  it('a streamed body past SOURCE_MAX_PAGE_BYTES is refused, and so is a too-large Content-Length up front', async () => {
    const big = JSON.stringify(
      page(
        Array.from({ length: 2_000 }, (_, i) => `r${i}`),
        null,
      ),
    );
    const up = await local((req, res) => {
      if (req.url?.startsWith('/declared')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) });
        res.write('{"records":['); // then hangs: the declared length alone must refuse it
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no length up front
      for (let i = 0; i < big.length; i += 1_000) res.write(big.slice(i, i + 1_000));
      res.end();
    });
    expect(big.length).toBeGreaterThan(16 * 1024);
    const capped = policy({ maxPageBytes: 16 * 1024 });
    await refusal(
      createHttpSource({ baseUrl: up.url }, capped).readPage('users', { limit: 5_000 }),
      /page body exceeds SOURCE_MAX_PAGE_BYTES \(16384 bytes\)/,
    );
    const t0 = Date.now();
    await refusal(
      createHttpSource({ baseUrl: `${up.url}/declared`, timeoutMs: 5_000 }).readPage('users', { limit: 10 }),
      /exceeds SOURCE_MAX_PAGE_BYTES \(16777216 bytes\)/,
    );
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect((await createHttpSource({ baseUrl: up.url }).readPage('users', { limit: 5_000 })).records).toHaveLength(2_000);
  });

  it('a page with more than SOURCE_MAX_PAGE_RECORDS records is refused; requests ask for no more', async () => {
    const up = await local((_req, res) => json(res, page(['a', 'b', 'c', 'd', 'e'], null)));
    const e = await refusal(
      createHttpSource({ baseUrl: up.url }, policy({ maxPageRecords: 3 })).readPage('users', { limit: 500 }),
      /page has 5 records, more than SOURCE_MAX_PAGE_RECORDS \(3\)/,
    );
    expect(e.details.collection).toBe('users');
    expect(up.hits[0]).toContain('limit=3');
  });

  it('a cursor cycle A → B → A is refused, not only an immediate repeat', async () => {
    const next: Record<string, string> = { '': 'A', A: 'B', B: 'A' };
    const up = await local((req, res) => {
      const after = new URL(req.url ?? '', 'http://x').searchParams.get('after') ?? '';
      json(res, page([`after-${after}`], next[after] ?? null));
    });
    const source = createHttpSource({ baseUrl: up.url });
    const p1 = await source.readPage('users', { limit: 10 });
    const p2 = await source.readPage('users', { limit: 10, after: p1.nextCursor });
    expect([p1.nextCursor, p2.nextCursor]).toEqual(['A', 'B']);
    await refusal(source.readPage('users', { limit: 10, after: p2.nextCursor }), /cursor cycle: cursor "A" was already read/);
    // A new read of the collection starts afresh; a failed page may be retried.
    expect((await source.readPage('users', { limit: 10 })).nextCursor).toBe('A');
  });

  it('more than SOURCE_MAX_PAGES pages of one collection are refused', async () => {
    const up = await local((req, res) => {
      const n = Number(new URL(req.url ?? '', 'http://x').searchParams.get('after') ?? 0);
      json(res, page([`r${n}`], String(n + 1)));
    });
    const source: SourceConnector = createHttpSource({ baseUrl: up.url }, policy({ maxPages: 3 }));
    let after: string | null = null;
    for (let i = 0; i < 3; i++) after = (await source.readPage('users', { limit: 1, after })).nextCursor;
    await refusal(source.readPage('users', { limit: 1, after }), /collection users: more than SOURCE_MAX_PAGES \(3\) pages/);
    expect(up.hits).toHaveLength(3);
    expect((await source.readPage('roles', { limit: 1 })).records).toHaveLength(1); // per collection
  });
});
