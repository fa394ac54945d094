import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { PauseService } from '../services/maintenance/pauses';
import { Type } from 'typebox';
import { Scopes } from '../../infra/auth-token';
import type { Logger } from '../../infra/logger';
import type { TemporalHandle } from '../../infra/temporal';
import { startClientUpsert } from '../../activities/client-upsert/start';
import type { ClientStore } from '../../activities/client-upsert/store';
import { WorkflowNotFoundError } from '@temporalio/client';
import { CallDeadlines, withTimeout } from '../../infra/timeout';
import { CLIENT_KEY_PATTERN, ClientUpsertIds, type UpsertAllClientsWorkflow } from '../../shared/client-upsert';
import { DependencyUnavailableError, NotFoundError } from '../errors';
import { problemResponses } from '../schemas';
import { pageRequestOf } from '../../shared/paging';
import { PageQueryFields, PageSchema } from '../paging';

// Client configuration upsert: start it (all clients or a list) and read a client's last result.
// Client configurations are platform-wide, not any tenant's data: the clients scopes alone decide
// (tenants: 'untenanted'), whatever tenants the token covers.

const ClientKey = Type.String({ pattern: CLIENT_KEY_PATTERN, maxLength: 48 });
const Counts = Type.Object({
  added: Type.Integer(),
  updated: Type.Integer(),
  removed: Type.Integer(),
  unchanged: Type.Integer(),
  failed: Type.Integer(),
});
const Step = Type.Object({ status: Type.String(), counts: Counts, durationMs: Type.Number() });
const UpsertError = Type.Object({
  clientKey: Type.String(),
  operation: Type.String(),
  errorType: Type.String(),
  retryable: Type.Boolean(),
  message: Type.String(),
  item: Type.Optional(Type.String()),
  field: Type.Optional(Type.String()),
});
const Result = Type.Object({
  workflowId: Type.String(),
  runId: Type.String(),
  correlationId: Type.String(),
  configHash: Type.String(),
  status: Type.String(),
  operation: Type.String(),
  startedAt: Type.String(),
  finishedAt: Type.Optional(Type.String()),
  durationMs: Type.Number(),
  routes: Counts,
  menus: Counts,
  components: Counts,
  users: Counts,
  steps: Type.Object({ client: Step, routes: Step, menus: Step, components: Step, users: Step }),
  errors: Type.Array(UpsertError),
  errorsTruncated: Type.Integer(),
});
const ClientView = Type.Object({
  key: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  status: Type.String({ description: 'status of the last upsert: completed, partial, failed or invalid' }),
  appliedConfigHash: Type.Union([Type.String(), Type.Null()], {
    description: 'hash of the last config every step applied; an equal config is skipped',
  }),
  lastConfigHash: Type.String(),
  runs: Type.Integer(),
  lastUpsertAt: Type.String(),
  createdAt: Type.Union([Type.String(), Type.Null()]),
  updatedAt: Type.Union([Type.String(), Type.Null()]),
  lastResult: Type.Union([Result, Type.Null()]),
});
const SyncBody = Type.Object(
  {
    keys: Type.Optional(Type.Array(ClientKey, { minItems: 1, maxItems: 1000, uniqueItems: true })),
    force: Type.Optional(Type.Boolean({ description: 'upsert even clients whose config hash is unchanged' })),
  },
  { additionalProperties: false },
);
const SyncAccepted = Type.Object({
  workflowId: Type.String(),
  runId: Type.String(),
  correlationId: Type.String(),
  keys: Type.Union([Type.Array(Type.String()), Type.Literal('all')]),
});

export interface ClientRoutesOptions {
  store: ClientStore;
  temporal?: TemporalHandle;
  taskQueue: string;
  concurrency: number;
  log: Logger;
  /** Work pauses: a start while client upsert is paused is refused (503). */
  pauses?: Pick<PauseService, 'assertNotPaused'>;
}

const RunView = Type.Object({
  workflowId: Type.String(),
  requestedBy: Type.Optional(Type.String({ description: 'token subject of the API request that started it' })),
  status: Type.String({ description: 'Temporal status: RUNNING, COMPLETED, FAILED, …' }),
  result: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'the run summary, once COMPLETED' })),
});

