import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../infra/config';
import type { ActivityDeps } from '../../../activities';
import { activityDepsFromConfig, activitySettingsFromConfig } from '../../../activities/settings-from-config';
import { DEFAULT_OUTBOUND } from '../../../activities/sources/outbound';
import { parseKeyring } from '../../../infra/secrets';

// Config → activity settings and dependencies: the one mapping the worker, the API's direct path
// and the test workers share. Every config-made setting is present; overrides merge, not replace.

const config = loadConfig({
  SYNC_PAGE_SIZE: '123',
  SYNC_STUCK_AFTER_MS: '1000',
  CLIENTS_DIR: 'cfg-dir',
  RECONCILE_SPILL_DIR: '/var/spill',
  MIGRATION_BATCH_SIZE: '250',
  MIGRATION_BACKUP_RETENTION_MS: '120000',
  SECRETS_KEY: `k7:${randomBytes(32).toString('base64')}`,
  SOURCE_ALLOWED_HOSTS: 'a.example, b.example:8080',
  SOURCE_MAX_PAGE_BYTES: '2048',
  SOURCE_MAX_PAGE_RECORDS: '7',
  SOURCE_MAX_PAGES: '9',
});
const clients = { mongo: {}, redis: {}, log: {} } as unknown as Pick<ActivityDeps, 'mongo' | 'redis' | 'log'>;

describe('activitySettingsFromConfig', () => {
  it('fills every section from config', () => {
    expect(activitySettingsFromConfig(config)).toEqual({
      tenantSync: { pageSize: 123, progressEveryMs: 200 },
      reconcile: { spillDir: '/var/spill' },
      migrations: { batchSize: 250, retentionMs: 120_000 },
      clientUpsert: { dir: 'cfg-dir' },
    });
  });

  it('gives the defaults the activities document when config is the default', () => {
    expect(activitySettingsFromConfig(loadConfig({}))).toEqual({
      tenantSync: { pageSize: 500, progressEveryMs: 5_000 },
      reconcile: { spillDir: '.data/reconcile-spill' },
      migrations: { batchSize: 1000, retentionMs: 7 * 24 * 3_600_000 },
      clientUpsert: { dir: 'clients' },
    });
  });

  it('merges overrides field by field, keeping what they do not name', () => {
    const onBatch = () => undefined;
    const overrides = { tenantSync: { pageSize: 5 }, migrations: { batchSize: 10, onBatch }, reconcile: { workerId: 'w1' } };
    const s = activitySettingsFromConfig(config, overrides);
    expect(s.tenantSync).toEqual({ pageSize: 5, progressEveryMs: 200 });
    expect(s.migrations).toEqual({ batchSize: 10, retentionMs: 120_000, onBatch });
    expect(s.reconcile).toEqual({ spillDir: '/var/spill', workerId: 'w1' });
    expect(s.clientUpsert).toEqual({ dir: 'cfg-dir' });
    expect(overrides.tenantSync).toEqual({ pageSize: 5 });
  });
});

describe('activityDepsFromConfig', () => {
  it('adds the SECRETS_KEY keyring and the SOURCE_* outbound policy to the clients', () => {
    const deps = activityDepsFromConfig(config, clients);
    expect(deps.mongo).toBe(clients.mongo);
    expect(deps.secrets.keyIds).toEqual(['k7']);
    expect(deps.outbound).toEqual({ allowedHosts: ['a.example', 'b.example:8080'], maxPageBytes: 2048, maxPageRecords: 7, maxPages: 9 });
  });

  it('keeps a keyring or policy the caller brings; an undefined keyring means the config one', () => {
    const own = parseKeyring(`mine:${randomBytes(32).toString('base64')}`);
    const kept = activityDepsFromConfig(config, { ...clients, secrets: own, outbound: DEFAULT_OUTBOUND });
    expect(kept.secrets).toBe(own);
    expect(kept.outbound).toBe(DEFAULT_OUTBOUND);
    expect(activityDepsFromConfig(config, { ...clients, secrets: undefined }).secrets.keyIds).toEqual(['k7']);
  });
});
