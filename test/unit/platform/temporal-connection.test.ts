import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../infra/config';
import { temporalConnectionOptions } from '../../../infra/temporal';

// TLS and API key of the Temporal connection (Temporal Cloud): one mapping from config for the
// API's client and the worker's connection.

const dir = mkdtempSync(path.join(tmpdir(), 'temporal-tls-'));
const file = (name: string, text: string) => {
  writeFileSync(path.join(dir, name), text);
  return path.join(dir, name);
};
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('temporalConnectionOptions', () => {
  it('plain gRPC by default: the address only', () => {
    expect(temporalConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233' }))).toEqual({ address: 'temporal:7233' });
  });

  it('an API key turns TLS on and is passed as is', () => {
    const o = temporalConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k-123' }));
    expect(o).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: {}, apiKey: 'k-123' });
  });

  it('mTLS: the certificate pair, the CA and the server name are read from their files', () => {
    const o = temporalConnectionOptions(
      loadConfig({
        TEMPORAL_TLS_CERT_PATH: file('c.pem', 'CERT'),
        TEMPORAL_TLS_KEY_PATH: file('k.pem', 'KEY'),
        TEMPORAL_TLS_CA_PATH: file('ca.pem', 'CA'),
        TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
      }),
    );
    expect(o.apiKey).toBeUndefined();
    expect(Buffer.from(o.tls!.clientCertPair!.crt).toString()).toBe('CERT');
    expect(Buffer.from(o.tls!.clientCertPair!.key).toString()).toBe('KEY');
    expect(Buffer.from(o.tls!.serverRootCACertificate!).toString()).toBe('CA');
    expect(o.tls!.serverNameOverride).toBe('temporal.internal');
    expect(temporalConnectionOptions(loadConfig({ TEMPORAL_TLS: 'true' })).tls).toEqual({});
  });

  it('half a certificate pair is a config error; an unreadable file names its variable', () => {
    expect(() => loadConfig({ TEMPORAL_TLS_CERT_PATH: '/x.pem' })).toThrow(
      /TEMPORAL_TLS_CERT_PATH: and TEMPORAL_TLS_KEY_PATH are set together/,
    );
    const missing = loadConfig({ TEMPORAL_TLS: 'true', TEMPORAL_TLS_CA_PATH: path.join(dir, 'nope.pem') });
    expect(() => temporalConnectionOptions(missing)).toThrow(ConfigError);
    expect(() => temporalConnectionOptions(missing)).toThrow(/TEMPORAL_TLS_CA_PATH: cannot read .*nope\.pem \(ENOENT\)/);
  });
});
