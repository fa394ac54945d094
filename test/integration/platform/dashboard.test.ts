import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Db } from 'mongodb';
import { Value } from 'typebox/value';
import { DASHBOARD_CSP } from '../../../api/routes/dashboard';
import { DashboardSnapshot } from '../../../api/services/dashboard/schema';
import { Collections } from '../../../infra/mongo';
import { registerMongoTenant } from '../../helpers/api';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// The dashboard's routes on the real stack: the shell page and its assets need no token and carry
// a strict CSP; the snapshot and the stream are ops:read, and a token covering tenant A sees A's
// logins and batches, never B's; the stream is text/event-stream and ends after the events asked.

interface Event {
  event: string;
  data: unknown;
}

/** Reads a whole server-sent-events body into events. */
function parseEvents(body: string): Event[] {
  return body
    .replace(/\r\n?/g, '\n')
    .split('\n\n')
    .map((block) => {
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      return data.length ? { event, data: JSON.parse(data.join('\n')) as unknown } : undefined;
    })
    .filter((e): e is Event => e !== undefined);
}

describe('dashboard routes', () => {
  const stack = useStack({ worker: true, app: { config: { USE_TEMPORAL_FOR_AUTH: false, SYNC_FRESHNESS_MS: 0 } } });
  const a = uniqueId('dash-a');
  const b = uniqueId('dash-b');
  let data: Db;
  let batchA: string;
  let batchB: string;

  beforeAll(async () => {
    data = stack.deps.mongo.client.db(uniqueId('dash').replace(/-/g, '_'));
    await data.collection('users').insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: `u${i}` as never, n: i })));
    for (const t of [a, b]) {
      await registerMongoTenant(stack.app, stack.deps, { tenantId: t, database: data.databaseName });
      const res = await stack.app.inject({
        method: 'POST',
        url: `/api/sync/tenants/${t}/ensure`,
        headers: await stack.bearer(['sync:write'], [t]),
      });
      expect(res.statusCode, res.body).toBe(200);
    }
    const reconcile = async (t: string) => {
      const res = await stack.app.inject({
        method: 'POST',
        url: '/api/reconcile',
        headers: { ...(await stack.bearer(['reconcile:write'], [t])), 'idempotency-key': uniqueId('k') },
        payload: { source: { kind: 'tenant', tenantId: t, collection: 'users' }, options: { dryRun: true } },
      });
      expect(res.statusCode, res.body).toBe(202);
      await stack.deps.temporal.client.workflow.getHandle(res.json().workflowId as string).result();
      return res.json().batchId as string;
    };
    batchA = await reconcile(a);
    batchB = await reconcile(b);
  });

  it('serves the page and its assets without a token, with a self-only CSP and no data', async () => {
    const page = await stack.app.inject({ method: 'GET', url: '/dashboard' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("script-src 'self'");
    expect(DASHBOARD_CSP).not.toMatch(/unsafe-|https?:|\*/);
    expect(page.body).not.toMatch(/<script>|<style|\sstyle=|\son[a-z]+=/i); // nothing inline the CSP would refuse
    expect(page.body).not.toContain(a);
    for (const [file, type] of [
      ['dashboard.js', /^text\/javascript/],
      ['dashboard.css', /^text\/css/],
      ['uPlot.iife.min.js', /^text\/javascript/],
      ['uPlot.min.css', /^text\/css/],
    ] as const) {
      const res = await stack.app.inject({ method: 'GET', url: `/dashboard/assets/${file}` });
      expect(res.statusCode, file).toBe(200);
      expect(res.headers['content-type'], file).toMatch(type);
      expect(page.body, file).toContain(`/dashboard/assets/${file}`);
    }
    expect((await stack.app.inject({ method: 'GET', url: '/dashboard/assets/uPlot.iife.min.js' })).body).toContain('uPlot (v1.6.32)');
    // Only the listed files: no path into the tree.
    for (const url of ['/dashboard/assets/..%2Fapp.ts', '/dashboard/assets/index.html', '/dashboard/assets/package.json'])
      expect((await stack.app.inject({ method: 'GET', url })).statusCode, url).toBe(400);
  });

  it('the snapshot needs ops:read (or admin) and shows only the covered tenant’s logins and batches', async () => {
    expect((await stack.app.inject({ method: 'GET', url: '/api/dashboard/snapshot' })).statusCode).toBe(401);
    const noScope = await stack.app.inject({
      method: 'GET',
      url: '/api/dashboard/snapshot',
      headers: await stack.bearer(['sync:read'], [a]),
    });
    expect(noScope.statusCode).toBe(403);

    const res = await stack.app.inject({ method: 'GET', url: '/api/dashboard/snapshot', headers: await stack.bearer(['ops:read'], [a]) });
    expect(res.statusCode, res.body).toBe(200);
    const s = res.json<DashboardSnapshot>();
    expect(Value.Check(DashboardSnapshot, s), JSON.stringify([...Value.Errors(DashboardSnapshot, s)].slice(0, 3))).toBe(true);
    expect(s.errors).toEqual({});
    expect(s.tenants).toEqual([a]);
    const runsOfA = await stack.deps.mongo.db.collection(Collections.syncRuns).countDocuments({ tenantId: a });
    expect(runsOfA).toBe(1);
    expect(s.logins!.windowRuns).toBe(runsOfA);
    expect(s.logins!.methods.direct.total).toBe(1);
    expect(s.logins!.series.direct.reduce((n, p) => n + p.count, 0)).toBe(1);
    expect(s.reconcile!.batches.map((r) => r.batchId)).toEqual([batchA]);
    expect(s.reconcile!.batches[0]).toMatchObject({ tenantId: a, state: 'completed', percent: 100, processed: 20, live: false });
    expect(s.work!.failedByType.length).toBeGreaterThan(0);
    expect(res.body).not.toContain(b);
    expect(res.body).not.toContain(batchB);

    const all = (
      await stack.app.inject({ method: 'GET', url: '/api/dashboard/snapshot', headers: await stack.bearer(['admin'], '*') })
    ).json<DashboardSnapshot>();
    expect(all.logins!.windowRuns).toBe(2);
    expect(all.reconcile!.batches.map((r) => r.batchId).sort()).toEqual([batchA, batchB].sort());
    // A token covering no tenant sees no tenant's rows.
    const none = (
      await stack.app.inject({ method: 'GET', url: '/api/dashboard/snapshot', headers: await stack.bearer(['ops:read'], []) })
    ).json<DashboardSnapshot>();
    expect(none.logins!.windowRuns).toBe(0);
    expect(none.reconcile!.batches).toEqual([]);
  });

  it('requests of the same coverage at once share one snapshot; another coverage gets its own', async () => {
    const get = async (scopes: string[], tenants: string[] | '*') =>
      (
        await stack.app.inject({
          method: 'GET',
          url: '/api/dashboard/snapshot',
          headers: await stack.bearer(scopes, tenants, uniqueId('u')),
        })
      ).json<DashboardSnapshot>();
    const [x, y, z] = await Promise.all([get(['ops:read'], [a, b]), get(['ops:read'], [b, a]), get(['ops:read'], [a])]);
    expect(y.generatedAt).toBe(x.generatedAt); // built once for both, whoever asked
    expect(x.logins!.windowRuns).toBe(2);
    expect(z.logins!.windowRuns).toBe(1);
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await get(['ops:read'], [a, b])).generatedAt).not.toBe(x.generatedAt); // and rebuilt after a second
  });

  it('streams snapshots as server-sent events over HTTP and ends after the events asked for', async () => {
    const app = await stack.buildApp();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const headers = await stack.bearer(['ops:read'], [a]);
    const t0 = Date.now();
    const res = await fetch(`${base}/api/dashboard/stream?intervalMs=500&events=3`, { headers });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toContain('no-cache');
    const events = parseEvents(await res.text());
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900); // three snapshots 500 ms apart
    expect(events.map((e) => e.event)).toEqual(['snapshot', 'snapshot', 'snapshot', 'end']);
    for (const e of events.slice(0, 3)) {
      expect(Value.Check(DashboardSnapshot, e.data)).toBe(true);
      expect(JSON.stringify(e.data)).not.toContain(b);
    }
    // Refusals are problem+json, before any stream starts.
    const refused = await fetch(`${base}/api/dashboard/stream`, { headers: await stack.bearer(['reconcile:read'], [a]) });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await fetch(`${base}/api/dashboard/stream?intervalMs=10`, { headers })).status).toBe(400);
    // An open stream does not hold the app's close.
    const open = await fetch(`${base}/api/dashboard/stream`, { headers });
    const reader = open.body!.getReader();
    await reader.read();
    const closing = Date.now();
    await app.close();
    expect(Date.now() - closing).toBeLessThan(5_000);
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toContain('event: end');
  });
});
