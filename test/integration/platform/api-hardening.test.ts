import { describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { createLogger } from '../../../infra/logger';
import { Collections, tenantDbName } from '../../../infra/mongo';
import { mintToken } from '../../../infra/auth-token';
import type { TemporalHandle } from '../../../infra/temporal';
import { queuesClause, uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Idempotency-Key, rate limits, fuzzed input, log privacy, OpenAPI and security headers.

function captureLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { log: createLogger({ name: 'api', level: 'info', destination: stream }), text: () => lines.join('') };
}

const tenantBody = (tenantId: string, extra: Record<string, unknown> = {}) => ({
  tenantId,
  name: `Tenant ${tenantId}`,
  source: { kind: 'http', settings: { baseUrl: 'http://127.0.0.1:9/tenants/x', token: 'upstream-secret-token-xyz' } },
  collections: [{ name: 'users', essential: true }],
  ...extra,
});

/** The file's Temporal handle, recording every workflow-client call that could start a workflow. */
function countingStarts(t: TemporalHandle): { temporal: TemporalHandle; starts: string[] } {
  const starts: string[] = [];
  const workflow = new Proxy(t.client.workflow, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv) as unknown;
      if (typeof v !== 'function' || !/start|execute/i.test(String(prop))) return v;
      return (...args: unknown[]) => (starts.push(String(prop)), (v as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
  const client = new Proxy(t.client, { get: (target, prop, recv) => (prop === 'workflow' ? workflow : Reflect.get(target, prop, recv)) });
  return { temporal: { ...t, client }, starts };
}

/** An HTTP upstream whose record pages wait for `open()`; `requested` resolves on the first wait. */
async function gatedUpstream() {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let seen!: () => void;
  const requested = new Promise<void>((r) => (seen = r));
  const server = createServer((req, res) => {
    const reply = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (!req.url?.includes('/records')) return reply({ collections: ['users'] });
    seen();
    void gate.then(() => reply({ records: [{ id: 'u1', updatedAt: new Date(0).toISOString(), version: 1 }], nextCursor: null }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { baseUrl, requested, open, close: () => new Promise((r) => server.close(r)) };
}

describe('API hardening', () => {
  const stack = useStack();
  const app = stack.buildApp;

  describe('Idempotency-Key', () => {
    it('replays the identical status and body without running the handler again; 422 on a changed body', async () => {
      const cap = captureLogger();
      const a = await app({}, { log: cap.log });
      const admin = await stack.bearer(['admin']);
      const id = uniqueId('idem');
      const key = `key-${id}`;
      const first = await a.inject({
        method: 'POST',
        url: '/api/tenants',
        headers: { ...admin, 'idempotency-key': key },
        payload: tenantBody(id),
      });
      expect(first.statusCode).toBe(201);
      const again = await a.inject({
        method: 'POST',
        url: '/api/tenants',
        headers: { ...admin, 'idempotency-key': key },
        payload: tenantBody(id),
      });
      expect(again.statusCode).toBe(201);
      expect(again.body).toBe(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(cap.text().split('tenant registered').length - 1).toBe(1);
      const changed = await a.inject({
        method: 'POST',
        url: '/api/tenants',
        headers: { ...admin, 'idempotency-key': key },
        payload: tenantBody(id, { name: 'Other' }),
      });
      expect(changed.statusCode).toBe(422);
      expect(changed.headers['content-type']).toContain('application/problem+json');
    });

    it('50 concurrent requests with one key run the handler exactly once; the rest replay or get 409', async () => {
      const cap = captureLogger();
      const a = await app({}, { log: cap.log });
      const admin = await stack.bearer(['admin']);
      const id = uniqueId('conc');
      const res = await Promise.all(
        Array.from({ length: 50 }, () =>
          a.inject({ method: 'POST', url: '/api/tenants', headers: { ...admin, 'idempotency-key': `k-${id}` }, payload: tenantBody(id) }),
        ),
      );
      expect(cap.text().split('tenant registered').length - 1).toBe(1);
      const statuses = res.map((r) => r.statusCode);
      expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
      expect(res.filter((r) => r.statusCode === 201 && r.headers['idempotent-replayed'] !== 'true')).toHaveLength(1);
      for (const r of res.filter((x) => x.statusCode === 409)) expect(r.headers['retry-after']).toBe('1');
    });

    it('a duplicate while the first request still runs gets 409 with Retry-After: 1; afterwards it replays', async () => {
      const upstream = await gatedUpstream();
      try {
        const a = await app({ USE_TEMPORAL_FOR_AUTH: false, SYNC_FRESHNESS_MS: 0 });
        const admin = await stack.bearer(['admin']);
        const tenantId = uniqueId('dup');
        const reg = await a.inject({
          method: 'POST',
          url: '/api/tenants',
          headers: admin,
          payload: { ...tenantBody(tenantId), source: { kind: 'http', settings: { baseUrl: upstream.baseUrl } } },
        });
        expect(reg.statusCode, reg.body).toBe(201);
        const ensure = () =>
          a.inject({
            method: 'POST',
            url: `/api/sync/tenants/${tenantId}/ensure`,
            headers: { ...admin, 'idempotency-key': `k-${tenantId}` },
          });
        const first = ensure();
        // The first request holds the key: its handler is waiting on the upstream.
        await upstream.requested;
        const duplicate = await ensure();
        expect(duplicate.statusCode).toBe(409);
        expect(duplicate.headers['retry-after']).toBe('1');
        expect(duplicate.headers['content-type']).toContain('application/problem+json');
        upstream.open();
        const done = await first;
        expect(done.statusCode, done.body).toBe(200);
        expect(done.json()).toMatchObject({ tenantId, essentialReady: true });
        const replay = await ensure();
        expect(replay.headers['idempotent-replayed']).toBe('true');
        expect(replay.body).toBe(done.body);
      } finally {
        upstream.open();
        await upstream.close();
      }
    });

    it('scopes keys by subject, expires them, and rejects malformed keys', async () => {
      const cap = captureLogger();
      const a = await app({ IDEMPOTENCY_TTL_S: 1 }, { log: cap.log });
      const id = uniqueId('exp');
      const send = async (sub: string, key: string) =>
        a.inject({
          method: 'POST',
          url: '/api/tenants',
          headers: { ...(await stack.bearer(['admin'], '*', sub)), 'idempotency-key': key },
          payload: tenantBody(id),
        });
      await send('alice', 'same');
      const bob = await send('bob', 'same');
      expect(bob.headers['idempotent-replayed']).toBeUndefined();
      await new Promise((r) => setTimeout(r, 1_300));
      const afterExpiry = await send('alice', 'same');
      expect(afterExpiry.headers['idempotent-replayed']).toBeUndefined();
      expect(cap.text().split('tenant registered').length - 1).toBe(3);
      for (const bad of ['x'.repeat(256), 'has space', 'tab\there']) {
        expect((await send('alice', bad)).statusCode).toBe(400);
      }
    });
  });

  describe('rate limits', () => {
    it('per subject: 429 problem+json with Retry-After', async () => {
      const a = await app({ RATE_LIMIT_PER_SUBJECT: 5 });
      const h = await stack.bearer(['sync:read'], '*', uniqueId('rl'));
      const codes: number[] = [];
      let last;
      for (let i = 0; i < 6; i++) {
        last = await a.inject({ method: 'GET', url: '/api/sync/method-stats', headers: h });
        codes.push(last.statusCode);
      }
      expect(codes).toEqual([200, 200, 200, 200, 200, 429]);
      expect(last!.headers['content-type']).toContain('application/problem+json');
      expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
      // another subject is not affected
      expect(
        (await a.inject({ method: 'GET', url: '/api/sync/method-stats', headers: await stack.bearer(['sync:read'], '*', uniqueId('rl')) }))
          .statusCode,
      ).toBe(200);
    });

    it('per tenant: many subjects on one tenant share its budget', async () => {
      const a = await app({ RATE_LIMIT_PER_TENANT: 3 });
      const tenant = uniqueId('rlt');
      const codes: number[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await a.inject({
          method: 'GET',
          url: `/api/sync/tenants/${tenant}/status`,
          headers: await stack.bearer(['sync:read'], '*', uniqueId('s')),
        });
        codes.push(r.statusCode);
      }
      expect(codes).toEqual([200, 200, 200, 429]);
    });
  });

  it('fuzz: 2,000 malformed requests across every route — never a 5xx, never a write', async () => {
    const routes: Array<{ method: string; url: string }> = [];
    // A generous readiness deadline: /health/ready pings Temporal, and a loaded CI machine must not
    // turn a slow ping into the 5xx this test forbids.
    const counted = countingStarts(stack.deps.temporal);
    const a = await app(
      { RATE_LIMIT_PER_SUBJECT: 1_000_000, RATE_LIMIT_PER_TENANT: 1_000_000, READY_TIMEOUT_MS: 15_000 },
      { temporal: counted.temporal },
    );
    type Op = { responses?: Record<string, { content?: Record<string, unknown> }> };
    const spec = (await a.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, Op>> };
    for (const [p, ops] of Object.entries(spec.paths)) for (const m of Object.keys(ops)) routes.push({ method: m.toUpperCase(), url: p });
    // A server-sent-events route answers a good request with a stream that lasts minutes: ask it
    // for one event, so an accepted request ends too (the hostile parts stay where they were).
    const streams = new Set(
      Object.entries(spec.paths)
        .filter(([, ops]) => Object.values(ops).some((o) => o.responses?.['200']?.content?.['text/event-stream']))
        .map(([p]) => p),
    );
    expect(streams.size).toBeGreaterThan(0);
    expect(routes.length).toBeGreaterThan(8);
    // Every platform collection (registry, runs, reconcile batches, migrations, client-upsert
    // state…), and the workflows on this file's task queue.
    const counts = async () =>
      Object.fromEntries(
        await Promise.all(
          Object.values(Collections).map(async (c) => [c, await stack.deps.mongo.db.collection(c).countDocuments()] as const),
        ),
      );
    const workflows = async () => {
      const ids: string[] = [];
      for await (const wf of stack.deps.temporal.client.workflow.list({ query: queuesClause(stack.deps.config.TEMPORAL_TASK_QUEUE) }))
        ids.push(wf.workflowId);
      return ids;
    };
    const before = await counts();
    const workflowsBefore = await workflows();
    const admin = await stack.bearer(['admin']);
    const hostile = fc.oneof(
      fc.constantFrom('$gt', '{"$ne":null}', '../../etc/passwd', 'a'.repeat(5000), '%00', ' ', '__proto__', 'constructor', '😀', '-1'),
      fc.string({ maxLength: 80 }),
    );
    // Malformed by construction: an object body always carries a property no route's schema allows
    // (an empty object would be a valid POST /api/clients/sync or /api/migrations/run).
    const withUnknown = (v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? { ...v, $where: 'x' } : v);
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map(withUnknown),
      fc.record(
        {
          tenantId: fc.oneof(hostile, fc.object()),
          name: fc.anything(),
          source: fc.anything(),
          collections: fc.anything(),
          $where: fc.string(),
        },
        { requiredKeys: ['$where'] },
      ),
    );
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        hostile,
        body,
        fc.boolean(),
        fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
        async (route, segment, payload, withToken, type) => {
          const url =
            route.url.replace(/\{[^}]+\}/g, () => encodeURIComponent(segment)) + (streams.has(route.url) ? '?events=1&intervalMs=500' : '');
          const method = route.method as 'GET' | 'POST';
          const res = await a.inject({
            method,
            url,
            headers: {
              ...(withToken ? admin : { authorization: `Bearer ${segment}` }),
              'content-type': type,
              'idempotency-key': segment.slice(0, 300),
            },
            ...(method === 'POST' ? { payload: type === 'application/json' ? JSON.stringify(payload) : String(segment) } : {}),
          });
          sent += 1;
          expect(res.statusCode, `${method} ${url} → ${res.statusCode} ${res.body.slice(0, 200)}`).toBeLessThan(500);
        },
      ),
      { numRuns: 2_000 },
    );
    expect(sent).toBe(2_000);
    expect(await counts()).toEqual(before);
    expect(counted.starts).toEqual([]);
    expect(await workflows()).toEqual(workflowsBefore);
    expect((await a.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('fuzz: cross-tenant and platform-namespace reconcile bodies — never 2xx, never 5xx, never a write', async () => {
    const a = await app({
      RATE_LIMIT_PER_SUBJECT: 1_000_000,
      RATE_LIMIT_PER_TENANT: 1_000_000,
      RECONCILE_ALLOWED_URIS: [stack.deps.config.MONGODB_URI],
    });
    const root = await stack.bearer(['admin']);
    const [own, other] = [uniqueId('fza'), uniqueId('fzb')];
    for (const tenantId of [own, other]) {
      const reg = await a.inject({
        method: 'POST',
        url: '/api/tenants',
        headers: root,
        payload: {
          ...tenantBody(tenantId),
          source: { kind: 'mongodb', settings: { uri: stack.deps.config.MONGODB_URI, database: 'fuzz_upstream' } },
        },
      });
      expect(reg.statusCode, reg.body).toBe(201);
    }
    const rc = ['reconcile:write', 'reconcile:read'];
    // Tokens for one tenant (with and without admin), and every tenant without admin.
    const tenantTokens = [await stack.bearer(rc, [own], 'fz-t'), await stack.bearer(['admin'], [own], 'fz-ta')];
    const everyTenantNoAdmin = await stack.bearer(rc, '*', 'fz-all');
    const platform = stack.deps.config.MONGODB_DB;
    const platformDb = fc
      .array(fc.boolean(), { minLength: platform.length, maxLength: platform.length })
      .map((up) => [...platform].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''));
    const collection = fc.constantFrom(...Object.values(Collections), 'users');
    const uri = fc.constantFrom(
      stack.deps.config.MONGODB_URI,
      'mongodb://127.0.0.1:1',
      'mongodb://u:p@169.254.169.254:27017',
      `${stack.deps.config.MONGODB_URI.replace(/\/?(\?.*)?$/, '')}/?proxyHost=evil.example`,
    );
    const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
    const options = maybe(fc.record({ extras: fc.constantFrom('flag', 'delete'), dryRun: fc.boolean() }, { requiredKeys: [] }));
    const anyDb = fc.constantFrom(tenantDbName(own), tenantDbName(other), 'fuzz_upstream', platform, platform.toUpperCase());
    const foreignDb = fc.constantFrom(tenantDbName(other), 'fuzz_upstream', platform, tenantDbName(own).toUpperCase());
    const tenantSource = (id: fc.Arbitrary<string>) => fc.record({ kind: fc.constant('tenant'), tenantId: id, collection });
    const nsSource = fc.record({ kind: fc.constant('namespace'), uri: maybe(uri), db: anyDb, collection });
    /** Raw work (needs admin and every tenant): the own tenant into a foreign db or through a URI, a namespace. */
    const rawWork = fc.oneof(
      fc.record({ source: tenantSource(fc.constant(own)), target: fc.record({ uri: maybe(uri), db: foreignDb, collection }), options }),
      fc.record({
        source: tenantSource(fc.constant(own)),
        target: fc.record({ uri, db: fc.constant(tenantDbName(own)), collection }),
        options,
      }),
      fc.record({ source: nsSource, target: fc.record({ uri: maybe(uri), db: anyDb, collection }), options }),
    );
    /** Work a token for `own` alone may never start: another tenant, or raw work. */
    const crossTenant = fc.oneof(
      fc.record({
        source: tenantSource(fc.constantFrom(other, own.toUpperCase(), `${own}.x`)),
        target: maybe(fc.record({ db: anyDb, collection })),
        options,
      }),
      rawWork,
    );
    /** The platform database at either end, in any letter case, through any URI: refused to everyone. */
    const platformNs = fc.oneof(
      fc.record({
        source: fc.record({ kind: fc.constant('namespace'), uri: maybe(uri), db: platformDb, collection }),
        target: fc.record({ uri: maybe(uri), db: fc.constantFrom('fuzz_upstream', tenantDbName(own)), collection }),
        options,
      }),
      fc.record({
        source: fc.oneof(
          tenantSource(fc.constantFrom(own, other)),
          fc.record({ kind: fc.constant('namespace'), uri: maybe(uri), db: fc.constant('fuzz_upstream'), collection }),
        ),
        target: fc.record({ uri: maybe(uri), db: platformDb, collection }),
        options,
      }),
    );
    const cases = fc.oneof(
      fc.tuple(fc.constantFrom(...tenantTokens), crossTenant),
      fc.tuple(fc.constant(everyTenantNoAdmin), rawWork),
      fc.tuple(fc.constantFrom(root, ...tenantTokens, everyTenantNoAdmin), platformNs),
    );
    const platformBefore = await Promise.all(Object.values(Collections).map((c) => stack.deps.mongo.db.collection(c).countDocuments()));
    const before = await stack.deps.mongo.db.collection(Collections.reconcileBatches).countDocuments();
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(cases, async ([headers, body]) => {
        const res = await a.inject({
          method: 'POST',
          url: '/api/reconcile',
          headers: { ...headers, 'idempotency-key': uniqueId('fz') },
          payload: body,
        });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        expect(res.statusCode, `${JSON.stringify(body)} → ${res.statusCode} ${res.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode, res.body.slice(0, 200)).toBeLessThan(500);
        expect(res.body).not.toContain('169.254.169.254');
      }),
      { numRuns: 500 },
    );
    // Every body is well-formed: each is refused for what it reaches, not for its shape.
    expect(Object.fromEntries(statuses)).toEqual({ 403: 500 });
    expect(await stack.deps.mongo.db.collection(Collections.reconcileBatches).countDocuments()).toBe(before);
    expect(await Promise.all(Object.values(Collections).map((c) => stack.deps.mongo.db.collection(c).countDocuments()))).toEqual(
      platformBefore,
    );
    expect((await stack.deps.mongo.client.db(tenantDbName(own)).listCollections().toArray()).length).toBe(0);
  });

  it('request logs carry trace IDs but no token, secret, e-mail or idempotency key', async () => {
    const cap = captureLogger();
    const a = await app({}, { log: cap.log });
    const email = 'alice.secret@example.com';
    const jwt = await mintToken(stack.deps.config.AUTH_JWT_SECRET, { sub: email, scopes: ['admin'], tenants: '*', ttlSeconds: 60 });
    const id = uniqueId('priv');
    await a.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: { authorization: `Bearer ${jwt}`, 'idempotency-key': 'idem-value-should-not-leak', cookie: 'session=cookie-secret-value' },
      payload: tenantBody(id),
    });
    await a.inject({ method: 'GET', url: `/api/tenants/${id}`, headers: { authorization: `Bearer ${jwt}` } });
    await a.inject({ method: 'GET', url: '/api/tenants/x', headers: { authorization: 'Bearer not-a-jwt-secret' } });
    const text = cap.text();
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const done = lines.filter((l) => l.type === 'REQUEST_COMPLETE');
    expect(done.length).toBe(3);
    for (const l of done) {
      expect(l.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(l).toHaveProperty('correlationId');
      expect(l).toHaveProperty('durationMs');
      expect(l).toHaveProperty('route');
    }
    for (const secret of [
      jwt,
      email,
      'alice.secret',
      'upstream-secret-token-xyz',
      'idem-value-should-not-leak',
      'cookie-secret-value',
      'not-a-jwt-secret',
      stack.deps.config.AUTH_JWT_SECRET,
    ]) {
      expect(text, secret.slice(0, 20)).not.toContain(secret);
    }
  });

  it('serves an OpenAPI document listing every route, and sets security headers (CORS off by default)', async () => {
    const a = await app();
    const spec = (await a.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const documented = new Set(Object.entries(spec.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
    const registered = a.registeredRoutes
      .filter((r) => r.method !== 'HEAD' && !r.url.startsWith('/docs'))
      .map((r) => `${r.method} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
    expect(registered.length).toBeGreaterThanOrEqual(9);
    for (const r of registered) expect(documented, r).toContain(r);
    expect(documented).toContain('POST /api/sync/tenants/{tenantId}/ensure');
    const res = await a.inject({ method: 'GET', url: '/health', headers: { origin: 'https://evil.example' } });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});
