import fp from 'fastify-plugin';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, NotFoundError } from '../errors';
import { redactConnectionDetails } from '../../shared/redact';

// Maps every error to RFC 9457 problem+json. 5xx details stay in the logs, never in the body.

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export function sendProblem(req: FastifyRequest, reply: FastifyReply, err: AppError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) void reply.header(k, v);
  return reply
    .code(err.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send({ type: err.type, title: err.title, status: err.status, detail: err.status >= 500 ? redactConnectionDetails(err.message) : err.message, correlationId: req.correlationId, instance: req.url.split('?')[0], ...err.extras });
}

function fromFastifyError(err: FastifyError): AppError | undefined {
  if (err.validation) {
    const details = err.validation.map((v) => ({ path: `${err.validationContext ?? ''}${v.instancePath}`, message: v.message ?? 'invalid' }));
    const summary = details.map((d) => `${d.path || err.validationContext || 'request'} ${d.message}`).join('; ');
    return new AppError(400, 'validation-error', 'Invalid request', summary.slice(0, 500), { errors: details.slice(0, 20) });
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return new AppError(status, (err.code ?? 'bad-request').toLowerCase().replace(/_/g, '-'), 'Invalid request', err.message.slice(0, 300));
  }
  return undefined;
}

export default fp(
  async (app) => {
    app.setErrorHandler((error: FastifyError | AppError, req, reply) => {
      const appErr = error instanceof AppError ? error : fromFastifyError(error);
      if (appErr) {
        if (appErr.status >= 500) req.log.warn({ err: error }, appErr.message);
        return sendProblem(req, reply, appErr);
      }
      req.log.error({ err: error }, 'unhandled error');
      return sendProblem(req, reply, new AppError(500, 'internal-error', 'Internal server error', 'An unexpected error occurred; quote the correlationId when reporting it'));
    });
    app.setNotFoundHandler((req, reply) => sendProblem(req, reply, new NotFoundError('Route', `${req.method} ${req.url.split('?')[0] ?? ''}`)));
  },
  { name: 'error-handler', dependencies: ['request-context'] },
);
