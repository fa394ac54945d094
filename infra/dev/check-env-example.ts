import { readFileSync } from 'node:fs';
import { CONFIG_KEYS } from '../config';

// Checks that .env.example lists every variable infra/config.ts reads (as `KEY=` at the start
// of a line). Run: npx tsx infra/dev/check-env-example.ts — exits 1 naming the missing keys.
// Keys in .env.example that config no longer reads are reported but do not fail.

const file = new URL('../../.env.example', import.meta.url);
const text = readFileSync(file, 'utf8');
const listed = new Set([...text.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)=/gm)].map((m) => m[1]));

const missing = CONFIG_KEYS.filter((k) => !listed.has(k));
const unknown = [...listed].filter((k) => k !== undefined && !CONFIG_KEYS.includes(k));

if (unknown.length > 0) {
  process.stderr.write(`.env.example lists variables infra/config.ts does not read: ${unknown.join(', ')}\n`);
}
if (missing.length > 0) {
  process.stderr.write(
    `.env.example is missing ${missing.length} variable(s) read by infra/config.ts:\n${missing.map((k) => `  - ${k}`).join('\n')}\n` +
      'Add each as `KEY=<default>` with the one-line description from infra/config.ts above it.\n',
  );
  process.exit(1);
}
process.stdout.write(`.env.example lists all ${CONFIG_KEYS.length} configuration variables.\n`);
