import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { WorkflowIds } from '../../../shared/constants';
import { startLoginBench, type LoginBench } from '../../helpers/login';
import { stackInfo } from '../../helpers/stack';

// The operator's view: a real tenant sync through Temporal, then the Temporal Web UI in headless
// Chromium, filtered by the TenantId search attribute — the tenant's run is listed, another
// tenant's is not, and the run shows its search attributes and memo.

const CHROMIUM = '/usr/bin/chromium';
const WAIT_MS = 30_000;
const SHOTS = path.join(REPO_ROOT, '.data', 'screenshots');
const DOCS_SHOTS = path.join(REPO_ROOT, 'docs', 'screenshots');

/**
 * Saves to the git-ignored folder; the README's copy under docs/ is written when missing or with
 * UPDATE_SCREENSHOTS=1, so an ordinary test run leaves the committed image alone.
 */
async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name) });
  if (existsSync(path.join(DOCS_SHOTS, name)) && process.env.UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(DOCS_SHOTS, { recursive: true });
  copyFileSync(path.join(SHOTS, name), path.join(DOCS_SHOTS, name));
}

describe('Temporal UI: runs filtered by tenant', () => {
  let bench: LoginBench;
  let browser: Browser;
  let page: Page;
  const synced: Array<{ tenantId: string; correlationId: string }> = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `Chromium not found at ${CHROMIUM}: install Debian's package (apt-get install -y chromium); .ci/run does so before the tests`,
      );
    bench = await startLoginBench();
    const app = await bench.app({ USE_TEMPORAL_FOR_AUTH: true });
    for (let i = 0; i < 2; i++) {
      const tenantId = await bench.registerTenant(app, [{ name: 'users', essential: true, size: 50 }]);
      const res = await bench.ensure(app, tenantId);
      expect(res.json()).toMatchObject({ syncMethod: 'temporal', essentialReady: true });
      await bench.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId)).result();
      synced.push({ tenantId, correlationId: res.json().correlationId });
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: WAIT_MS,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(WAIT_MS);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await bench?.close();
  });

  it('lists the tenant’s sync run for TenantId="…" and not another tenant’s', async () => {
    const [mine, other] = synced as [(typeof synced)[0], (typeof synced)[0]];
    const query = `TenantId="${mine.tenantId}"`;
    await page.goto(`${stackInfo().temporalUiUrl}/namespaces/default/workflows?query=${encodeURIComponent(query)}`, { timeout: WAIT_MS });
    await page.getByRole('link', { name: WorkflowIds.tenantSync(mine.tenantId) }).waitFor({ state: 'visible' });
    await expect.poll(() => page.getByText(WorkflowIds.tenantSync(other.tenantId)).count(), { timeout: 2_000 }).toBe(0);
    await expect.poll(() => page.getByText('1 Workflow', { exact: true }).count(), { timeout: WAIT_MS }).toBe(1);
    await screenshot(page, 'temporal-ui-tenant.png');
  });

  it('opens the run and shows its search attributes and memo', async () => {
    const [mine] = synced as [(typeof synced)[0]];
    await page.getByRole('link', { name: WorkflowIds.tenantSync(mine.tenantId) }).click();
    await page.getByRole('tab', { name: 'Search Attributes' }).click();
    const main = page.locator('main');
    await expect.poll(() => main.innerText(), { timeout: WAIT_MS }).toContain(`"TenantId": "${mine.tenantId}"`);
    const attrs = await main.innerText();
    for (const s of [`"TenantId": "${mine.tenantId}"`, '"SyncMethod": "temporal"', '"Operation": "tenant-sync"'])
      expect(attrs).toContain(s);
    await screenshot(page, 'temporal-ui-tenant-run.png');
    await page.getByRole('tab', { name: 'Memo' }).click();
    await expect.poll(() => main.innerText(), { timeout: WAIT_MS }).toContain(`"correlationId": "${mine.correlationId}"`);
    expect(await main.innerText()).toContain(`"what": "tenant sync of ${mine.tenantId} (login)"`);
  });
});
