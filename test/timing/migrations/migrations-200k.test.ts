import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupOps } from '../../../activities/migrations/backup';
import { seed } from '../../helpers/migrations';
import { connectTestDeps, uniqueId, type TestDeps } from '../../helpers/stack';

// Issue 6: backup and restore of 200k documents, verified by count and checksum. Heavy (about
// 2–3 min on FerretDB), so it runs in the serial project, alone.

describe('migration backup at scale', () => {
  let deps: TestDeps;
  beforeAll(async () => {
    deps = await connectTestDeps();
  });
  afterAll(async () => deps?.close());

  it('backs up and restores 200k documents with matching count and checksum', async () => {
    const db = deps.mongo.db;
    const col = uniqueId('huge').replace(/-/g, '_');
    const t0 = Date.now();
    await seed(db, col, 200_000, 2_000);
    const ops = createBackupOps(db, { batchSize: 2_000 });
    const t1 = Date.now();
    const ref = await ops.backup(col);
    const t2 = Date.now();
    const restored = await ops.restore(ref.backupId);
    const t3 = Date.now();
    process.stdout.write(`[200k] seed ${t1 - t0} ms, backup ${t2 - t1} ms, restore+verify ${t3 - t2} ms\n`);
    expect(ref.count).toBe(200_000);
    expect(restored).toMatchObject({ count: 200_000, checksum: ref.checksum, verified: true });
  }, 600_000);
});
