import fp from 'fastify-plugin';
import { createHash, randomBytes } from 'node:crypto';
import stringify from 'safe-stable-stringify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../infra/auth-token';
import { createIdempotencyMetrics } from '../../infra/metrics';
import type { Redis } from '../../infra/redis';
import { keepRenewing } from '../../infra/renewal';
import { ConflictError, DependencyUnavailableError, UnprocessableError, ValidationError } from '../errors';

// Idempotency-Key on every POST (IETF httpapi draft; Stripe's semantics): records in Redis,
// scoped by key + token (subject and tenant set) + operation, with a SHA-256 fingerprint of the
// request. Replays the stored status and body; a changed payload → 422; a duplicate still
// running → 409. The key is claimed by the last preHandler — after auth, validation and every
// rate limit — and only executed requests (status < 400) are stored: any refusal releases it.
// Redis down: routes that require a key answer 503; the others run without replay protection.
// One key per record (`idem:<sha256>`), single-key commands only: any Redis topology.

export interface RouteIdempotency {
  /** Absent key → 400 (operations that must never run twice by accident). */
  required?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    idempotency?: RouteIdempotency;
  }
  interface FastifyRequest {
    /** The caller's Idempotency-Key, validated; routes may derive workflow IDs from it. */
    idempotencyKey?: string;
    idempotencyRecord?: { redisKey: string; fingerprint: string; stopRenewing?: () => Promise<void> };
  }
}

interface StoredRecord {
  state: 'pending' | 'done';
  fingerprint: string;
  /** A pending claim's holder (a random token): only it renews the claim. */
  claim?: string;
  status?: number;
  contentType?: string;
  body?: string;
}

export const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,255}$/;
/**
 * A pending claim is a lease: it expires this long after its last renewal, renewed every third of
 * it while the request runs (for at most PENDING_MAX_HOLD_MS), so a process killed mid-request
 * frees the key within seconds instead of holding it for minutes.
 */
export const PENDING_LEASE_MS = 5_000;
const PENDING_MAX_HOLD_MS = 30 * 60_000;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/**
 * How a route treats the Idempotency-Key: every POST reads it (required or not by its config);
 * undefined for routes that never read it. The hook below and the OpenAPI document both ask this.
 */
export function routeIdempotency(route: {
  method: string | readonly string[];
  config?: { idempotency?: RouteIdempotency };
}): RouteIdempotency | undefined {
  const methods = typeof route.method === 'string' ? [route.method] : route.method;
  return methods.includes('POST') ? (route.config?.idempotency ?? {}) : undefined;
}

/**
 * Whose an idempotency record is: the token's subject and its tenant set (sorted; `"*"` is
 * distinct from any list), so two tokens of one subject with other tenants never share one.
 */
export function idempotencyScope(p: Principal | undefined): string {
  if (!p) return 'anonymous';
  return JSON.stringify([p.sub, p.tenants === '*' ? '*' : [...p.tenants].sort()]);
}

/** Stable ID derived from an idempotency key (e.g. a batch ID), scoped like its record. */
export function idFromIdempotencyKey(prefix: string, principal: Principal | undefined, key: string): string {
  return `${prefix}-${createHash('sha256')
    .update(`${idempotencyScope(principal)}\n${key}`)
    .digest('hex')
    .slice(0, 24)}`;
}

/** The Redis key of an Idempotency-Key's record: scope, operation and key, hashed. */
export function idempotencyRedisKey(scope: string, method: string, routeUrl: string, key: string): string {
  return `idem:${createHash('sha256').update(`${scope}\n${method} ${routeUrl}\n${key}`).digest('hex')}`;
}

export function requestFingerprint(req: Pick<FastifyRequest, 'method' | 'params' | 'body'> & { routeUrl: string }): string {
  return createHash('sha256')
    .update(`${req.method}\n${req.routeUrl}\n${stringify(req.params ?? {})}\n${stringify(req.body ?? null)}`)
    .digest('hex');
}

export interface IdempotencyOptions {
  redis: Redis;
  ttlSeconds: number;
}

