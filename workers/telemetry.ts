import { laneQueue } from '../shared/lanes';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { trace } from '@opentelemetry/api';
import { CancelledFailure, defaultPayloadConverter } from '@temporalio/common';
import { OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import { createServer } from 'node:net';
import {
  DefaultLogger,
  type ActivityInterceptorsFactory,
  type InjectedSinks,
  type LogLevel,
  type MetricsExporterConfig,
} from '@temporalio/worker';
import type { MetricsSource } from '../infra/telemetry';
import { withLogFields } from '../infra/log-context';
import type { Logger } from '../infra/logger';
import { createWorkerMetrics, type WorkerMetrics } from '../infra/metrics';
import { CORRELATION_HEADER, type TelemetrySinks } from '../shared/telemetry';
import { TRACE_CONTEXT_HEADER } from '../workflows/trace-context';

// The worker's half of tracing, metrics and log context: activity interceptors (their spans are
// the worker's only ones), the sink the workflow interceptors report run outcomes through, the
// Temporal runtime logger routed to pino, and the SDK runtime's own metrics joined to ours.

// The workflow bundle forwards the client's trace context under the header the activity
// interceptor reads: fail at start, not with broken traces, should the package rename it.
if (TRACE_CONTEXT_HEADER !== TRACE_HEADER) {
  throw new Error(`workflows/trace-context.ts forwards header ${TRACE_CONTEXT_HEADER}, the OpenTelemetry interceptors use ${TRACE_HEADER}`);
}

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Bundled into the workflow code: trace context forwarded to activities and children (no spans
 * made in the sandbox), then correlation IDs, priorities and run outcomes.
 */
export const WORKFLOW_INTERCEPTOR_MODULES = [
  path.resolve(here, '../workflows/trace-context.ts'),
  path.resolve(here, '../workflows/interceptors.ts'),
];

function correlationOf(headers: Record<string, unknown>, args: unknown[]): string | undefined {
  const h = headers[CORRELATION_HEADER];
  if (h) return defaultPayloadConverter.fromPayload<string>(h as never);
  const first = args[0] as { correlationId?: unknown } | undefined;
  return typeof first?.correlationId === 'string' ? first.correlationId : undefined;
}

/** Times and counts each attempt, and binds trace, correlation, workflow and activity type to its log lines. */
function activityMetricsAndLogs(m: WorkerMetrics): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const activityType = ctx.info.activityType;
        const fields = {
          // The OpenTelemetry interceptor (outer) made the RunActivity span active.
          traceId: trace.getActiveSpan()?.spanContext().traceId,
          correlationId: correlationOf(input.headers, input.args),
          workflowId: ctx.info.workflowExecution?.workflowId,
          activityType,
        };
        const t0 = performance.now();
        let outcome: 'completed' | 'failed' | 'cancelled' = 'completed';
        try {
          return await withLogFields(fields, () => next(input));
        } catch (err) {
          outcome = err instanceof CancelledFailure ? 'cancelled' : 'failed';
          if (outcome === 'failed') m.activityFailures.add(1, { activity_type: activityType });
          throw err;
        } finally {
          m.activityDuration.record((performance.now() - t0) / 1000, { activity_type: activityType, outcome });
        }
      },
    },
  });
}

/** Activity interceptors, outermost first. Call after startTelemetry. */
export function activityInterceptors(m: WorkerMetrics = createWorkerMetrics()): ActivityInterceptorsFactory[] {
  return [
    (ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) }),
    activityMetricsAndLogs(m),
  ];
}

/** Sinks of the workflow interceptors: run outcomes → metrics. */
export function workflowSinks(m: WorkerMetrics = createWorkerMetrics()): InjectedSinks<TelemetrySinks> {
  return {
    workflowMetrics: {
      closed: {
        fn: (info, outcome) => {
          m.workflowCompletions.add(1, { workflow_type: info.workflowType, outcome });
          if (outcome === 'failed') m.workflowFailures.add(1, { workflow_type: info.workflowType });
        },
      },
    },
  };
}

const pinoLevel: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** The Temporal runtime's logger (workflow `log`, Context.log, SDK messages) writing through pino. */
/** The bulk lane runs activities only by design: the SDK's warning that it polls no workflow tasks is expected there. */
export function expectedRuntimeNotice(entry: { message: string; meta?: Record<string, unknown> }): boolean {
  const queue = entry.meta?.taskQueue;
  return entry.message.startsWith('No workflows registered') && typeof queue === 'string' && queue.endsWith(laneQueue('', 'bulk'));
}

export function runtimeLoggerTo(log: Logger, level: LogLevel = 'INFO'): DefaultLogger {
  return new DefaultLogger(level, (entry) =>
    log[expectedRuntimeNotice(entry) ? 'debug' : pinoLevel[entry.level]]({ ...entry.meta, source: 'temporal-sdk' }, entry.message),
  );
}

/**
 * The Temporal SDK runtime's metrics (slots, pollers, schedule-to-start, task failures): its
 * Prometheus exporter on a loopback port, scraped into the worker's own /metrics answer. Named
 * like ours on purpose: counters end in `_total`, durations are seconds and say so
 * (`temporal_workflow_task_schedule_to_start_latency_seconds`), prefix `temporal_`.
 */
export function sdkMetricsExporter(bindAddress: string): MetricsExporterConfig {
  return {
    metricPrefix: 'temporal_',
    prometheus: { bindAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true },
  };
}

/** A free loopback port for the SDK's exporter (it takes an address, not port 0). */
export async function freeLoopbackPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** The SDK exporter's text, fetched within `timeoutMs` (a telemetry MetricsSource). */
export function sdkMetricsSource(bindAddress: string, timeoutMs = 2_000): MetricsSource {
  return {
    name: 'temporal sdk',
    async text() {
      const res = await fetch(`http://${bindAddress}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return res.text();
    },
  };
}
