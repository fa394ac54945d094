import { isDeepStrictEqual } from 'node:util';
import { emptyCounts, type ItemCounts } from '../../shared/client-upsert';
import { componentFqn, type ClientConfig } from './config';
import type { ClientMetrics } from './metrics';
import { DUPLICATE_KEY, type ClientStore, type StoredMenu } from './store';

// The menus and components steps. Menus: one document per client, replaced only when a menu
// changed (so they change all at once). Components: a registry shared by every client, by fqn
// (point reads and writes), plus the client's own list of fqns.

function menuSpecOf(m: StoredMenu): Record<string, unknown> {
  const { updatedAt, ...spec } = m;
  return spec;
}

export async function syncMenus(store: ClientStore, metrics: ClientMetrics, cfg: ClientConfig): Promise<{ counts: ItemCounts }> {
  const counts = emptyCounts();
  const now = new Date();
  const doc = await store.menus.findOne({ _id: cfg.key });
  const stored = new Map((doc?.menus ?? []).map((m) => [m.key, m]));
  const next: StoredMenu[] = cfg.menus.map((spec) => {
    const old = stored.get(spec.key);
    const change = !old ? 'added' : isDeepStrictEqual(menuSpecOf(old), { ...spec }) ? 'unchanged' : 'updated';
    counts[change] += 1;
    metrics.menuSyncTotal.add(1, { clientKey: cfg.key, menuKey: spec.key, change });
    return old && change === 'unchanged' ? old : { ...spec, updatedAt: now };
  });
  const wanted = new Set(cfg.menus.map((m) => m.key));
  for (const key of stored.keys())
    if (!wanted.has(key)) {
      counts.removed += 1;
      metrics.menuSyncTotal.add(1, { clientKey: cfg.key, menuKey: key, change: 'removed' });
    }
  // One document per client: the menus change all at once.
  if (!doc && next.length > 0) await store.menus.insertOne({ _id: cfg.key, menus: next, updatedAt: now });
  else if (doc && (counts.added || counts.updated || counts.removed))
    await store.menus.replaceOne({ _id: cfg.key }, { menus: next, updatedAt: now });
  return { counts };
}

export async function installComponents(store: ClientStore, metrics: ClientMetrics, cfg: ClientConfig): Promise<{ counts: ItemCounts }> {
  const started = Date.now();
  const counts = emptyCounts();
  const now = new Date();
  const set = await store.componentSets.findOne({ _id: cfg.key });
  const before = new Set(set?.fqns ?? []);
  const fqns = cfg.components.map(componentFqn);
  // Point reads and writes by fqn, all components at once.
  const changes = await Promise.all(
    cfg.components.map(async (spec, i): Promise<'added' | 'updated' | 'unchanged'> => {
      const fqn = fqns[i]!;
      let existing = await store.components.findOne({ _id: fqn });
      if (!existing) {
        try {
          await store.components.insertOne({ ...spec, _id: fqn, createdAt: now, updatedAt: now });
        } catch (err) {
          if ((err as { code?: number }).code !== DUPLICATE_KEY) throw err;
          existing = await store.components.findOne({ _id: fqn }); // installed meanwhile by another client's run
        }
      }
      let change: 'added' | 'updated' | 'unchanged' = before.has(fqn) ? 'unchanged' : 'added';
      if (existing) {
        const { _id, createdAt, updatedAt, ...old } = existing;
        if (!isDeepStrictEqual(old, { ...spec })) {
          // The registry is shared: the same fqn with another definition — last writer wins.
          await store.components.replaceOne({ _id: fqn }, { ...spec, createdAt, updatedAt: now });
          if (change === 'unchanged') change = 'updated';
        }
      }
      return change;
    }),
  );
  changes.forEach((change, i) => {
    counts[change] += 1;
    metrics.componentInstallTotal.add(1, { clientKey: cfg.key, componentFqn: fqns[i]!, change });
  });
  counts.removed = [...before].filter((f) => !fqns.includes(f)).length;
  if (!set && fqns.length > 0) await store.componentSets.insertOne({ _id: cfg.key, fqns, updatedAt: now });
  else if (set && !isDeepStrictEqual(set.fqns, fqns)) await store.componentSets.replaceOne({ _id: cfg.key }, { fqns, updatedAt: now });
  metrics.componentInstallDuration.record((Date.now() - started) / 1000, { clientKey: cfg.key });
  return { counts };
}
