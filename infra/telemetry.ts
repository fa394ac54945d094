import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { metrics } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HostMetrics } from '@opentelemetry/host-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AppError } from '../shared/errors';
import {
  BatchSpanProcessor,
  NoopSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { METER_NAME, MetricNames } from './metrics';

// One OpenTelemetry SDK per process (API or worker): Prometheus metrics, W3C trace context,
// spans exported over OTLP/HTTP when an endpoint is configured. Nothing is auto-instrumented:
// our spans are the API's request spans and the Temporal interceptors'. Other expositions of
// the same process (the worker's Temporal SDK metrics) are appended to ours: one scrape target.

/** Another Prometheus text exposition of this process, appended to ours (names must not overlap). */
export interface MetricsSource {
  /** Named in the comment line that stands in for it when it fails. */
  name: string;
  /** Its current text; a rejection leaves a comment and our metrics still answer. */
  text(): Promise<string>;
}

export interface TelemetryOptions {
  /** `service.name` of every span and metric (api, worker). */
  serviceName: string;
  /** Serve Prometheus text at http://`metricsHost`:`metricsPort`/metrics (the worker). @default no server */
  metricsPort?: number;
  /** @default '127.0.0.1' */
  metricsHost?: string;
  /** OTLP/HTTP base URL; spans go to `<url>/v1/traces`. @default no export */
  otlpEndpoint?: string;
  /** Export spans here instead, synchronously (tests pass an InMemorySpanExporter). */
  spanExporter?: SpanExporter;
}

export interface Telemetry {
  readonly serviceName: string;
  /** `http://host:port/metrics` when this process serves metrics itself. */
  readonly metricsUrl?: string;
  /** The current metrics in Prometheus text format (GET /health/metrics), added sources included. */
  metricsText(): Promise<string>;
  /** Appends another exposition to every later answer (the worker's Temporal SDK metrics). */
  addMetricsSource(source: MetricsSource): void;
  /** Flushes pending spans and stops the metrics server. */
  shutdown(): Promise<void>;
}

/** Thrown when a process starts telemetry twice: the OpenTelemetry API has one global of each kind. */
export class TelemetryAlreadyStartedError extends AppError {
  constructor(
    readonly running: string,
    readonly requested: string,
  ) {
    super(
      'telemetry-started-twice',
      `telemetry is already started in this process (service '${running}'); cannot start it again for '${requested}'`,
    );
  }
}

let current: Telemetry | undefined;

function spanProcessorFor(o: TelemetryOptions): SpanProcessor {
  if (o.spanExporter) return new SimpleSpanProcessor(o.spanExporter);
  if (o.otlpEndpoint)
    return new BatchSpanProcessor(
      new OTLPTraceExporter({ url: new URL('v1/traces', o.otlpEndpoint.endsWith('/') ? o.otlpEndpoint : `${o.otlpEndpoint}/`).href }),
    );
  // No export, but a real provider all the same: requests still get trace IDs that propagate to workflows and logs.
  return new NoopSpanProcessor();
}

/** Event-loop delay since the last scrape (mean, p99, max), from perf_hooks' histogram. */
function observeEventLoopLag(): () => void {
  const h = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  const gauge = metrics.getMeter(METER_NAME).createObservableGauge(MetricNames.eventLoopLag, {
    description: 'Event-loop delay since the previous scrape, by statistic (mean, p99, max)',
    unit: 's',
  });
  gauge.addCallback((r) => {
    if (h.count === 0) return;
    r.observe(h.mean / 1e9, { stat: 'mean' });
    r.observe(h.percentile(99) / 1e9, { stat: 'p99' });
    r.observe(h.max / 1e9, { stat: 'max' });
    h.reset();
  });
  return () => h.disable();
}

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

/** GET /metrics answering `text()`; anything else 404. Resolves once listening (a busy port rejects). */
async function serveMetrics(host: string, port: number, text: () => Promise<string>): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    text().then(
      (body) => res.writeHead(200, { 'content-type': PROMETHEUS_TEXT }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`# metrics failed: ${String(err)}\n`),
    );
  });
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

/** V8 heap in use as a share of its limit (--max-old-space-size): near 1, the process is about to die of OOM. */
function observeHeapUsage(): void {
  metrics
    .getMeter(METER_NAME)
    .createObservableGauge(MetricNames.heapUsage, { description: 'V8 heap used / heap size limit (0–1)' })
    .addCallback((r) => {
      const h = getHeapStatistics();
      r.observe(h.used_heap_size / h.heap_size_limit);
    });
}

/** Starts the SDK once per process (a second call throws TelemetryAlreadyStartedError). */
export async function startTelemetry(o: TelemetryOptions): Promise<Telemetry> {
  if (current) throw new TelemetryAlreadyStartedError(current.serviceName, o.serviceName);
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: `sync-orchestrator-${o.serviceName}`,
    [ATTR_SERVICE_VERSION]: process.env.npm_package_version ?? '0.1.0',
  });
  // The exporter only collects: our own server (below) answers, so that a busy port fails the
  // start and added sources join the same answer.
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const spanProcessor = spanProcessorFor(o);
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    instrumentations: [],
    metricReaders: [prometheus],
    spanProcessors: [spanProcessor],
    // Explicitly empty: otherwise the SDK sets up an OTLP log exporter from the environment.
    logRecordProcessors: [],
    // Context manager: the SDK's default, AsyncLocalStorage (spans stay active across awaits).
    textMapPropagator: new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  });
  sdk.start();
  new HostMetrics({ name: METER_NAME, metricGroups: ['process.cpu', 'process.memory'] }).start();
  const stopLagMonitor = observeEventLoopLag();
  observeHeapUsage();
  const serializer = new PrometheusSerializer();
  const sources: MetricsSource[] = [];
  const metricsText = async () => {
    const { resourceMetrics } = await prometheus.collect();
    const extra = await Promise.all(
      sources.map((s) => s.text().catch((err: unknown) => `# ${s.name} metrics unavailable: ${String(err).replace(/\s+/g, ' ')}\n`)),
    );
    return [serializer.serialize(resourceMetrics), ...extra].map((t) => (t.endsWith('\n') || t === '' ? t : `${t}\n`)).join('');
  };
  const host = o.metricsHost ?? '127.0.0.1';
  const server = o.metricsPort !== undefined && o.metricsPort > 0 ? await serveMetrics(host, o.metricsPort, metricsText) : undefined;
  const telemetry: Telemetry = {
    serviceName: o.serviceName,
    ...(server ? { metricsUrl: `http://${host}:${o.metricsPort}/metrics` } : {}),
    metricsText,
    addMetricsSource: (source) => void sources.push(source),
    async shutdown() {
      stopLagMonitor();
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
      await sdk.shutdown();
    },
  };
  current = telemetry;
  return telemetry;
}
