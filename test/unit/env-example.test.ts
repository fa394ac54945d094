import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, loadConfig } from '../../infra/config';

// .env.example must list every variable infra/config.ts reads, so it cannot drift as keys are added.

const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
const entries = new Map([...text.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));

describe('.env.example', () => {
  it('lists every configuration key as KEY= at the start of a line', () => {
    const missing = CONFIG_KEYS.filter((k) => !new RegExp(`^${k}=`, 'm').test(text));
    expect(missing, 'add these to .env.example (npx tsx infra/dev/check-env-example.ts)').toEqual([]);
  });

  it('lists no key that infra/config.ts does not read', () => {
    expect([...entries.keys()].filter((k) => !CONFIG_KEYS.includes(k))).toEqual([]);
  });

  it('validates as a configuration', () => {
    expect(() => loadConfig(Object.fromEntries(entries))).not.toThrow();
  });
});
