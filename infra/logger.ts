import pino, { type Logger, type LoggerOptions } from 'pino';
import type { AppConfig } from './config';
import { currentLogFields } from './log-context';

export type { Logger } from 'pino';

/** Paths whose values never reach a log line. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["idempotency-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.authorization',
  '*.password',
  '*.passwordHash',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.secret',
  '*.apiKey',
  '*.connectionString',
  '*.uri',
  // Tenant sources and reconcile batches (infra/secrets.ts): sealed or not, never logged.
  '*.settings.token',
  '*.settings.uri',
  '*.*.settings.token',
  '*.*.settings.uri',
  'secrets',
  '*.secrets',
  '*.sourceUri',
  '*.targetUri',
  'sourceUri',
  'targetUri',
  'uri',
  'password',
  'token',
  'secret',
];

export interface LoggerSettings {
  /** Component name on every line (api, worker, cli, dev-stack). */
  name: string;
  level?: AppConfig['LOG_LEVEL'];
  pretty?: AppConfig['LOG_PRETTY'];
  nodeEnv?: AppConfig['NODE_ENV'];
  /** Write somewhere other than stdout (tests capture log output). */
  destination?: NodeJS.WritableStream;
}

/** The unit-of-work fields a logger does not bind itself (a JSON line must not repeat a key). */
export function unboundLogFields(fields: object, bound: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (!(k in bound)) out[k] = v;
  return out;
}

/** JSON logs by default; pretty on a TTY outside production (or when forced). */
export function createLogger(s: LoggerSettings): Logger {
  const options: LoggerOptions = {
    name: s.name,
    level: s.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // traceId, correlationId, workflowId and activityType of the activity running now
    // (infra/log-context.ts) — except those a child logger already binds, so no key repeats.
    mixin: (_obj, _level, logger) => unboundLogFields(currentLogFields(), logger.bindings()),
  };
  if (s.destination) return pino(options, s.destination as pino.DestinationStream);
  const pretty = s.pretty === 'true' || (s.pretty !== 'false' && s.nodeEnv !== 'production' && process.stdout.isTTY);
  if (pretty) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino(options);
}

export function loggerFromConfig(config: AppConfig, name: string): Logger {
  return createLogger({ name, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY, nodeEnv: config.NODE_ENV });
}
