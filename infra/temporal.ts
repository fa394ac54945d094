import { Client, Connection } from '@temporalio/client';
import type { AppConfig } from './config';
import { workflowClientInterceptors } from './temporal-interceptors';

export interface TemporalHandle {
  client: Client;
  connection: Connection;
  close(): Promise<void>;
}

/**
 * Lazy connection: the API starts even when Temporal is down (login falls back to direct
 * sync), and connects on first use.
 */
export function createTemporalClient(
  config: Pick<AppConfig, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'> & Partial<Pick<AppConfig, 'TEMPORAL_PRIORITY' | 'TEMPORAL_LANES'>>,
): TemporalHandle {
  const connection = Connection.lazy({ address: config.TEMPORAL_ADDRESS, connectTimeout: 2_000 });
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
