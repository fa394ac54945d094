import fp from 'fastify-plugin';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

// Correlation and trace IDs: accepted from the caller when well-formed, created otherwise,
// returned on every response and bound to every log line of the request.

const CORRELATION_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

declare module 'fastify' {
  interface FastifyRequest {
    correlationId: string;
    traceId: string;
    /** Parent span ID from an incoming traceparent, if any. */
    parentSpanId?: string;
  }
}

/** genReqId for the Fastify factory: the request ID *is* the correlation ID. */
export function correlationIdFrom(req: { headers: Record<string, string | string[] | undefined> }): string {
  const h = req.headers['x-correlation-id'];
  return typeof h === 'string' && CORRELATION_ID.test(h) ? h : randomUUID();
}

export function parseTraceparent(value: unknown): { traceId: string; spanId: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined;
  return { traceId: m[1]!, spanId: m[2]! };
}

/** Users are logged by a short hash, never by their subject. */
export function hashSubject(sub: string): string {
  return createHash('sha256').update(sub).digest('hex').slice(0, 12);
}

function routeOf(req: FastifyRequest): string {
  return req.routeOptions.url ?? 'unmatched';
}

export default fp(
  async (app) => {
    app.decorateRequest('correlationId', '');
    app.decorateRequest('traceId', '');
    app.addHook('onRequest', async (req, reply) => {
      req.correlationId = String(req.id);
      const parent = parseTraceparent(req.headers.traceparent);
      req.traceId = parent?.traceId ?? randomBytes(16).toString('hex');
      req.parentSpanId = parent?.spanId;
      req.log = req.log.child({ traceId: req.traceId });
      void reply.header('X-Correlation-Id', req.correlationId).header('X-Trace-Id', req.traceId);
      req.log.info({ type: 'REQUEST_INCOMING', method: req.method, route: routeOf(req) }, 'request');
    });
    app.addHook('onResponse', async (req, reply) => {
      const user = (req as { principal?: { sub: string } }).principal?.sub;
      req.log.info(
        {
          type: 'REQUEST_COMPLETE',
          method: req.method,
          route: routeOf(req),
          status: reply.statusCode,
          durationMs: Math.round(reply.elapsedTime * 10) / 10,
          user: user ? hashSubject(user) : undefined,
        },
        'request completed',
      );
    });
  },
  { name: 'request-context' },
);
