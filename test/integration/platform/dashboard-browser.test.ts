import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { registerMongoTenant } from '../../helpers/api';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// The live dashboard in headless Chromium (Debian's, through playwright-core) against the real
// stack: the page asks for a token, streams, and — as a login and a reconcile are started through
// the API — its numbers and the batch's progress bar move. No console error (a CSP refusal is
// one). Screenshots at a laptop and a phone size go to docs/screenshots/ for the README.

const CHROMIUM = '/usr/bin/chromium';
const WAIT_MS = 30_000;
const SHOTS = path.join(REPO_ROOT, '.data', 'screenshots');
const DOCS_SHOTS = path.join(REPO_ROOT, 'docs', 'screenshots');
/** Records the reconcile compares, in chunks of CHUNK: 240 chunks, one progress report each, span many 1 s snapshots. */
const EVENTS = 6_000;
const CHUNK = 25;

/** To the git-ignored folder; the README's copy under docs/ only when missing or with UPDATE_SCREENSHOTS=1. */
async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name), fullPage });
  if (existsSync(path.join(DOCS_SHOTS, name)) && process.env.UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(DOCS_SHOTS, { recursive: true });
  copyFileSync(path.join(SHOTS, name), path.join(DOCS_SHOTS, name));
}

/** What the sampling reads of a batch row (the test compiles without the DOM types). */
interface Row {
  querySelector(s: string): { value?: number; textContent: string | null } | null;
  dataset: Record<string, string | undefined>;
}