export default fp<IdempotencyOptions>(
  async (app, { redis, ttlSeconds }) => {
    app.decorateRequest('idempotencyKey', undefined);
    app.decorateRequest('idempotencyRecord', undefined);
    // Redis calls that failed (claim, save, release): the alert on an unavailable store counts these.
    const { storeErrors } = createIdempotencyMetrics();

    async function preHandler(req: FastifyRequest, reply: FastifyReply) {
      const cfg = req.routeOptions.config.idempotency ?? {};
      const raw = req.headers['idempotency-key'];
      if (raw === undefined) {
        if (cfg.required) throw new ValidationError('The Idempotency-Key header is required for this operation');
        return;
      }
      if (typeof raw !== 'string' || !IDEMPOTENCY_KEY.test(raw))
        throw new ValidationError('Idempotency-Key must be 1–255 visible ASCII characters');
      req.idempotencyKey = raw;
      const routeUrl = req.routeOptions.url ?? req.url;
      const scope = idempotencyScope(req.principal);
      const redisKey = idempotencyRedisKey(scope, req.method, routeUrl, raw);
      const fingerprint = requestFingerprint({ method: req.method, params: req.params, body: req.body, routeUrl });
      let stored: string | null;
      try {
        // One round trip: claim the key, or get what is stored (SET … NX GET, Redis ≥ 7).
        const pending = JSON.stringify({ state: 'pending', fingerprint, claim: randomBytes(9).toString('hex') } satisfies StoredRecord);
        stored = await redis.set(redisKey, pending, 'PX', PENDING_LEASE_MS, 'NX', 'GET');
        if (stored === null) {
          const stopRenewing = keepRenewing(
            async () => Number(await redis.eval(RENEW, 1, redisKey, pending, String(PENDING_LEASE_MS))) === 1,
            { everyMs: Math.floor(PENDING_LEASE_MS / 3), maxHoldMs: PENDING_MAX_HOLD_MS },
          );
          req.idempotencyRecord = { redisKey, fingerprint, stopRenewing };
          return;
        }
      } catch (err) {
        storeErrors.add(1, { operation: 'claim' });
        if (cfg.required) throw new DependencyUnavailableError('redis', 'Idempotency records are unavailable; retry later');
        req.log.warn({ err: String(err) }, 'idempotency store unavailable: request runs without replay protection');
        return;
      }
      const rec = JSON.parse(stored) as StoredRecord;
      if (rec.fingerprint !== fingerprint) throw new UnprocessableError('This Idempotency-Key was used with a different request payload');
      if (rec.state === 'pending') {
        void reply.header('Retry-After', '1');
        throw new ConflictError('A request with this Idempotency-Key is still being processed; retry later');
      }
      return reply
        .code(rec.status ?? 200)
        .header('Idempotent-Replayed', 'true')
        .type(rec.contentType ?? 'application/json; charset=utf-8')
        .send(rec.body ?? '');
    }

    // Last preHandler: this plugin registers after rate-limit (a declared dependency), so its
    // onRoute runs after the rate limiters have appended theirs.
    app.addHook('onRoute', (route) => {
      if (!routeIdempotency(route)) return;
      const existing = route.preHandler ? (Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]) : [];
      route.preHandler = [...existing, preHandler];
    });

    app.addHook('onSend', async (req, reply, payload) => {
      const rec = req.idempotencyRecord;
      if (!rec) return payload;
      req.idempotencyRecord = undefined;
      await rec.stopRenewing?.();
      const operation = reply.statusCode >= 400 ? 'release' : 'save';
      try {
        if (reply.statusCode >= 400) {
          // Not executed (a refusal) or failed: release the key so the same key may run later.
          await redis.del(rec.redisKey);
        } else {
          const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '';
          const done: StoredRecord = {
            state: 'done',
            fingerprint: rec.fingerprint,
            status: reply.statusCode,
            contentType: String(reply.getHeader('content-type') ?? ''),
            body,
          };
          await redis.set(rec.redisKey, JSON.stringify(done), 'EX', ttlSeconds);
        }
      } catch (err) {
        storeErrors.add(1, { operation });
        req.log.warn({ err: String(err) }, 'could not store the idempotent response');
      }
      return payload;
    });
  },
  { name: 'idempotency', dependencies: ['auth', 'rate-limit'] },
);
