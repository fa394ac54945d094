import type { Command } from 'commander';
import type { ApiClient } from './api-client';
import { apiAction, printJson, table } from './format';
import type { Page } from '../shared/paging';

// The `list` commands' one shape: `--limit`, `--cursor` (a page's nextCursor) or `--all` (every
// page), `--json`; a table with the next page's cursor under it. Rows come from the API's
// paged lists (shared/paging.ts), so the CLI pages exactly as any other caller.

export interface ListSpec<T> {
  path: string;
  /** Scopes of the CLI's token. @default ['admin'] */
  scopes?: string[];
  headers: readonly string[];
  row(item: T): Array<string | number>;
  /** Filters: option flags declared on the command, sent as query parameters. */
  filters?: Array<{ flag: string; query: string; description: string }>;
}

interface ListOptions {
  limit?: string;
  cursor?: string;
  all?: boolean;
  json?: boolean;
  [filter: string]: string | boolean | undefined;
}

async function fetchPages<T>(api: ApiClient, spec: ListSpec<T>, o: ListOptions): Promise<Page<T>> {
  const query: Record<string, string | undefined> = { limit: o.limit, cursor: o.cursor };
  for (const f of spec.filters ?? []) query[f.query] = o[f.query] as string | undefined;
  const first = await api.request<Page<T>>(spec.path, { query, ...(spec.scopes ? { scopes: spec.scopes } : {}) });
  if (!o.all) return first;
  const items = [...first.items];
  let page = first.page;
  while (page.hasNext && page.nextCursor) {
    const next = await api.request<Page<T>>(spec.path, {
      query: { ...query, cursor: page.nextCursor },
      ...(spec.scopes ? { scopes: spec.scopes } : {}),
    });
    items.push(...next.items);
    page = next.page;
  }
  return { items, page: { ...page, hasPrev: first.page.hasPrev } };
}

/** Adds `<parent> <name>` listing `spec.path`. */
export function addListCommand<T>(parent: Command, name: string, description: string, spec: ListSpec<T>): Command {
  const cmd = parent
    .command(name)
    .description(description)
    .option('--limit <n>', 'rows per page (1..200, default 50)')
    .option('--cursor <cursor>', 'the page after this cursor (printed under the previous page)')
    .option('--all', 'follow every page')
    .option('--json', 'print the JSON page ({items, page})');
  for (const f of spec.filters ?? []) cmd.option(f.flag, f.description);
  return cmd.action(
    apiAction(async (api, o: ListOptions) => {
      const page = await fetchPages(api, spec, o);
      if (o.json) return printJson(page);
      process.stdout.write(`${table(spec.headers, page.items.map(spec.row))}\n`);
      const total = page.page.total !== undefined ? ` of ${page.page.total}` : '';
      const more = page.page.hasNext && page.page.nextCursor ? `; next page: --cursor ${page.page.nextCursor}` : '';
      process.stdout.write(`${page.items.length} row(s)${total}${more}\n`);
    }),
  );
}
