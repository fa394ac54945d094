import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Scopes } from '../../infra/auth-token';
import { ValidationError } from '../errors';
import { problemResponse, problemResponses } from '../schemas';
import type { Dashboard } from '../services/dashboard/dashboard';
import { DashboardSnapshot } from '../services/dashboard/schema';
import { sseComment, sseEvent, sseRetry, streamBounds } from '../services/dashboard/sse';

// The live dashboard (read-only). GET /dashboard and its assets are a static shell with no data:
// no token needed, strict CSP (self only), nothing from the internet (uPlot is served from
// node_modules). The data comes from GET /api/dashboard/stream (server-sent events) or
// /snapshot, behind the scope ops:read like GET /api/ops/work, with 'global' coverage: every row
// about a tenant is limited to the tenants the token covers. The page keeps the token in
// sessionStorage and streams with fetch and an Authorization header, so no token is in a URL.

const global = { auth: { scope: Scopes.opsRead, tenants: 'global' as const } };

/** Self only: no inline script or style, no frames, no form posts; fetch to this origin only. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** A stream ends after this long; the page reconnects at once (and the token is checked again). */
export const MAX_STREAM_MS = 5 * 60_000;

const here = (f: string) => fileURLToPath(new URL(`../dashboard/${f}`, import.meta.url));
const fromModules = (f: string) => createRequire(import.meta.url).resolve(f);

/** Every file the page loads, read once at start. */
const ASSET_FILES = {
  'dashboard.js': { path: here('dashboard.js'), type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { path: here('dashboard.css'), type: 'text/css; charset=utf-8' },
  'uPlot.iife.min.js': { path: fromModules('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { path: fromModules('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
} as const;
type AssetName = keyof typeof ASSET_FILES;
const ASSET_NAMES = Object.keys(ASSET_FILES) as AssetName[];

const AssetParams = Type.Object({ file: Type.Union(ASSET_NAMES.map((n) => Type.Literal(n))) }, { additionalProperties: false });
const StreamQuery = Type.Object(
  {
    intervalMs: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$', description: 'between snapshots, 500–60000 (default 2000)' })),
    events: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,9}$',
        description: `snapshots to send before the stream ends (default: ${MAX_STREAM_MS / 60_000} minutes' worth)`,
      }),
    ),
  },
  { additionalProperties: false },
);
const EventStream = {
  description: [
    'Server-sent events (text/event-stream): `event: snapshot` with a DashboardSnapshot as JSON in `data`, every intervalMs;',
    `\`event: error\` with {message} when a snapshot could not be made; \`event: end\` before the stream closes (after the events asked for, at most ${MAX_STREAM_MS / 60_000} minutes).`,
  ].join(' '),
  content: { 'text/event-stream': { schema: { type: 'string' } } },
};
const Html = (description: string) => ({ description, content: { 'text/html': { schema: { type: 'string' } } } });

export interface DashboardRoutesOptions {
  dashboard: Dashboard;
}

const dashboardRoutes: FastifyPluginAsyncTypebox<DashboardRoutesOptions> = async (app, { dashboard }) => {
  const page = readFileSync(here('index.html'), 'utf8');
  const assets = Object.fromEntries(ASSET_NAMES.map((n) => [n, readFileSync(ASSET_FILES[n].path, 'utf8')])) as Record<AssetName, string>;
  /** How to end each open stream: they would hold app.close() until they end, so they end first. */
  const streams = new Set<(reason: string) => void>();
  app.addHook('preClose', async () => {
    for (const finish of [...streams]) finish('server closing');
  });

  app.get(
    '/dashboard',
    {
      schema: {
        summary: 'The live dashboard page (no data: it asks for a token and streams /api/dashboard/stream)',
        security: [],
        produces: ['text/html'],
        response: { 200: Html('The page') },
      },
    },
    async (_req, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', DASHBOARD_CSP)
        .header('cache-control', 'no-cache')
        .send(page),
  );

  app.get(
    '/dashboard/assets/:file',
    {
      schema: {
        summary: "The dashboard's scripts and styles (its own, and uPlot's from node_modules)",
        security: [],
        params: AssetParams,
        response: {
          200: {
            description: 'The file',
            content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } },
          },
          400: problemResponse('Not one of the files the page loads'),
        },
      },
    },
    async (req, reply) => {
      const name = req.params.file as AssetName;
      return reply
        .type(ASSET_FILES[name].type)
        .header('content-security-policy', DASHBOARD_CSP)
        .header('cache-control', 'no-cache')
        .send(assets[name]);
    },
  );

  app.get(
    '/api/dashboard/snapshot',
    {
      config: global,
      schema: {
        summary: "One dashboard snapshot (what each event of the stream carries), over the token's tenants",
        response: { 200: DashboardSnapshot, ...problemResponses },
      },
    },
    async (req) => dashboard.snapshot(req.principal!),
  );

  app.get(
    '/api/dashboard/stream',
    {
      config: global,
      schema: {
        summary: "Dashboard snapshots as server-sent events, over the token's tenants",
        querystring: StreamQuery,
        produces: ['text/event-stream'],
        response: { 200: EventStream, ...problemResponses },
      },
    },
    async (req, reply) => {
      let bounds;
      try {
        bounds = streamBounds(req.query, MAX_STREAM_MS);
      } catch (err) {
        throw new ValidationError(err instanceof Error ? err.message : String(err));
      }
      const principal = req.principal!;
      const out = new PassThrough();
      let open = true;
      let timer: NodeJS.Timeout | undefined;
      const stop = () => {
        open = false;
        clearTimeout(timer);
        streams.delete(finish);
      };
      /** Ends the stream with a last `end` event (at most once). */
      function finish(reason: string): void {
        if (!open) return;
        stop();
        out.end(sseEvent('end', { reason }));
      }
      const write = (chunk: string) => {
        if (open && !out.writableEnded) out.write(chunk);
      };
      streams.add(finish);
      req.raw.once('close', stop);
      out.once('close', stop);
      out.on('error', stop);
      const send = async (n: number) => {
        try {
          const snapshot = await dashboard.snapshot(principal);
          write(sseEvent('snapshot', snapshot, n));
        } catch (err) {
          req.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'dashboard snapshot failed');
          write(sseEvent('error', { message: 'the snapshot could not be made; the next one is on its way' }));
        }
        if (!open) return;
        if (n >= bounds.events) finish('events sent');
        else timer = setTimeout(() => void send(n + 1), bounds.intervalMs);
      };
      write(sseRetry(2_000));
      write(sseComment(`snapshots every ${bounds.intervalMs} ms`));
      void send(1);
      return reply
        .type('text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .header('x-accel-buffering', 'no')
        .send(out);
    },
  );
};

export default dashboardRoutes;