describe('live dashboard in a browser', () => {
  const stack = useStack({ worker: true });
  const tenantId = uniqueId('dash-ui');
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;
  const consoleErrors: string[] = [];
  /** How the login of the first test was answered. */
  let method: 'temporal' | 'direct' = 'temporal';

  /** A page at `viewport`, its token entered, streaming. */
  async function openDashboard(viewport: { width: number; height: number }, mobile = false): Promise<Page> {
    const context = await browser.newContext({ viewport, isMobile: mobile, hasTouch: mobile, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await page.goto(`${base}/dashboard?interval=1000`);
    await page.locator('#token').fill((await stack.bearer(['ops:read'], [tenantId]))['authorization']!);
    await page.getByRole('button', { name: 'Connect' }).click();
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: WAIT_MS }).toBe('live');
    return page;
  }

  const post = async (url: string, headers: Record<string, string>, body?: unknown) => {
    const res = await fetch(`${base}${url}`, {
      method: 'POST',
      headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's package (make chromium, or apt-get install -y chromium)`);
    app = await stack.buildApp({ USE_TEMPORAL_FOR_AUTH: true, SYNC_FRESHNESS_MS: 0, TEMPORAL_AUTH_TIMEOUT_MS: 10_000 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const data = stack.deps.mongo.client.db(uniqueId('dashui').replace(/-/g, '_'));
    await data.collection('users').insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: `u${i}` as never, n: i })));
    for (let from = 0; from < EVENTS; from += 2000)
      await data.collection('events').insertMany(Array.from({ length: 2000 }, (_, i) => ({ _id: `e${from + i}` as never, n: from + i })));
    await registerMongoTenant(app, stack.deps, { tenantId, database: data.databaseName });
    // The target holds the same keys already: the plan counts them, so the bar has a total to fill.
    const target = stack.deps.mongo.tenantDb(tenantId).collection('events');
    for (let from = 0; from < EVENTS; from += 2000)
      await target.insertMany(Array.from({ length: 2000 }, (_, i) => ({ _id: `e${from + i}` as never, n: from + i })));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: WAIT_MS,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('a login and a reconcile started through the API move its numbers and the progress bar', async () => {
    const page = await openDashboard({ width: 1280, height: 860 });
    const text = (sel: string) => page.locator(sel).textContent();
    expect(await text('#m-logins-temporal')).toBe('0');
    expect(await text('#m-logins-direct')).toBe('0');
    expect(await text('#m-logins-p95')).toBe('–');
    expect(await text('#no-batches')).toContain('No batch');

    const login = await post(`/api/sync/tenants/${tenantId}/ensure`, await stack.bearer(['sync:write'], [tenantId]));
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(login.body).toMatchObject({ essentialReady: true });
    // Through Temporal unless it fell back (a cold worker on a loaded machine): either way it is counted.
    method = login.body.syncMethod as 'temporal' | 'direct';
    await expect.poll(() => text(`#m-logins-${method}`), { timeout: WAIT_MS }).toBe('1');
    expect(await text('#m-logins-fallbacks')).toBe(login.body.fallbackUsed ? '1' : '0');
    await expect.poll(() => text('#m-logins-p95'), { timeout: WAIT_MS }).toMatch(/^\d+(\.\d)? m?s$/);
    expect(await text('#m-logins-success')).toMatch(/%$/);

    const started = await post(
      '/api/reconcile',
      { ...(await stack.bearer(['reconcile:write'], [tenantId])), 'idempotency-key': uniqueId('k') },
      {
        source: { kind: 'tenant', tenantId, collection: 'events' },
        options: { chunkSize: CHUNK, maxConcurrency: 1, progressIntervalMs: 0, dryRun: true },
      },
    );
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const row = page.locator(`tr[data-batch="${String(started.body.batchId)}"]`);
    await row.waitFor({ state: 'visible', timeout: WAIT_MS });

    // Sample the bar and the processed count until the batch is done.
    const seen: Array<{ value: number; processed: string; state: string }> = [];
    let shot = false;
    const until = Date.now() + 150_000;
    for (;;) {
      // One read of the row (it is replaced on each snapshot).
      const sample = await row.evaluate((el) => {
        const tr = el as unknown as Row;
        return {
          value: tr.querySelector('progress')?.value ?? -1,
          processed: tr.querySelector('td.processed')?.textContent ?? '',
          state: tr.dataset.state ?? '',
        };
      });
      if (seen.at(-1)?.processed !== sample.processed || seen.at(-1)?.state !== sample.state) seen.push(sample);
      if (!shot && sample.value > 0 && sample.value < 100) {
        await screenshot(page, 'dashboard-laptop.png', true);
        shot = true;
      }
      if (sample.state === 'completed' || Date.now() > until) break;
      await page.waitForTimeout(200);
    }
    expect(seen.at(-1), JSON.stringify(seen)).toMatchObject({
      state: 'completed',
      value: 100,
      processed: `${EVENTS.toLocaleString('en')} / ${EVENTS.toLocaleString('en')}`,
    });
    // It moved: at least two values under 100 % on the way, rising.
    const partial = seen.filter((s) => s.value < 100);
    expect(partial.length, JSON.stringify(seen)).toBeGreaterThanOrEqual(2);
    const values = seen.map((s) => s.value);
    expect(values, 'the bar never goes back').toEqual([...values].sort((x, y) => x - y));
    expect(new Set(seen.map((s) => s.processed)).size, JSON.stringify(seen)).toBeGreaterThanOrEqual(3);
    if (!shot) await screenshot(page, 'dashboard-laptop.png', true);
    expect(consoleErrors).toEqual([]);
  }, 240_000);

  it('is usable at a phone’s width: one column, nothing wider than the screen', async () => {
    const page = await openDashboard({ width: 390, height: 844 }, true);
    await expect.poll(() => page.locator(`#m-logins-${method}`).textContent(), { timeout: WAIT_MS }).toBe('1');
    const cards = await Promise.all((await page.locator('.card').all()).map(async (c) => (await c.boundingBox())!));
    const layout = {
      scrollWidth: await page.locator('html').evaluate((h) => (h as unknown as { scrollWidth: number }).scrollWidth),
      lefts: [...new Set(cards.map((r) => Math.round(r.x)))],
      widest: Math.max(...cards.map((r) => r.x + r.width)),
      chartWidth: (await page.locator('#chart-latency canvas').boundingBox())?.width ?? 0,
    };
    expect(layout.scrollWidth).toBeLessThanOrEqual(390);
    expect(layout.lefts).toHaveLength(1); // one column
    expect(layout.widest).toBeLessThanOrEqual(390);
    expect(layout.chartWidth).toBeGreaterThan(250);
    await screenshot(page, 'dashboard-phone.png');
    expect(consoleErrors).toEqual([]);
  });
});
