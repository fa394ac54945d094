import type { Command } from 'commander';
import type { AppConfig } from '../infra/config';
import { mintToken, Scopes } from '../infra/auth-token';

// The CLI's one way into the platform: the running API over HTTP, with a short-lived token it
// mints from AUTH_JWT_SECRET (subject `cli`). Every command that reads or changes platform state
// goes through here, so it meets the same scope, tenant, validation, idempotency and rate-limit
// checks as any other caller. Only local work stays local: minting a token (`token`) and
// checking files before they are sent (`clients validate`, `migrate create`).

export interface ApiCallOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  body?: unknown;
  /** Query parameters; undefined values are left out. @default {} */
  query?: Record<string, string | number | boolean | undefined>;
  /** Scopes of the minted token. @default ['admin'] */
  scopes?: string[];
  idempotencyKey?: string;
  /** How long to wait for the answer. @default 120000 */
  timeoutMs?: number;
}

/** A problem+json answer (status ≥ 400) from the API. */
export class ApiProblemError extends Error {
  constructor(
    readonly status: number,
    readonly problem: { type?: string; title?: string; detail?: string; [key: string]: unknown },
  ) {
    super(`${problem.title ?? `HTTP ${status}`}: ${problem.detail ?? JSON.stringify(problem)}`);
    this.name = 'ApiProblemError';
  }
}

export function apiBase(config: AppConfig, override?: string): string {
  return override ?? process.env.SYNC_API_URL ?? `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}`;
}

function urlOf(base: string, path: string, query: ApiCallOptions['query'] = {}): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
  const s = qs.toString();
  return `${base}${path}${s ? `?${s}` : ''}`;
}

/** One call; answers `{status, body}` whatever the status (for commands that print the body as is). */
export async function callApi<T = unknown>(
  config: AppConfig,
  base: string,
  path: string,
  o: ApiCallOptions = {},
): Promise<{ status: number; body: T }> {
  const token = await mintToken(config.AUTH_JWT_SECRET, { sub: 'cli', scopes: o.scopes ?? [Scopes.admin], tenants: '*', ttlSeconds: 300 });
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  if (o.idempotencyKey) headers['idempotency-key'] = o.idempotencyKey;
  let res: Response;
  try {
    res = await fetch(urlOf(base, path, o.query), {
      method: o.method ?? 'GET',
      headers,
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
      signal: AbortSignal.timeout(o.timeoutMs ?? 120_000),
    });
  } catch (err) {
    throw new Error(
      `cannot reach the API at ${base} (${err instanceof Error ? err.message : String(err)}); is \`make up\` running? (--api or SYNC_API_URL to point elsewhere)`,
    );
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = { detail: text.slice(0, 500) };
  }
  return { status: res.status, body: body as T };
}

export interface ApiClient {
  readonly base: string;
  /** One call; a status ≥ 400 throws ApiProblemError (the CLI prints it with failWith). */
  request<T = unknown>(path: string, o?: ApiCallOptions): Promise<T>;
  /** One call; answers `{status, body}` whatever the status. */
  raw<T = unknown>(path: string, o?: ApiCallOptions): Promise<{ status: number; body: T }>;
}

export function createApiClient(config: AppConfig, override?: string): ApiClient {
  const base = apiBase(config, override);
  return {
    base,
    async request<T>(path: string, o: ApiCallOptions = {}): Promise<T> {
      const res = await callApi<T>(config, base, path, o);
      if (res.status >= 400) throw new ApiProblemError(res.status, (res.body ?? {}) as ApiProblemError['problem']);
      return res.body;
    },
    raw: <T>(path: string, o: ApiCallOptions = {}) => callApi<T>(config, base, path, o),
  };
}

/** The client for a command, honouring the global `--api <url>` option (or SYNC_API_URL). */
export function apiClientFor(cmd: Command, config: AppConfig): ApiClient {
  return createApiClient(config, cmd.optsWithGlobals<{ api?: string }>().api);
}
