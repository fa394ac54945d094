import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { createHttpMetrics } from '../../infra/metrics';
import type { Telemetry } from '../../infra/telemetry';
import { AppError } from '../errors';
import { problemResponse } from '../schemas';
import { onClientAbort } from './request-context';

// HTTP metrics (duration and count by method, route pattern and status; open connections) and
// GET /health/metrics in Prometheus text format. Like the other health routes it needs no
// token: scrapers carry none, the API listens on loopback by default, and no label holds a
// tenant or user (route patterns, never raw URLs).

export interface MetricsPluginOptions {
  /** The process's telemetry; without it (tests, tools) /health/metrics answers 404. */
  telemetry?: Telemetry;
}

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

export default fp<MetricsPluginOptions>(
  async (app, opts) => {
    const m = createHttpMetrics();
    app.server.on('connection', (socket) => {
      m.active.add(1);
      socket.once('close', () => m.active.add(-1));
    });
    const record = (req: FastifyRequest, reply: FastifyReply, status: string) => {
      const labels = { method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: status };
      m.duration.record(reply.elapsedTime / 1000, labels);
      m.requests.add(1, labels);
    };
    app.addHook('onResponse', async (req, reply) => record(req, reply, String(reply.statusCode)));
    // A client that hangs up before the answer never reaches onResponse: counted as 499 ("client
    // closed request", nginx's convention) so aborted logins are visible, not silently missing.
    app.addHook('onRequest', async (req, reply) => {
      onClientAbort(reply, () => record(req, reply, '499'));
    });

    app.get(
      '/health/metrics',
      {
        schema: {
          summary: 'Prometheus metrics of this API process',
          description:
            'Prometheus text exposition format 0.0.4. No token needed (like /health); keep the API on loopback or restrict /health/* at the proxy.',
          produces: ['text/plain'],
          response: {
            200: Type.String({ description: 'Prometheus text format' }),
            404: problemResponse('Telemetry is not started in this process'),
          },
        },
      },
      async (_req, reply) => {
        if (!opts.telemetry) throw new AppError('metrics-disabled', 'Telemetry is not started in this process');
        return reply.type(PROMETHEUS_TEXT).send(await opts.telemetry.metricsText());
      },
    );
  },
  { name: 'metrics', dependencies: ['request-context'] },
);
