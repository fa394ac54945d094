import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { ConfigError, type AppConfig } from './config';
import { workflowClientInterceptors } from './temporal-interceptors';

export interface TemporalHandle {
  client: Client;
  connection: Connection;
  close(): Promise<void>;
}

/** The config fields a Temporal connection is made of (the API's client and the worker's NativeConnection). */
export type TemporalConnectionConfig = Pick<AppConfig, 'TEMPORAL_ADDRESS'> &
  Partial<
    Pick<
      AppConfig,
      | 'TEMPORAL_TLS'
      | 'TEMPORAL_TLS_CERT_PATH'
      | 'TEMPORAL_TLS_KEY_PATH'
      | 'TEMPORAL_TLS_CA_PATH'
      | 'TEMPORAL_TLS_SERVER_NAME'
      | 'TEMPORAL_API_KEY'
    >
  >;

/**
 * Address, TLS and API key of a Temporal connection, one mapping for the client and the worker.
 * TLS is on when asked, or implied by an API key (Temporal Cloud refuses one in clear) or a client
 * certificate. Certificate files are read now: a missing one is a ConfigError naming it.
 */
export function temporalConnectionOptions(config: TemporalConnectionConfig): { address: string; tls?: TLSConfig; apiKey?: string } {
  const read = (key: 'TEMPORAL_TLS_CERT_PATH' | 'TEMPORAL_TLS_KEY_PATH' | 'TEMPORAL_TLS_CA_PATH') => {
    const file = config[key];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError([`${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
    }
  };
  const crt = read('TEMPORAL_TLS_CERT_PATH');
  const key = read('TEMPORAL_TLS_KEY_PATH');
  const ca = read('TEMPORAL_TLS_CA_PATH');
  const out: { address: string; tls?: TLSConfig; apiKey?: string } = { address: config.TEMPORAL_ADDRESS };
  if (config.TEMPORAL_TLS || config.TEMPORAL_API_KEY !== undefined || crt !== undefined) {
    const tls: TLSConfig = {};
    if (crt && key) tls.clientCertPair = { crt, key };
    if (ca) tls.serverRootCACertificate = ca;
    if (config.TEMPORAL_TLS_SERVER_NAME) tls.serverNameOverride = config.TEMPORAL_TLS_SERVER_NAME;
    out.tls = tls;
  }
  if (config.TEMPORAL_API_KEY !== undefined) out.apiKey = config.TEMPORAL_API_KEY;
  return out;
}

/**
 * Lazy connection: the API starts even when Temporal is down (login falls back to direct
 * sync), and connects on first use.
 */
export function createTemporalClient(
  config: TemporalConnectionConfig &
    Pick<AppConfig, 'TEMPORAL_NAMESPACE'> &
    Partial<Pick<AppConfig, 'TEMPORAL_PRIORITY' | 'TEMPORAL_LANES'>>,
): TemporalHandle {
  const connection = Connection.lazy({ ...temporalConnectionOptions(config), connectTimeout: 2_000 });
  const client = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    interceptors: { workflow: workflowClientInterceptors({ priority: config.TEMPORAL_PRIORITY, lanes: config.TEMPORAL_LANES }) },
  });
  return { client, connection, close: () => connection.close() };
}

/**
 * gRPC health check bounded by a deadline (an unreachable server can otherwise hang,
 * sdk-typescript#953). Not through `connection.ensureConnected()`: the SDK memoizes its promise,
 * rejection included, so one probe that timed out would report Temporal down until a restart.
 */
export async function pingTemporal(t: TemporalHandle, timeoutMs: number): Promise<void> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  try {
    await t.connection.withAbortSignal(ctrl.signal, async () => {
      const res = await t.connection.healthService.check({});
      if (res.status !== 1) throw new Error(`health status ${String(res.status)}`);
    });
  } finally {
    clearTimeout(timer);
  }
}
