import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTelemetry } from '../../../infra/telemetry';
import { buildTestApp } from '../../helpers/api';
import { useStack } from '../../helpers/use-stack';

// OTEL_EXPORTER_OTLP_ENDPOINT set → the API's spans leave over OTLP/HTTP to <endpoint>/v1/traces.
// The receiver is a plain HTTP server on loopback standing in for a collector; what it gets is
// the exporter's real request (JSON encoding, the http/json protocol of exporter-trace-otlp-http).

interface Received {
  path: string;
  body: string;
}

describe('OTLP trace export', () => {
  const received: Received[] = [];
  let collector: Server;
  const stack = useStack();

  beforeAll(async () => {
    collector = createServer((req, res) => {
      let body = '';
      req.on('data', (b: Buffer) => (body += b.toString()));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    await new Promise((r) => collector?.close(r));
  });

  it("sends the request's server span, under the X-Trace-Id it answered, to <endpoint>/v1/traces", async () => {
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    const telemetry = await startTelemetry({ serviceName: 'api', otlpEndpoint: endpoint });
    const app = await buildTestApp(stack.deps, {}, { telemetry });
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    const traceId = String(res.headers['x-trace-id']);
    await app.close();
    await telemetry.shutdown(); // flushes the batch processor

    const traces = received.filter((r) => r.path === '/v1/traces');
    expect(traces.length).toBeGreaterThan(0);
    const spans = traces.flatMap((r) => {
      const doc = JSON.parse(r.body) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
          scopeSpans: Array<{ spans: Array<{ name: string; traceId: string; kind: number }> }>;
        }>;
      };
      return doc.resourceSpans.flatMap((rs) =>
        rs.scopeSpans.flatMap((ss) =>
          ss.spans.map((s) => ({ ...s, service: rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue })),
        ),
      );
    });
    const server = spans.find((s) => s.name === 'GET /health');
    expect(server, JSON.stringify(spans.map((s) => s.name))).toBeDefined();
    expect(server!.traceId).toBe(traceId);
    expect(server!.service).toBe('sync-orchestrator-api');
    expect(server!.kind).toBe(2); // SPAN_KIND_SERVER in OTLP
  });
});
