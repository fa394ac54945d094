import type { Command } from 'commander';
import type { AppConfig } from '../infra/config';
import { loadConfigOrExit } from '../infra/config';
import { apiClientFor, type ApiClient } from './api-client';
import { failWith } from './fail';

// What every CLI command prints and how it runs against the API: one table layout, JSON output,
// and one action wrapper (config, the API client for the global --api, failures via failWith).

/** Pretty JSON on stdout. */
export const printJson = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

/** Left-aligned text columns, right-aligned numbers; two spaces between columns; a rule under the header. */
export function table(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(cells[0]!), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

/**
 * A command's action against the API: Commander passes the arguments, the options, then the
 * Command itself (read for the global --api). `onError` may handle a failure first; the rest
 * stops the CLI through failWith.
 */
export function apiAction<A extends unknown[]>(
  fn: (api: ApiClient, ...args: A) => Promise<void>,
  onError?: (err: unknown) => void,
  config: () => AppConfig = loadConfigOrExit,
) {
  return async (...args: A) => {
    const cmd = args.at(-1) as Command;
    try {
      await fn(apiClientFor(cmd, config()), ...args);
    } catch (err) {
      onError?.(err);
      failWith(err);
    }
  };
}
