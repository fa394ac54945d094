import { readFileSync, writeFileSync } from 'node:fs';
import { renderEnvExample, withConfigTable } from '../config-docs';

// Writes .env.example and the README's configuration table from the schema in infra/config.ts.
// Run: npx tsx infra/dev/gen-config-docs.ts           (writes what differs)
//      npx tsx infra/dev/gen-config-docs.ts --check   (writes nothing; exits 1 naming stale files)

const files = [
  { name: '.env.example', url: new URL('../../.env.example', import.meta.url), render: () => renderEnvExample() },
  { name: 'README.md', url: new URL('../../README.md', import.meta.url), render: (current: string) => withConfigTable(current) },
] as const;

const check = process.argv.includes('--check');
const stale: string[] = [];
for (const f of files) {
  const current = readFileSync(f.url, 'utf8');
  const wanted = f.render(current);
  if (wanted === current) continue;
  stale.push(f.name);
  if (!check) writeFileSync(f.url, wanted);
}

if (stale.length === 0) process.stdout.write('.env.example and the README configuration table match infra/config.ts.\n');
else if (check) {
  process.stderr.write(`Out of date with infra/config.ts: ${stale.join(', ')}. Run: npx tsx infra/dev/gen-config-docs.ts\n`);
  process.exit(1);
} else process.stdout.write(`Rewrote from infra/config.ts: ${stale.join(', ')}\n`);
