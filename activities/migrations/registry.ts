import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Db } from 'mongodb';
import type { Logger } from '../../infra/logger';
import { AppError } from '../../shared/errors';
import { isMigrationName, type VerifyOutcome } from '../../shared/migrations';

// What a migration file is, and how the files in migrations/ are found (ordered by name).

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

/** What `up`, `verify` and `down` receive. */
export interface MigrationContext {
  /** The platform database; in a dry run, a scratch copy holding only the declared collections. */
  db: Db;
  logger: Logger;
  /** True when running against the scratch copy (writes are real there, and thrown away). */
  dryRun: boolean;
  /** Human-readable change log; it lands in the state document and the dry-run report. */
  changes: string[];
  /** Documents per batch for helpers that stream a collection. */
  batchSize: number;
  /** Reports progress (apply progress bar) and heartbeats. */
  progress(done: number, total?: number, collection?: string): void;
  /** Aborted when the activity is cancelled. */
  signal: AbortSignal;
}

export interface Migration {
  /** Equal to the file name without extension; files run in name order. */
  name: string;
  description: string;
  /** Collections of the platform database `up` may change: each is backed up first and restored on failure. */
  collections: readonly string[];
  up(ctx: MigrationContext): Promise<void>;
  /** Runs after `up`; `ok: false` (or a throw) restores every backed-up collection. */
  verify(ctx: MigrationContext): Promise<VerifyOutcome>;
  /** Undoes effects the backups do not cover (indexes on undeclared collections …); runs before the restore. */
  down?(ctx: MigrationContext): Promise<void>;
}

export function defineMigration(m: Migration): Migration {
  return m;
}

/** Thrown when a migration file or a set of migrations is malformed. */
export class MigrationDefinitionError extends AppError {
  constructor(message: string) {
    super('migration-definition', message);
  }
}

/** Validates and orders a set of migrations (by name). */
export function createRegistry(migrations: readonly Migration[]) {
  const byName = new Map<string, Migration>();
  for (const m of migrations) {
    if (!isMigrationName(m.name)) throw new MigrationDefinitionError(`invalid migration name '${m.name}'`);
    if (byName.has(m.name)) throw new MigrationDefinitionError(`duplicate migration name '${m.name}'`);
    if (typeof m.up !== 'function' || typeof m.verify !== 'function')
      throw new MigrationDefinitionError(`migration '${m.name}' needs up() and verify()`);
    if (new Set(m.collections).size !== m.collections.length)
      throw new MigrationDefinitionError(`migration '${m.name}' declares a collection twice`);
    byName.set(m.name, m);
  }
  const ordered = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    list: (): readonly Migration[] => ordered,
    get: (name: string) => byName.get(name),
  };
}

export type MigrationRegistry = ReturnType<typeof createRegistry>;

const MIGRATION_FILE = /^[0-9][A-Za-z0-9_.-]*\.(ts|js|mjs)$/;

/** Imports every `migrations/<digits>…` file; the default export must be a migration named like its file. */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<MigrationRegistry> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => MIGRATION_FILE.test(f) && !f.endsWith('.d.ts')).sort();
  const migrations: Migration[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as { default?: Migration };
    const m = mod.default;
    const base = f.replace(/\.(ts|js|mjs)$/, '');
    if (!m || typeof m !== 'object') throw new MigrationDefinitionError(`${f}: the default export must be defineMigration({...})`);
    if (m.name !== base) throw new MigrationDefinitionError(`${f}: name '${m.name}' must equal the file name '${base}'`);
    migrations.push(m);
  }
  return createRegistry(migrations);
}

/** `migrate create <name>`: file name and template of a new migration. */
export function migrationTemplate(slug: string, now = new Date()): { fileName: string; name: string; source: string } {
  const clean = slug
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  if (!clean) throw new MigrationDefinitionError(`'${slug}' gives an empty migration name`);
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const name = `${stamp}-${clean}`;
  const source = `import { defineMigration } from './registry';

// ${name}: say in one line what changes and why.
// Declare every collection \`up\` changes: each is backed up first and restored when up or verify fails.
// FerretDB: an update scans the whole collection per document — change many documents with
// rewriteCollection(ctx, name, transform) from './rewrite' (stream → insert → swap).

export default defineMigration({
  name: '${name}',
  description: 'Describe what this migration changes and why',
  collections: [],
  async up(ctx) {
    // const n = (await ctx.db.collection('tenants').updateMany({ plan: { $exists: false } }, { $set: { plan: 'free' } })).modifiedCount;
    // ctx.changes.push(\`set plan on \${n} tenant(s)\`);
  },
  async verify(ctx) {
    // const missing = await ctx.db.collection('tenants').countDocuments({ plan: { $exists: false } });
    // return { ok: missing === 0, message: \`\${missing} tenant(s) without a plan\` };
    return { ok: true, message: 'nothing to verify' };
  },
  // async down(ctx) {},
});
`;
  return { fileName: `${name}.ts`, name, source };
}
