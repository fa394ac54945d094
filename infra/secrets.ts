import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { AppError } from '../shared/errors';

// Secrets at rest (tenant source tokens/URIs, reconcile URIs): AES-256-GCM under a keyring parsed
// from SECRETS_KEY. A stored value is `enc:v1:<keyId>:<iv>:<tag>:<ciphertext>` (base64url), bound
// by AAD to where it lives, so a value copied to another field or document does not decrypt.

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The key used outside production when SECRETS_KEY is unset (public: protects nothing real). */
export const DEV_SECRETS_KEY = `dev:${createHash('sha256').update('sync-orchestrator development secrets key').digest('base64')}`;

/** Thrown when SECRETS_KEY is malformed; names the entry, never its key bytes. */
export class SecretsKeyFormatError extends AppError {
  constructor(readonly problems: readonly string[]) {
    super('secrets-key-invalid', `SECRETS_KEY: ${problems.join('; ')}`);
  }
}

/** Thrown when a stored secret names a key ID that SECRETS_KEY no longer lists. */
export class SecretKeyUnknownError extends AppError {
  constructor(
    readonly keyId: string,
    readonly where: string,
  ) {
    super(
      'secret-key-unknown',
      `the secret at ${where} is encrypted with key '${keyId}', which SECRETS_KEY does not list (add it back after the new key to decrypt)`,
    );
  }
}

/** Thrown when a stored secret fails to decrypt: malformed, tampered with, or copied from elsewhere. */
export class SecretDecryptError extends AppError {
  constructor(
    readonly where: string,
    readonly keyId?: string,
  ) {
    super(
      'secret-undecryptable',
      `the secret at ${where} does not decrypt${keyId ? ` with key '${keyId}'` : ''}: it was changed, damaged or moved from another place`,
    );
  }
}

export interface Keyring {
  /** The key ID new values are encrypted with (the first in SECRETS_KEY). */
  readonly primaryKeyId: string;
  /** Every key ID that decrypts, primary first. */
  readonly keyIds: readonly string[];
  /** True when no SECRETS_KEY was given and the built-in development key is in use. */
  readonly usingDevKey: boolean;
  /** Encrypts `plain` under the primary key, bound to `where` (e.g. `tenant:acme:source.token`). */
  seal(plain: string, where: string): string;
  /** Decrypts a sealed value; a value not in the sealed format is legacy plaintext and returned as is. */
  reveal(stored: string, where: string): string;
  /** The value sealed under the primary key (unchanged when it already is). */
  reseal(stored: string, where: string): { value: string; changed: boolean };
}

/** Is this a value in the sealed format (not legacy plaintext)? */
export const isSealed = (v: unknown): v is string => typeof v === 'string' && v.startsWith(PREFIX);

/** The key ID a sealed value names; undefined for plaintext. */
export function sealedKeyId(v: string): string | undefined {
  return isSealed(v) ? v.slice(PREFIX.length).split(':', 1)[0] : undefined;
}

/** Every problem with a SECRETS_KEY value (empty when it parses), for config validation at boot. */
export function secretsKeyProblems(spec: string): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const entries = spec.split(',').map((s) => s.trim());
  entries.forEach((entry, i) => {
    const at = `entry ${i + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) return problems.push(`${at} must look like <keyId>:<base64 of 32 bytes>`);
    const id = entry.slice(0, colon);
    const b64 = entry.slice(colon + 1);
    if (!KEY_ID.test(id)) problems.push(`${at}: key ID must be 1-32 letters, digits, _ or -`);
    else if (seen.has(id)) problems.push(`${at}: key ID '${id}' is listed twice`);
    seen.add(id);
    if (!B64.test(b64) || Buffer.from(b64, 'base64').length !== KEY_BYTES)
      problems.push(`${at}${KEY_ID.test(id) ? ` ('${id}')` : ''}: key must be base64 of exactly 32 bytes`);
  });
  return problems;
}

const b64url = (b: Buffer) => b.toString('base64url');
const aadOf = (keyId: string, where: string) => Buffer.from(`${PREFIX}${keyId}|${where}`, 'utf8');

/** Parses SECRETS_KEY (`id:base64[,id:base64…]`); throws SecretsKeyFormatError. */
export function parseKeyring(spec: string, usingDevKey = false): Keyring {
  const problems = secretsKeyProblems(spec);
  if (problems.length) throw new SecretsKeyFormatError(problems);
  // Keys live in this closure only: logging or serialising a keyring shows no key bytes.
  const keys = new Map<string, Buffer>();
  for (const entry of spec.split(',').map((s) => s.trim())) {
    const colon = entry.indexOf(':');
    keys.set(entry.slice(0, colon), Buffer.from(entry.slice(colon + 1), 'base64'));
  }
  const keyIds = [...keys.keys()];
  const primaryKeyId = keyIds[0]!;

  function seal(plain: string, where: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', keys.get(primaryKeyId)!, iv);
    cipher.setAAD(aadOf(primaryKeyId, where));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${PREFIX}${primaryKeyId}:${b64url(iv)}:${b64url(cipher.getAuthTag())}:${b64url(ct)}`;
  }

  function reveal(stored: string, where: string): string {
    if (!isSealed(stored)) return stored;
    const parts = stored.slice(PREFIX.length).split(':');
    if (parts.length !== 4) throw new SecretDecryptError(where);
    const [keyId, iv, tag, ct] = parts as [string, string, string, string];
    const key = keys.get(keyId);
    if (!key) throw new SecretKeyUnknownError(keyId, where);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
      decipher.setAAD(aadOf(keyId, where));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretDecryptError(where, keyId);
    }
  }

  function reseal(stored: string, where: string): { value: string; changed: boolean } {
    if (sealedKeyId(stored) === primaryKeyId) {
      reveal(stored, where); // still proves it decrypts here
      return { value: stored, changed: false };
    }
    return { value: seal(reveal(stored, where), where), changed: true };
  }

  return { primaryKeyId, keyIds, usingDevKey, seal, reveal, reseal };
}

/** The keyring of this deployment: SECRETS_KEY, or the development key when unset (never in production: the config refuses). */
export function keyringFromConfig(config: { SECRETS_KEY?: string | undefined; NODE_ENV: string }): Keyring {
  if (config.SECRETS_KEY !== undefined) return parseKeyring(config.SECRETS_KEY);
  if (config.NODE_ENV === 'production') throw new SecretsKeyFormatError(['is required in production']);
  return parseKeyring(DEV_SECRETS_KEY, true);
}
