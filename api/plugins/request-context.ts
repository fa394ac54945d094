import fp from 'fastify-plugin';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context,
  isSpanContextValid,
  propagation,
  trace,
  type Span,
} from '@opentelemetry/api';
import type { FastifyReply, FastifyRequest } from 'fastify';

// Correlation and trace IDs: accepted from the caller when well-formed, created otherwise,
// returned on every response and bound to every log line of the request. Each request is a
// server span (child of an incoming traceparent); X-Trace-Id is its trace ID, and the route
// handler runs with it active, so the Temporal calls it makes join the trace.

const CORRELATION_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

declare module 'fastify' {
  interface FastifyRequest {
    correlationId: string;
    traceId: string;
    /** The request's server span (ended when the response is sent, or when the client goes away first). */
    span: Span;
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

/**
 * Runs `fn` when the client hangs up before the answer was sent. `reply.sent`, not the raw
 * response's `writableFinished`: injected requests (light-my-request) close without ever setting
 * that flag, and would count as aborted.
 */
export function onClientAbort(reply: FastifyReply, fn: () => void): void {
  reply.raw.once('close', () => {
    if (!reply.sent) fn();
  });
}

function routeOf(req: FastifyRequest): string {
  return req.routeOptions.url ?? 'unmatched';
}

const tracer = trace.getTracer('sync-orchestrator-api');

/**
 * The request's server span. Without a tracer provider (telemetry not started: tests, tools) the
 * API's span is invalid; then keep the caller's trace ID or make one, as a non-recording span
 * that still propagates to the workflows the request starts.
 */
function startRequestSpan(req: FastifyRequest): Span {
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  const span = tracer.startSpan(
    `${req.method} ${routeOf(req)}`,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'http.route': routeOf(req) } },
    parent,
  );
  if (isSpanContextValid(span.spanContext())) return span;
  const incoming = parseTraceparent(req.headers.traceparent);
  return trace.wrapSpanContext({
    traceId: incoming?.traceId ?? randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    traceFlags: TraceFlags.NONE,
  });
}

export default fp(
  async (app) => {
    app.decorateRequest('correlationId', '');
    app.decorateRequest('traceId', '');
    app.decorateRequest('span', undefined as unknown as Span);
    // Handlers (not hooks) start workflows: run each with the request span active.
    app.addHook('onRoute', (route) => {
      const handler = route.handler;
      route.handler = function (this: unknown, req, reply) {
        return context.with(trace.setSpan(context.active(), req.span), () => handler.call(this as never, req, reply));
      };
    });
    app.addHook('onRequest', async (req, reply) => {
      req.correlationId = String(req.id);
      req.span = startRequestSpan(req);
      req.traceId = req.span.spanContext().traceId;
      req.span.setAttribute('correlation_id', req.correlationId);
      req.log = req.log.child({ traceId: req.traceId });
      void reply.header('X-Correlation-Id', req.correlationId).header('X-Trace-Id', req.traceId);
      req.log.info({ type: 'REQUEST_INCOMING', method: req.method, route: routeOf(req) }, 'request');
      // A client that disconnects before the response is sent gets no onResponse: end the span
      // here. Not in onRequestAbort: Fastify fires that only while the request body is still
      // unread (req.aborted), so an aborted POST with a JSON body would never end its span.
      onClientAbort(reply, () => {
        req.span.setAttribute('http.request.aborted', true);
        req.span.setStatus({ code: SpanStatusCode.ERROR, message: 'client closed the connection before the response was sent' });
        req.span.end();
        req.log.info(
          { type: 'REQUEST_ABORTED', method: req.method, route: routeOf(req), durationMs: Math.round(reply.elapsedTime * 10) / 10 },
          'request aborted by the client',
        );
      });
    });
    app.addHook('onResponse', async (req, reply) => {
      // Not recording: ended already because the client went away (or telemetry is off: no-ops anyway).
      if (req.span.isRecording()) {
        req.span.setAttribute('http.response.status_code', reply.statusCode);
        if (reply.statusCode >= 500) req.span.setStatus({ code: SpanStatusCode.ERROR });
        req.span.end();
      }
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
