import { laneQueue } from '../shared/lanes';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTraceState, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { CancelledFailure, defaultPayloadConverter } from '@temporalio/common';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  type OpenTelemetrySinks,
  type SerializableSpan,
} from '@temporalio/interceptors-opentelemetry';
import { DefaultLogger, type ActivityInterceptorsFactory, type InjectedSinks, type LogLevel } from '@temporalio/worker';
import type { WorkflowInfo } from '@temporalio/workflow';
import { withLogFields } from '../infra/log-context';
import type { Logger } from '../infra/logger';
import { createWorkerMetrics, type WorkerMetrics } from '../infra/metrics';
import type { Telemetry } from '../infra/telemetry';
import { CORRELATION_HEADER, type TelemetrySinks } from '../shared/telemetry';

// The worker's half of tracing, metrics and log context: activity interceptors, the sinks the
// workflow interceptors report through, and the Temporal runtime logger routed to pino.

const require = createRequire(import.meta.url);

/** Bundled into the workflow code, OpenTelemetry first (outer): ours reads the trace IDs it adds. */
export const WORKFLOW_INTERCEPTOR_MODULES = [
  require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workflows/interceptors.ts'),
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

/**
 * Workflow spans are made inside the sandbox by the interceptor package's own (1.x) tracer and
 * arrive here serialized; the 2.x SDK reads the parent from `parentSpanContext` and the scope
 * from `instrumentationScope`, so rebuild them in that shape or exporters lose the parent link.
 */
function toReadableSpan(s: SerializableSpan, info: WorkflowInfo, telemetry: Telemetry): ReadableSpan {
  const {
    spanContext: { traceState, ...sc },
    parentSpanId,
    instrumentationLibrary,
    attributes,
    ...rest
  } = s;
  const spanContext = { ...sc, ...(traceState ? { traceState: createTraceState(traceState) } : {}) };
  return {
    ...rest,
    attributes: { ...attributes, temporalWorkflowId: info.workflowId, run_id: info.runId, workflowType: info.workflowType },
    spanContext: () => spanContext,
    ...(parentSpanId
      ? { parentSpanContext: { traceId: sc.traceId, spanId: parentSpanId, traceFlags: sc.traceFlags, isRemote: false } }
      : {}),
    instrumentationScope: instrumentationLibrary,
    resource: telemetry.resource,
  };
}

/** Sinks for the workflow interceptors: run outcomes → metrics, workflow spans → the process's span processor. */
export function workflowSinks(
  telemetry: Telemetry | undefined,
  m: WorkerMetrics = createWorkerMetrics(),
): InjectedSinks<TelemetrySinks & OpenTelemetrySinks> {
  return {
    workflowMetrics: {
      closed: {
        fn: (info, outcome) => {
          m.workflowCompletions.add(1, { workflow_type: info.workflowType, outcome });
          if (outcome === 'failed') m.workflowFailures.add(1, { workflow_type: info.workflowType });
        },
      },
    },
    exporter: {
      export: {
        fn: (info, spans) => {
          if (!telemetry) return;
          for (const s of spans) telemetry.spanProcessor.onEnd(toReadableSpan(s, info, telemetry));
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
