import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CLIENT_KEY_RE } from '../../shared/client-upsert';
import { fileHashOf, validateClientConfig, type ClientConfig, type ConfigIssue } from './config';

// Client configs as files: clients/<key>.json. `peek` reads and hashes a file without parsing it,
// cached by (mtime, size): a no-op run costs a stat per file in a warm worker, a read and a hash
// in a fresh one. `load` parses and validates — only what the planner found changed, once per
// file version (the step activities of a run share it).

export interface PeekedConfig {
  key: string;
  file: string;
  hash: string;
}

export interface LoadedConfig extends PeekedConfig {
  /** The parsed file (absent when it is not JSON). */
  raw?: unknown;
  /** Absent when the config is unusable; `issues` says why. */
  config?: ClientConfig;
  issues: ConfigIssue[];
}

interface Entry {
  mtimeMs: number;
  size: number;
  peeked: PeekedConfig;
  loaded?: LoadedConfig;
}

const CACHE_LIMIT = 2_000;

/** Keys of every *.json file in a clients folder, sorted (a missing folder has none). The CLI's `clients validate` lists them the same way. */
export async function listConfigKeys(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .map((n) => n.slice(0, -5))
    .sort();
}

export function createClientConfigStore(dir: string) {
  const root = path.resolve(dir);
  const cache = new Map<string, Entry>();

  async function entry(key: string): Promise<{ e: Entry; text?: string } | undefined> {
    const file = path.join(root, `${key}.json`);
    let st;
    try {
      st = await stat(file);
    } catch {
      cache.delete(key);
      return undefined;
    }
    const hit = cache.get(key);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return { e: hit };
    const text = await readFile(file, 'utf8');
    const e: Entry = { mtimeMs: st.mtimeMs, size: st.size, peeked: { key, file, hash: fileHashOf(text) } };
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, e);
    return { e, text };
  }

  function parse(key: string, peeked: PeekedConfig, text: string): LoadedConfig {
    if (!CLIENT_KEY_RE.test(key)) {
      return {
        ...peeked,
        issues: [
          {
            clientKey: key,
            field: '(file)',
            problem: `file name '${key}.json' is not a valid client key (1-48 lowercase letters, digits, _ or -)`,
          },
        ],
      };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      // Only the position: V8's message quotes the text around it, which may hold an e-mail or a secret.
      const at = /position (\d+)/.exec(err instanceof Error ? err.message : '');
      return { ...peeked, issues: [{ clientKey: key, field: '(file)', problem: `not valid JSON${at ? ` (at character ${at[1]})` : ''}` }] };
    }
    const { config, issues } = validateClientConfig(raw, key);
    return config ? { ...peeked, raw, config, issues } : { ...peeked, raw, issues };
  }

  return {
    dir: root,
    /** Keys of every *.json file in the folder, sorted. */
    listKeys: () => listConfigKeys(root),
    /** The file's hash, without parsing it; undefined when the file does not exist. */
    async peek(key: string): Promise<PeekedConfig | undefined> {
      return (await entry(key))?.e.peeked;
    },
    /** Reads, parses and validates; undefined when the file does not exist. */
    async load(key: string): Promise<LoadedConfig | undefined> {
      const found = await entry(key);
      if (!found) return undefined;
      const { e } = found;
      if (!e.loaded) {
        let text = found.text;
        if (text === undefined) {
          text = await readFile(e.peeked.file, 'utf8');
          // Rewritten since it was peeked: the new bytes get their own hash (a planned run then sees the change).
          const hash = fileHashOf(text);
          if (hash !== e.peeked.hash) e.peeked = { ...e.peeked, hash };
        }
        e.loaded = parse(key, e.peeked, text);
      }
      return e.loaded;
    },
  };
}

export type ClientConfigStore = ReturnType<typeof createClientConfigStore>;
