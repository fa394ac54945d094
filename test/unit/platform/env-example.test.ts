import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, loadConfig } from '../../../infra/config';
import { configTableIn, renderConfigTable, renderEnvExample } from '../../../infra/config-docs';

// .env.example and the README's configuration table are generated from the schema in
// infra/config.ts: these fail when either file differs from what the generator would write.

const regenerate = 'run: npx tsx infra/dev/gen-config-docs.ts';
const text = readFileSync(new URL('../../../.env.example', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const entries = new Map([...text.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));

describe('.env.example', () => {
  it('is exactly what the generator writes from infra/config.ts', () => {
    expect(text, regenerate).toBe(renderEnvExample());
  });

  it('lists every configuration key once, as KEY= at the start of a line', () => {
    expect([...entries.keys()]).toEqual(CONFIG_KEYS);
    expect([...text.matchAll(/^[A-Za-z_][A-Za-z0-9_]*=/gm)]).toHaveLength(CONFIG_KEYS.length);
  });

  it('validates as a configuration', () => {
    expect(() => loadConfig(Object.fromEntries(entries))).not.toThrow();
  });
});

describe('README configuration table', () => {
  const table = configTableIn(readme);

  it('sits between its markers inside "## Configuration"', () => {
    expect(table, 'the <!-- config-table … --> markers are missing').toBeDefined();
    const section = readme.slice(readme.indexOf('\n## Configuration\n'));
    expect(section.slice(0, section.indexOf('\n## ', 1))).toContain(table);
  });

  it('is exactly what the generator writes from infra/config.ts', () => {
    expect(table, regenerate).toBe(renderConfigTable());
  });

  it('has one row per option, in .env.example order', () => {
    const keys = [...(table ?? '').matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(keys).toEqual([...entries.keys()]);
  });
});