const ClientRow = Type.Object(
  {
    key: Type.String(),
    name: Type.Union([Type.String(), Type.Null()]),
    status: Type.String({ description: 'status of the last upsert' }),
    runs: Type.Integer(),
    lastUpsertAt: Type.String({ format: 'date-time' }),
    createdAt: Type.Union([Type.String(), Type.Null()]),
    updatedAt: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object(PageQueryFields, { additionalProperties: false });

const clients: FastifyPluginAsyncTypebox<ClientRoutesOptions> = async (app, o) => {
  // Every client upserted so far, in key order, with a total (one small state document per client).
  app.get(
    '/api/clients',
    {
      config: { auth: { scope: Scopes.clientsRead, tenants: 'untenanted' } },
      schema: { querystring: ListQuery, response: { 200: PageSchema(ClientRow), ...problemResponses } },
    },
    async (req) => {
      const page = await o.store.list(pageRequestOf(req.query));
      return {
        items: page.items.map(({ state, client }) => ({
          key: state._id,
          name: client?.name ?? null,
          status: state.lastStatus,
          runs: state.runs,
          lastUpsertAt: state.lastFinishedAt.toISOString(),
          createdAt: client?.createdAt.toISOString() ?? null,
          updatedAt: client?.updatedAt.toISOString() ?? null,
        })),
        page: page.page,
      };
    },
  );

  app.post(
    '/api/clients/sync',
    {
      config: { auth: { scope: Scopes.clientsWrite, tenants: 'untenanted' } },
      schema: { body: SyncBody, response: { 202: SyncAccepted, ...problemResponses } },
    },
    async (req, reply) => {
      if (!o.temporal)
        throw new DependencyUnavailableError('temporal', 'Client upsert runs as a Temporal workflow and TEMPORAL_ENABLED=false');
      await o.pauses?.assertNotPaused('client-upsert');
      let started;
      try {
        started = await startClientUpsert({
          client: o.temporal.client,
          taskQueue: o.taskQueue,
          keys: req.body.keys,
          force: req.body.force,
          concurrency: o.concurrency,
          trigger: 'api',
          correlationId: req.id,
          requestedBy: req.principal?.sub ?? 'unknown',
        });
      } catch (err) {
        req.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not start client upsert');
        throw new DependencyUnavailableError('temporal', 'Temporal did not accept the client upsert');
      }
      req.log.info(
        { workflowId: started.workflowId, runId: started.runId, keys: started.keys === 'all' ? 'all' : started.keys.length },
        'client upsert started',
      );
      return reply
        .code(202)
        .send({ workflowId: started.workflowId, runId: started.runId, correlationId: started.correlationId, keys: started.keys });
    },
  );

  // A run's status and, once closed, its summary (what `clients sync --wait` prints). Only this
  // queue's client-upsert runs: any other workflow ID is a 404, never another workflow's result.
  app.get(
    '/api/clients/runs/:workflowId',
    {
      config: { auth: { scope: Scopes.clientsRead, tenants: 'untenanted' } },
      schema: {
        params: Type.Object({ workflowId: Type.String({ minLength: 1, maxLength: 300 }) }, { additionalProperties: false }),
        response: { 200: RunView, ...problemResponses },
      },
    },
    async (req) => {
      const id = req.params.workflowId;
      const ours = id === ClientUpsertIds.all(o.taskQueue) || id.startsWith(ClientUpsertIds.batch(o.taskQueue, ''));
      if (!ours) throw new NotFoundError('Client upsert run', id);
      if (!o.temporal)
        throw new DependencyUnavailableError('temporal', 'Client upsert runs as a Temporal workflow and TEMPORAL_ENABLED=false');
      const t = o.temporal;
      const handle = t.client.workflow.getHandle<UpsertAllClientsWorkflow>(id);
      const call = <T>(what: string, fn: () => Promise<T>) =>
        withTimeout(what, CallDeadlines.temporalMs, (signal) => t.connection.withAbortSignal(signal, fn));
      let status: string;
      let described: Awaited<ReturnType<typeof handle.describe>>;
      try {
        described = await call('describe client upsert', () => handle.describe());
        status = described.status.name;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw new NotFoundError('Client upsert run', id);
        throw new DependencyUnavailableError('temporal', 'Temporal could not describe the client upsert run');
      }
      const who = typeof described.memo?.requestedBy === 'string' ? { requestedBy: described.memo.requestedBy } : {};
      if (status !== 'COMPLETED') return { workflowId: id, status, ...who };
      const result = await call('client upsert result', () => handle.result());
      return { workflowId: id, status, ...who, result: { ...result } as Record<string, unknown> };
    },
  );

  app.get(
    '/api/clients/:key',
    {
      config: { auth: { scope: Scopes.clientsRead, tenants: 'untenanted' } },
      schema: {
        params: Type.Object({ key: ClientKey }, { additionalProperties: false }),
        response: { 200: ClientView, ...problemResponses },
      },
    },
    async (req) => {
      const v = await o.store.view(req.params.key);
      if (!v) throw new NotFoundError('Client', req.params.key);
      const r = v.result;
      return {
        key: req.params.key,
        name: v.client?.name ?? null,
        status: v.state.lastStatus,
        appliedConfigHash: v.state.configHash ?? null,
        lastConfigHash: v.state.lastHash,
        runs: v.state.runs,
        lastUpsertAt: v.state.lastFinishedAt.toISOString(),
        createdAt: v.client?.createdAt.toISOString() ?? null,
        updatedAt: v.client?.updatedAt.toISOString() ?? null,
        lastResult: r
          ? {
              workflowId: r.workflowId,
              runId: r.runId,
              correlationId: r.correlationId,
              configHash: r.configHash,
              status: r.status,
              operation: r.operation,
              startedAt: r.startedAt,
              finishedAt: r.finishedAt,
              durationMs: r.durationMs,
              routes: r.steps.routes.counts,
              menus: r.steps.menus.counts,
              components: r.steps.components.counts,
              users: r.steps.users.counts,
              steps: r.steps,
              errors: r.errors,
              errorsTruncated: r.errorsTruncated,
            }
          : null,
      };
    },
  );
};

export default clients;
