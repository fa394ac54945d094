import { PassThrough } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../infra/config';
import { createLogger } from '../../../infra/logger';
import {
  DEV_SECRETS_KEY,
  isSealed,
  keyringFromConfig,
  parseKeyring,
  SecretDecryptError,
  SecretKeyUnknownError,
  sealedKeyId,
  SecretsKeyFormatError,
} from '../../../infra/secrets';

// Secrets at rest: AES-256-GCM under a keyring from SECRETS_KEY, bound to where a value lives.

const key = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const TOKEN = 'upstream-token-4f1d9c';
const WHERE = 'tenant:acme:source.settings.token';

describe('secrets keyring', () => {
  it('round-trips, with a random IV each time and the key ID in the stored value', () => {
    const ring = parseKeyring(key('k1'));
    const a = ring.seal(TOKEN, WHERE);
    const b = ring.seal(TOKEN, WHERE);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^enc:v1:k1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]+$/);
    expect(a).not.toContain(TOKEN);
    expect(isSealed(a)).toBe(true);
    expect(sealedKeyId(a)).toBe('k1');
    expect(ring.reveal(a, WHERE)).toBe(TOKEN);
  });

  it('rotates: the old value decrypts while its key is listed after the new one, and fails clearly once removed', () => {
    const k1 = key('k1');
    const k2 = key('k2');
    const old = parseKeyring(k1).seal(TOKEN, WHERE);
    const both = parseKeyring(`${k2},${k1}`);
    expect(both.primaryKeyId).toBe('k2');
    expect(both.reveal(old, WHERE)).toBe(TOKEN);
    const fresh = both.reseal(old, WHERE);
    expect(fresh.changed).toBe(true);
    expect(sealedKeyId(fresh.value)).toBe('k2');
    expect(both.reseal(fresh.value, WHERE)).toEqual({ value: fresh.value, changed: false });
    const onlyNew = parseKeyring(k2);
    expect(onlyNew.reveal(fresh.value, WHERE)).toBe(TOKEN);
    const err = (() => {
      try {
        onlyNew.reveal(old, WHERE);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(SecretKeyUnknownError);
    expect(err!.message).toContain("key 'k1'");
    expect(err!.message).toContain(WHERE);
    expect(err!.message).not.toContain(old.split(':').at(-1));
  });

  it('refuses a value moved to another place (AAD) or tampered with, without printing it', () => {
    const ring = parseKeyring(key('k1'));
    const sealed = ring.seal(TOKEN, WHERE);
    expect(() => ring.reveal(sealed, 'tenant:other:source.settings.token')).toThrow(SecretDecryptError);
    const parts = sealed.split(':');
    const ct = Buffer.from(parts[5]!, 'base64url');
    ct[0] = ct[0]! ^ 1;
    const tampered = [...parts.slice(0, 5), ct.toString('base64url')].join(':');
    expect(() => ring.reveal(tampered, WHERE)).toThrow(SecretDecryptError);
    const tag = Buffer.from(parts[4]!, 'base64url');
    tag[3] = tag[3]! ^ 0x80;
    expect(() => ring.reveal([...parts.slice(0, 4), tag.toString('base64url'), parts[5]].join(':'), WHERE)).toThrow(
      /does not decrypt with key 'k1'/,
    );
    // Same key ID, other key bytes: the auth tag fails.
    expect(() => parseKeyring(key('k1')).reveal(sealed, WHERE)).toThrow(SecretDecryptError);
    try {
      ring.reveal(tampered, WHERE);
    } catch (e) {
      expect((e as Error).message).not.toContain(parts[5]!);
      expect((e as Error).message).not.toContain(TOKEN);
    }
  });

  it('reads legacy plaintext as is and reseals it under the primary key', () => {
    const ring = parseKeyring(key('k1'));
    expect(ring.reveal(TOKEN, WHERE)).toBe(TOKEN);
    const r = ring.reseal(TOKEN, WHERE);
    expect(r.changed).toBe(true);
    expect(ring.reveal(r.value, WHERE)).toBe(TOKEN);
  });

  it('validates SECRETS_KEY at boot with messages that never show key bytes', () => {
    const bytes = randomBytes(16).toString('base64');
    expect(() => parseKeyring(`k1:${bytes}`)).toThrow(SecretsKeyFormatError);
    const attempt = () => loadConfig({ SECRETS_KEY: `k1:${bytes},bad id:${randomBytes(32).toString('base64')},nocolon` });
    expect(attempt).toThrow(/SECRETS_KEY: entry 1 \('k1'\): key must be base64 of exactly 32 bytes/);
    expect(attempt).toThrow(/entry 2: key ID must be/);
    expect(attempt).toThrow(/entry 3 must look like <keyId>:<base64 of 32 bytes>/);
    try {
      attempt();
    } catch (e) {
      expect((e as Error).message).not.toContain(bytes);
    }
    const k = key('k1');
    expect(() => loadConfig({ SECRETS_KEY: `${k},${k}` })).toThrow(/key ID 'k1' is listed twice/);
    expect(keyringFromConfig(loadConfig({ SECRETS_KEY: `${key('a')},${key('b')}` })).keyIds).toEqual(['a', 'b']);
  });

  it('uses the built-in development key only outside production', () => {
    const dev = keyringFromConfig(loadConfig({}));
    expect(dev.usingDevKey).toBe(true);
    expect(dev.primaryKeyId).toBe(DEV_SECRETS_KEY.split(':')[0]);
    expect(() => keyringFromConfig({ NODE_ENV: 'production', SECRETS_KEY: undefined })).toThrow(/required in production/);
  });

  it('shows no key bytes when a keyring is logged or serialised', () => {
    const spec = key('k1');
    const ring = parseKeyring(spec);
    expect(JSON.stringify(ring)).not.toContain(spec.split(':')[1]);
  });
});

describe('log redaction of secret shapes', () => {
  it('never writes a tenant source secret or a batch URI, sealed or not', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (b: Buffer) => (text += b.toString()));
    const log = createLogger({ name: 'test', destination: out });
    const sealed = parseKeyring(key('k1')).seal(TOKEN, WHERE);
    log.info({ source: { kind: 'http', settings: { baseUrl: 'http://x', token: TOKEN } } }, 'a');
    log.info({ tenant: { source: { kind: 'mongodb', settings: { uri: 'mongodb://u:pw-9@h/', database: 'd' } } } }, 'b');
    log.info({ batch: { secrets: { sourceUri: 'mongodb://u:pw-8@h/' } }, secrets: { targetUri: sealed } }, 'c');
    log.info({ sourceUri: 'mongodb://u:pw-7@h/', uri: 'mongodb://u:pw-6@h/' }, 'd');
    await new Promise((r) => setImmediate(r));
    for (const s of [TOKEN, 'pw-9', 'pw-8', 'pw-7', 'pw-6', sealed]) expect(text).not.toContain(s);
    expect(text.trim().split('\n')).toHaveLength(4);
  });
});
