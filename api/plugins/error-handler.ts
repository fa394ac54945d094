import fp from 'fastify-plugin';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { MongoNetworkError, MongoServerSelectionError } from 'mongodb';
import {
  AppError,
  DependencyUnavailableError,
  isAnsweredAsIs,
  NotFoundError,
  RequestRejectedError,
  ValidationError,
} from '../../shared/errors';
import { redactConnectionDetails } from '../../shared/redact';

// Maps every error to RFC 9457 problem+json by its code (shared/error-codes.ts). 5xx details stay in the logs, never in the body.

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** Answered for anything the API does not answer as itself: a code whose status is 500, or no code at all. */
class InternalError extends AppError {
  constructor() {
    super('internal-error', 'An unexpected error occurred; quote the correlationId when reporting it');
  }
}

export function sendProblem(req: FastifyRequest, reply: FastifyReply, err: AppError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) void reply.header(k, v);
  const detail = err.status >= 500 ? redactConnectionDetails(err.message) : err.message;
  return reply
    .code(err.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send({
      type: err.type,
      title: err.title,
      status: err.status,
      detail,
      correlationId: req.correlationId,
      instance: req.url.split('?')[0],
      ...err.extras,
    });
}

/** Fastify's own refusals (schema validation, body limits, content types); undefined for anything else. */
function fromFastifyError(err: FastifyError): AppError | undefined {
  if (err.validation) {
    const details = err.validation.map((v) => ({
      path: `${err.validationContext ?? ''}${v.instancePath}`,
      message: v.message ?? 'invalid',
    }));
    const summary = details.map((d) => `${d.path || err.validationContext || 'request'} ${d.message}`).join('; ');
    return new ValidationError(summary.slice(0, 500), { errors: details.slice(0, 20) });
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return new RequestRejectedError(status, (err.code ?? 'bad-request').toLowerCase().replace(/_/g, '-'), err.message.slice(0, 300));
  }
  return undefined;
}

/**
 * MongoDB not answering (a network error, a pool cleared by the monitor, no server to select):
 * the platform's store is unavailable, which is a 503 to retry, not an internal error.
 */
function fromStoreOutage(err: unknown): AppError | undefined {
  if (err instanceof MongoNetworkError || err instanceof MongoServerSelectionError)
    return new DependencyUnavailableError('mongodb', 'MongoDB did not answer; retry shortly', { 'Retry-After': '1' });
  return undefined;
}

/** The problem answered for `error`, and whether it is one the API meant to answer. */
export function problemFor(error: unknown): { problem: AppError; answered: boolean } {
  const fastify = typeof error === 'object' && error !== null ? fromFastifyError(error as FastifyError) : undefined;
  const coded = error instanceof AppError ? error : (fastify ?? fromStoreOutage(error));
  return coded && isAnsweredAsIs(coded) ? { problem: coded, answered: true } : { problem: new InternalError(), answered: false };
}

export default fp(
  async (app) => {
    app.setErrorHandler((error: FastifyError | AppError, req, reply) => {
      const { problem, answered } = problemFor(error);
      if (!answered) req.log.error({ err: error }, 'unhandled error');
      else if (problem.status >= 500) req.log.warn({ err: error }, problem.message);
      return sendProblem(req, reply, problem);
    });
    app.setNotFoundHandler((req, reply) =>
      sendProblem(req, reply, new NotFoundError('Route', `${req.method} ${req.url.split('?')[0] ?? ''}`)),
    );
  },
  { name: 'error-handler', dependencies: ['request-context'] },
);
