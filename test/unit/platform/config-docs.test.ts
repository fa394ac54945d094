import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, configShape, loadConfig } from '../../../infra/config';
import {
  configOptions,
  configTableIn,
  renderConfigTable,
  renderEnvExample,
  TABLE_END,
  TABLE_START,
  withConfigTable,
} from '../../../infra/config-docs';
import { CONFIG_GROUPS } from '../../../infra/config-options';

// The generator behind .env.example and the README table: every option documented from the
// schema itself, defaults taken from the schema, notes and groups kept, markdown kept intact.

describe('config documentation in the schema', () => {
  const options = configOptions();

  it('documents every option, each with its own schema, group and a sentence', () => {
    expect(options.map((o) => o.key).sort()).toEqual([...CONFIG_KEYS].sort());
    expect(new Set(CONFIG_KEYS.map((k) => configShape[k])).size).toBe(CONFIG_KEYS.length);
    for (const o of options) {
      expect(Object.keys(CONFIG_GROUPS), o.key).toContain(o.group);
      expect(o.description, o.key).toMatch(/^\S.{8,}\.$/);
    }
  });

  it('takes each default from the schema (the value an unset variable parses to)', () => {
    const byKey = new Map(options.map((o) => [o.key, o]));
    expect(byKey.get('PORT')?.default).toBe('3000');
    expect(byKey.get('USE_TEMPORAL_FOR_AUTH')?.default).toBe('false');
    expect(byKey.get('TEMPORAL_TENANTS')?.default).toBe('');
    expect(byKey.get('OTEL_EXPORTER_OTLP_ENDPOINT')?.default).toBeUndefined();
    const defaults = loadConfig({});
    const env = Object.fromEntries(options.filter((o) => o.default !== undefined).map((o) => [o.key, o.default!]));
    expect(loadConfig(env)).toEqual(defaults);
  });

  it('lists groups in CONFIG_GROUPS order, each once', () => {
    const seen = options.map((o) => o.group).filter((g, i, all) => g !== all[i - 1]);
    expect(seen).toEqual(Object.keys(CONFIG_GROUPS));
  });
});

describe('renderEnvExample', () => {
  const env = renderEnvExample();

  it('writes a section per group, the description, the notes, then KEY=default', () => {
    for (const title of Object.values(CONFIG_GROUPS)) expect(env).toContain(`\n\n# --- ${title} ---\n`);
    expect(env).toMatch(/# Generate one with: openssl rand -hex 32\nAUTH_JWT_SECRET=\n/);
    expect(env).toMatch(/# Generate one with: echo "k\$\(date \+%Y%m%d\):\$\(openssl rand -base64 32\)"\nSECRETS_KEY=\n/);
    expect(env).toMatch(/# API listen port\.\nPORT=3000\n/);
    expect(env.endsWith('TOOLS_DIR=.tools\n')).toBe(true);
  });

  it('wraps comments at 100 columns without losing a word', () => {
    const comments = env.split('\n').filter((l) => l.startsWith('#'));
    expect(comments.every((l) => l.length <= 100 || !l.slice(2).includes(' '))).toBe(true);
    const stuck = configOptions().find((o) => o.key === 'SYNC_STUCK_AFTER_MS')!;
    const block = env.slice(0, env.indexOf('\nSYNC_STUCK_AFTER_MS=')).split('\n');
    const joined = block
      .slice(block.findIndex((l) => l.startsWith('# A running sync')))
      .map((l) => l.slice(2))
      .join(' ');
    expect(joined).toBe(stuck.description);
  });
});

describe('renderConfigTable', () => {
  it('shows unset, empty and custom defaults in words, values in backticks, and escapes pipes', () => {
    const table = renderConfigTable([
      { key: 'PORT', group: 'process', description: 'A | B.', default: '3000' },
      { key: 'HOST', group: 'process', description: 'Unset.', default: undefined },
      { key: 'CORS_ORIGINS', group: 'hardening', description: 'Empty.', default: '' },
      { key: 'AUTH_JWT_SECRET', group: 'auth', description: 'Dev.', default: undefined, shownDefault: 'dev secret outside production' },
    ]);
    expect(table.split('\n')).toEqual([
      TABLE_START,
      '| variable | default | meaning |',
      '|---|---|---|',
      '| `PORT` | `3000` | A \\| B. |',
      '| `HOST` | unset | Unset. |',
      '| `CORS_ORIGINS` | empty | Empty. |',
      '| `AUTH_JWT_SECRET` | dev secret outside production | Dev. |',
      TABLE_END,
    ]);
  });

  it('replaces only the text between the markers', () => {
    const readme = `# T\n\n## Configuration\n\nintro $& text\n\n${TABLE_START}\n| old |\n${TABLE_END}\n\n## API (v1)\nrest\n`;
    const out = withConfigTable(readme, `${TABLE_START}\nnew $1\n${TABLE_END}`);
    expect(out).toBe(`# T\n\n## Configuration\n\nintro $& text\n\n${TABLE_START}\nnew $1\n${TABLE_END}\n\n## API (v1)\nrest\n`);
    expect(configTableIn(out)).toBe(`${TABLE_START}\nnew $1\n${TABLE_END}`);
    expect(() => withConfigTable('# no markers\n')).toThrow(/markers are missing/);
  });
});
