import { CONFIG_KEYS, configShape, type ConfigKey } from './config';
import { CONFIG_GROUPS, configDocs, type OptionDoc } from './config-options';

// Renders .env.example and the README's configuration table from the config schema's own
// documentation (`opt` in infra/config-options.ts). infra/dev/gen-config-docs.ts writes both;
// test/unit/platform/env-example.test.ts fails when either file differs from what is rendered here.

/** One documented option with its default as .env.example writes it. */
export interface ConfigOption extends OptionDoc {
  key: ConfigKey;
  /** The default as an environment string ('' = empty); undefined = unset (optional, no default). */
  default: string | undefined;
}

/** Where the generated table sits in README.md (inside the "## Configuration" section). */
export const TABLE_START = '<!-- config-table: generated from infra/config.ts by `npx tsx infra/dev/gen-config-docs.ts` -->';
export const TABLE_END = '<!-- /config-table -->';

const ENV_HEADER = [
  '# sync-orchestrator configuration: every variable infra/config.ts reads, with its default.',
  '# Copy to .env and edit; an empty value means "not set" (the default applies).',
  '# Generated from the schema in infra/config.ts by `npx tsx infra/dev/gen-config-docs.ts`: edit the',
  '# descriptions there, not here (test/unit/platform/env-example.test.ts fails when this file',
  '# differs).',
  '# docker-compose.yml also reads .env, and overrides the addresses (MONGODB_URI, REDIS_URL,',
  '# TEMPORAL_ADDRESS, HOST, PORT, NODE_ENV) to match its containers.',
] as const;

/** .env.example comment width. */
const WRAP_AT = 100;

/** A parsed default back as the string an environment would carry. */
function envText(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

/** Every option in documentation order (grouped as CONFIG_GROUPS lists the groups, schema order within one). */
export function configOptions(): ConfigOption[] {
  const groupOrder = Object.keys(CONFIG_GROUPS);
  const options = CONFIG_KEYS.map((key): ConfigOption => {
    const schema = configShape[key];
    const doc = configDocs.get(schema);
    if (!doc) throw new Error(`${key}: no documentation; declare it with opt(schema, group, description) in infra/config.ts`);
    const parsed = schema.safeParse(undefined);
    if (!parsed.success) throw new Error(`${key}: has no default and is not optional (every option must work unset)`);
    return { key, ...doc, default: envText(parsed.data) };
  });
  return options.sort((a, b) => groupOrder.indexOf(a.group) - groupOrder.indexOf(b.group));
}

/** Greedy word wrap into `# ` comment lines. */
function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.length > 1 && line.length + 1 + word.length > WRAP_AT) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  return [...lines, line];
}

/** The whole .env.example file. */
export function renderEnvExample(options: readonly ConfigOption[] = configOptions()): string {
  const out: string[] = [...ENV_HEADER];
  let group: string | undefined;
  for (const o of options) {
    if (o.group !== group) {
      group = o.group;
      out.push('', `# --- ${CONFIG_GROUPS[o.group]} ---`);
    }
    out.push(...comment(o.description), ...(o.notes ?? []).flatMap(comment), `${o.key}=${o.default ?? ''}`);
  }
  return `${out.join('\n')}\n`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

/** The README's default cell. */
function shownDefault(o: ConfigOption): string {
  if (o.shownDefault !== undefined) return o.shownDefault;
  if (o.default === undefined) return 'unset';
  if (o.default === '') return 'empty';
  return `\`${o.default}\``;
}

/** The README table, its markers included. */
export function renderConfigTable(options: readonly ConfigOption[] = configOptions()): string {
  const rows = options.map((o) => `| \`${o.key}\` | ${cell(shownDefault(o))} | ${cell(o.description)} |`);
  return [TABLE_START, '| variable | default | meaning |', '|---|---|---|', ...rows, TABLE_END].join('\n');
}

/** The table between the markers of `readme` (markers included); undefined when the markers are missing. */
export function configTableIn(readme: string): string | undefined {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END, start);
  return start < 0 || end < 0 ? undefined : readme.slice(start, end + TABLE_END.length);
}

/** `readme` with its configuration table replaced by the rendered one. */
export function withConfigTable(readme: string, table: string = renderConfigTable()): string {
  const current = configTableIn(readme);
  if (current === undefined) throw new Error(`README.md: the configuration table markers are missing (${TABLE_START} … ${TABLE_END})`);
  return readme.replace(current, () => table);
}
