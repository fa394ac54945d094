import type { AppConfig } from '../infra/config';
import { mintToken, Scopes } from '../infra/auth-token';

// The CLI talks to the running API with a short-lived token it mints from AUTH_JWT_SECRET.

export interface ApiCallOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  scopes?: string[];
  idempotencyKey?: string;
}

export function apiBase(config: AppConfig, override?: string): string {
  return override ?? process.env.SYNC_API_URL ?? `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}`;
}

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
    res = await fetch(`${base}${path}`, {
      method: o.method ?? 'GET',
      headers,
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
      signal: AbortSignal.timeout(120_000),
    });
  } catch (err) {
    throw new Error(
      `cannot reach the API at ${base} (${err instanceof Error ? err.message : String(err)}); is \`make up\` running? (--api or SYNC_API_URL to point elsewhere)`,
    );
  }
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}
