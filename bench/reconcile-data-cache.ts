import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { GENERATOR_VERSION, generatePairInto, type DriftCounts, type GeneratedPair } from '../fixtures/reconcile-data';
import { ensureTools, REPO_ROOT } from '../infra/dev/ensure-tools';
import { freePort, startFerret } from '../infra/dev/servers';
import { benchStops, sampleRss } from './harness';

// bench:reconcile's generated data, made once per (records, drift, generator version) and kept
// as FerretDB's SQLite files (one file per database: the source and the target are two
// databases) under .data/bench-reconcile/. A run copies them into its stack's fresh data folder
// before FerretDB starts, so a repairing run never changes the cached pristine target.

export const DATA_DBS = { source: 'bench_source', target: 'bench_target' } as const;
export const DATA_COLLECTION = 'records';

export interface CachedData extends GeneratedPair {
  generator: number;
  /** How long generating took when it was made (s), and FerretDB's max RSS meanwhile (MB). */
  generatedSeconds: number;
  generateFerretMaxRssMb: number;
  generatedAt: string;
  dir: string;
}

export interface CacheOptions {
  root?: string;
  records: number;
  fraction: number;
  drift: DriftCounts;
  regenerate: boolean;
  batch: number;
  inFlight: number;
  say: (m: string) => void;
}

export const cacheDirOf = (root: string, records: number, fraction: number) =>
  path.join(root, `${records}-${fraction}-g${GENERATOR_VERSION}`);

/** The cached pair for these parameters, generated first when missing (or when asked to). */
export async function cachedPair(o: CacheOptions): Promise<CachedData & { reused: boolean }> {
  const root = o.root ?? path.join(REPO_ROOT, '.data', 'bench-reconcile');
  const dir = cacheDirOf(root, o.records, o.fraction);
  const metaFile = path.join(dir, 'meta.json');
  if (!o.regenerate && existsSync(metaFile)) return { ...(JSON.parse(readFileSync(metaFile, 'utf8')) as CachedData), dir, reused: true };
  rmSync(dir, { recursive: true, force: true });
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const stops = benchStops(o.say);
  const dropDir = stops.add('the unfinished generated data', () => rmSync(partial, { recursive: true, force: true }));
  // FerretDB alone (no Temporal, no Redis): writing is all this phase does.
  const tools = await ensureTools(path.join(REPO_ROOT, process.env.TOOLS_DIR ?? '.tools'), o.say);
  const port = await freePort();
  const ferret = await startFerret({ bin: tools.ferretdb, port, dataDir: partial });
  const dropFerret = stops.add('the generating FerretDB', () => ferret.stop());
  const rss = sampleRss({ ferretdb: ferret.process.pid! });
  rss.phase('generate');
  const client = new MongoClient(`mongodb://127.0.0.1:${port}/`);
  const t0 = performance.now();
  let made: GeneratedPair;
  try {
    made = await generatePairInto(
      client.db(DATA_DBS.source).collection(DATA_COLLECTION),
      client.db(DATA_DBS.target).collection(DATA_COLLECTION),
      o.records,
      o.drift,
      { batch: o.batch, inFlight: o.inFlight },
    );
  } finally {
    await client.close();
    rss.stop();
    dropFerret();
    // A clean stop checkpoints SQLite's write-ahead log into the database files.
    await ferret.stop(120_000);
  }
  const generatedSeconds = (performance.now() - t0) / 1000;
  const meta: CachedData = {
    ...made,
    generator: GENERATOR_VERSION,
    generatedSeconds: Number(generatedSeconds.toFixed(1)),
    generateFerretMaxRssMb: rss.maxima().generate?.ferretdb ?? 0,
    generatedAt: new Date().toISOString(),
    dir,
  };
  writeFileSync(path.join(partial, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  renameSync(partial, dir);
  dropDir();
  return { ...meta, reused: false };
}

/** Copies the cached databases into a stack data folder (FerretDB's layout: <dataDir>/ferretdb/sqlite/<db>.sqlite*). */
export function restorePair(cacheDir: string, dataDir: string): { bytes: number } {
  const from = path.join(cacheDir, 'sqlite');
  const to = path.join(dataDir, 'ferretdb', 'sqlite');
  mkdirSync(to, { recursive: true });
  let bytes = 0;
  for (const name of readdirSync(from)) {
    if (!Object.values(DATA_DBS).some((db) => name.startsWith(`${db}.sqlite`))) continue;
    copyFileSync(path.join(from, name), path.join(to, name));
    bytes += statSync(path.join(to, name)).size;
  }
  if (bytes === 0) throw new Error(`no cached databases in ${from}: run with --regenerate`);
  return { bytes };
}
