import { randomBytes } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { contentHash } from '../../../activities/records/writer';
import { BATCH_SCHEMA_VERSION, createReconcileStore, type BatchDoc, type ErrorDoc } from '../../../activities/reconcile/store';
import { createTenantRepository, type TenantDoc, type TenantRepository } from '../../../activities/tenant-sync/registry';
import { workflowStateProbe, type QuotaService } from '../quotas/quotas';
import type { PauseService } from '../maintenance/pauses';
import { startDelayOf } from '../../../shared/start-delay';
import { revealBatchSecrets, sealBatchSecrets } from '../../../activities/reconcile/secrets';
import type { Keyring } from '../../../infra/secrets';
import type { Logger } from '../../../infra/logger';
import { tenantDbName, type Mongo } from '../../../infra/mongo';
import type { TemporalHandle } from '../../../infra/temporal';
import { CallDeadlines, withTimeout } from '../../../infra/timeout';
import { Operations, WorkflowIds, SearchAttributeKeys } from '../../../shared/constants';
import {
  FINAL_STATES,
  ReconcileNames,
  reconcileProgressQuery,
  refreshRates,
  resolveReconcileOptions,
  summarizeProgress,
  zeroCounters,
  type NamespaceRef,
  type ReconcileInput,
  type ReconcileOptions,
  type ReconcileProgress,
  type ReconcileSourceRef,
  type ReconcileState,
  type ReconcileWorkflow,
} from '../../../shared/reconcile';
import { BSON } from 'mongodb';
import { platformDbRole } from '../../../activities/reconcile/guard';
import { coversTenant, type Principal } from '../../../infra/auth-token';
import { mapPage, type Page, type PageRequest } from '../../../shared/paging';
import { AuthorizationError, ConflictError, DependencyUnavailableError, NotFoundError, ValidationError } from '../../errors';
import { mayReach, reachOf, refusalOf } from './access';
import { createUriAllowlist } from './uris';

// Starting, reading and cancelling reconcile runs; shared by the API routes, the CLI and the
// benchmark. The batch document is written first (it holds external URIs, which never enter
// Temporal history), then the workflow `reconcile:{batchId}` is started: a batch runs once.

const BatchIdKey = SearchAttributeKeys.BatchId;
const TenantIdKey = SearchAttributeKeys.TenantId;
const OperationKey = SearchAttributeKeys.Operation;

export interface NamespaceSpec {
  /** Connection string; omitted = the platform's MongoDB. A secret: stored, never returned. */
  uri?: string;
  db: string;
  collection: string;
}

export interface StartReconcileRequest {
  batchId?: string;
  source: ({ kind: 'namespace' } & NamespaceSpec) | { kind: 'tenant'; tenantId: string; collection: string };
  /** Required for a namespace source; a tenant source defaults to the tenant's own collection. */
  target?: NamespaceSpec;
  options?: Partial<ReconcileOptions>;
  /** Start later (Temporal startDelay): an ISO time, or a delay in ms (shared/start-delay.ts). */
  startAt?: string;
  delayMs?: number;
}

export interface ReconcileStarted {
  batchId: string;
  workflowId: string;
  correlationId: string;
  /** False when this batch ID already ran with the same spec (an idempotent repeat). */
  created: boolean;
  /** When its first chunk may run, for a delayed start. */
  notBefore?: string;
}

export interface ReconcileServiceOptions {
  mongo: Mongo;
  temporal?: TemporalHandle;
  taskQueue: string;
  /** Task queue of the partition activities: the bulk lane when TEMPORAL_LANES (shared/lanes.ts); absent: the workflow's own. */
  partitionQueue?: string;
  log: Logger;
  /** Seals the batch's external URIs in its document (SECRETS_KEY). */
  secrets: Keyring;
  /** RECONCILE_ALLOWED_URIS: the only external servers a batch may name. @default [] (none) */
  allowedUris?: readonly string[];
  /** The tenant registry the caller already holds (the API's). @default one made here over `mongo` and `secrets` */
  tenants?: TenantRepository;
  /** Start quotas (api/services/quotas); absent: unlimited. */
  quotas?: Pick<QuotaService, 'admitReconcile'>;
  /** Work pauses: a new batch while reconcile is paused is refused (503); a repeat still answers. */
  pauses?: Pick<PauseService, 'assertNotPaused'>;
}

export interface ErrorItem {
  id: string;
  key: unknown;
  outcome: string | null;
  action: string;
  errorType: string | null;
  message: string | null;
  partition: number;
  chunk: number;
  records?: number;
  at: string;
}

/** A row of GET /api/reconcile: what the batch is, never its secrets. */
export interface BatchListItem {
  batchId: string;
  workflowId: string;
  state: string;
  source: ReconcileSourceRef;
  target: NamespaceRef;
  dryRun: boolean;
  createdAt: string;
  createdBy: string;
  startedAt: string | null;
  finishedAt: string | null;
  processed: number | null;
}

const batchListItem = (b: BatchDoc): BatchListItem => ({
  batchId: b._id,
  workflowId: b.workflowId,
  state: b.state,
  source: b.source,
  target: b.target,
  dryRun: !!b.options.dryRun,
  createdAt: b.createdAt.toISOString(),
  createdBy: b.createdBy ?? 'unknown',
  startedAt: b.startedAt?.toISOString() ?? null,
  finishedAt: b.finishedAt?.toISOString() ?? null,
  processed: b.result?.processed ?? null,
});

const sameUris = (a: { sourceUri?: string; targetUri?: string }, b: { sourceUri?: string; targetUri?: string }) =>
  a.sourceUri === b.sourceUri && a.targetUri === b.targetUri;
const newBatchId = () => `rc-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
const ejson = (v: unknown) => (v === undefined ? null : BSON.EJSON.serialize({ v }, { relaxed: true }).v);

export function createReconcileService(o: ReconcileServiceOptions) {
  const store = createReconcileStore(o.mongo.db);
  const quotaProbe = workflowStateProbe(o.temporal);
  const tenants = o.tenants ?? createTenantRepository(o.mongo.db, o.secrets);
  const allowlist = createUriAllowlist(o.allowedUris ?? []);
  const platformDb = o.mongo.db.databaseName;
  const temporal = () => {
    if (!o.temporal) throw new DependencyUnavailableError('temporal', 'Reconcile runs as a Temporal workflow and TEMPORAL_ENABLED=false');
    return o.temporal;
  };
  const call = <T>(what: string, fn: () => Promise<T>) => {
    const t = temporal();
    return withTimeout(what, CallDeadlines.temporalMs, (signal) => t.connection.withAbortSignal(signal, fn));
  };

  async function resolve(req: StartReconcileRequest): Promise<{
    source: ReconcileSourceRef;
    target: NamespaceRef;
    secrets: BatchDoc['secrets'];
    options: ReconcileOptions;
    tenant?: TenantDoc;
  }> {
    let options: ReconcileOptions;
    try {
      options = resolveReconcileOptions(req.options);
    } catch (err) {
      throw new ValidationError(err instanceof Error ? err.message : String(err));
    }
    const secrets: NonNullable<BatchDoc['secrets']> = {};
    let source: ReconcileSourceRef;
    let target: NamespaceRef;
    let tenant: TenantDoc | undefined;
    if (req.source.kind === 'tenant') {
      if (options.scan === 'hashed')
        throw new ValidationError(
          "scan 'hashed' reads a namespace source; a tenant's records are read through its connector (scan 'ordered')",
        );
      tenant = (await tenants.get(req.source.tenantId)) ?? undefined;
      if (!tenant) throw new NotFoundError('Tenant', req.source.tenantId);
      source = { kind: 'tenant', tenantId: req.source.tenantId, collection: req.source.collection };
      target = req.target
        ? { db: req.target.db, collection: req.target.collection }
        : { db: tenantDbName(req.source.tenantId), collection: req.source.collection };
    } else {
      if (!req.target) throw new ValidationError('a namespace source needs a target namespace');
      source = { kind: 'namespace', db: req.source.db, collection: req.source.collection };
      if (req.source.uri) {
        source.external = true;
        secrets.sourceUri = req.source.uri;
      }
      target = { db: req.target.db, collection: req.target.collection };
    }
    if (req.target?.uri) {
      target.external = true;
      secrets.targetUri = req.target.uri;
    }
    // The platform's own collections (tenants, runs, reconcile_*) are never read or written.
    const role = platformDbRole({ source, target }, platformDb);
    if (role) throw new AuthorizationError(`The platform database is never a reconcile ${role}`);
    for (const [end, uri] of [
      ['source', secrets.sourceUri],
      ['target', secrets.targetUri],
    ] as const) {
      if (uri !== undefined && !allowlist.allows(uri))
        throw new AuthorizationError(`The ${end} URI is not in the operator's RECONCILE_ALLOWED_URIS`);
    }
    if (
      source.kind === 'namespace' &&
      source.db === target.db &&
      source.collection === target.collection &&
      (secrets.sourceUri ?? '') === (secrets.targetUri ?? '')
    ) {
      throw new ValidationError('source and target are the same namespace');
    }
    return { source, target, secrets: Object.keys(secrets).length ? secrets : undefined, options, ...(tenant ? { tenant } : {}) };
  }

  async function startWorkflow(input: ReconcileInput, fairnessWeight?: number, delayMs?: number): Promise<void> {
    const t = temporal();
    try {
      await call('start reconcile', () =>
        t.client.workflow.start<ReconcileWorkflow>(ReconcileNames.workflow, {
          ...(delayMs !== undefined ? { startDelay: delayMs } : {}),
          // Priority class and fairness key (the tenant) come from the client interceptor.
          ...(fairnessWeight !== undefined ? { priority: { fairnessWeight } } : {}),
          taskQueue: o.taskQueue,
          workflowId: WorkflowIds.reconcile(input.batchId),
          args: [o.partitionQueue ? { ...input, partitionQueue: o.partitionQueue } : input],
          // A batch runs once: a second start of a running or finished batch is refused.
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: [
            { key: BatchIdKey, value: input.batchId },
            { key: OperationKey, value: Operations.reconcile },
            // A tenant's collection is filterable by tenant in the UI like its syncs.
            ...(input.source.kind === 'tenant' ? [{ key: TenantIdKey, value: input.source.tenantId }] : []),
          ],
          memo: {
            what: `reconcile ${input.source.kind === 'tenant' ? `tenant ${input.source.tenantId} / ${input.source.collection}` : `${input.source.db}.${input.source.collection}`} → ${input.target.db}.${input.target.collection}${input.options.dryRun ? ' (dry run)' : ''}`,
            correlationId: input.correlationId,
            batchId: input.batchId,
            dryRun: input.options.dryRun,
          },
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw new DependencyUnavailableError(
        'temporal',
        `Temporal did not accept the reconcile: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  /**
   * Registers the batch and starts its workflow; repeating a start with the same spec is a no-op.
   * With a principal (the API), a spec it may not reach is refused before anything is looked up.
   */
  async function start(req: StartReconcileRequest, correlationId: string, principal?: Principal): Promise<ReconcileStarted> {
    const refusal = principal && refusalOf(principal, reachOf(req));
    if (refusal) throw new AuthorizationError(refusal);
    temporal();
    const delayMs = startDelayOf(req);
    const { source, target, secrets, options, tenant } = await resolve(req);
    const batchId = req.batchId ?? newBatchId();
    const workflowId = WorkflowIds.reconcile(batchId);
    // No hash of the URIs is stored (an unsalted hash of a secret is a guessable copy of it): a
    // repeat compares its URIs with the stored ones, revealed in memory only.
    const specHash = contentHash({ source, target, options });
    const now = new Date();
    const doc: BatchDoc = {
      _id: batchId,
      correlationId,
      workflowId,
      state: 'pending',
      source,
      target,
      options,
      specHash,
      createdAt: now,
      createdBy: principal?.sub ?? 'unknown',
      _schemaVersion: BATCH_SCHEMA_VERSION,
    };
    if (delayMs !== undefined) doc.notBefore = new Date(now.getTime() + delayMs);
    if (secrets) doc.secrets = sealBatchSecrets(o.secrets, batchId, secrets);
    // Quotas before anything is written: a repeat of an existing batch takes no new slot.
    const repeat = req.batchId !== undefined && (await store.getBatch(batchId)) !== null;
    if (!repeat) await o.pauses?.assertNotPaused('reconcile');
    const slot =
      repeat || !o.quotas
        ? undefined
        : await o.quotas.admitReconcile(
            workflowId,
            tenant && { tenantId: tenant._id, ...(tenant.quotas ? { quotas: tenant.quotas } : {}) },
            quotaProbe,
          );
    let created: boolean;
    try {
      created = await store.createBatch(doc);
    } catch (err) {
      await slot?.release();
      throw err;
    }
    let input: ReconcileInput = { batchId, correlationId, source, target, options, startedAt: now.toISOString() };
    if (!created) {
      const existing = await store.getBatch(batchId);
      if (!existing || existing.specHash !== specHash || !sameUris(revealBatchSecrets(o.secrets, existing), secrets ?? {})) {
        throw new ConflictError(`reconcile batch '${batchId}' exists with a different spec`, { batchId });
      }
      input = {
        batchId,
        correlationId: existing.correlationId,
        source: existing.source,
        target: existing.target,
        options: existing.options,
        startedAt: existing.createdAt.toISOString(),
      };
    }
    try {
      // A repeat keeps the first start's delay (its workflow exists already: the start is a no-op).
      await startWorkflow(input, tenant?.fairnessWeight, delayMs);
    } catch (err) {
      await slot?.release();
      throw err;
    }
    o.log.info(
      { batchId, workflowId, correlationId: input.correlationId, created, dryRun: options.dryRun, source: source.kind },
      created ? 'reconcile started' : 'reconcile start repeated',
    );
    const stored = created ? doc : await store.getBatch(batchId);
    return {
      batchId,
      workflowId,
      correlationId: input.correlationId,
      created,
      ...(stored?.notBefore ? { notBefore: stored.notBefore.toISOString() } : {}),
    };
  }

  /**
   * Everything `start` refuses before it writes — reach, spec, tenant, URIs, delay — without
   * writing: a bulk request checks every batch first, so a bad one starts none of them.
   */
  async function check(req: StartReconcileRequest, principal?: Principal): Promise<void> {
    const refusal = principal && refusalOf(principal, reachOf(req));
    if (refusal) throw new AuthorizationError(refusal);
    temporal();
    startDelayOf(req);
    await resolve(req);
  }

  /** A batch the principal may not reach answers as if it did not exist (no principal: the operator's CLI). */
  async function getBatch(batchId: string, principal?: Principal): Promise<BatchDoc> {
    const b = await store.getBatch(batchId);
    if (!b || (principal && !mayReach(principal, reachOf(b)))) throw new NotFoundError('Reconcile batch', batchId);
    return b;
  }

  /** Live progress (the workflow's query) while running; the stored result once finished. */
  async function progress(batchId: string, principal?: Principal): Promise<ReconcileProgress & { live: boolean }> {
    const b = await getBatch(batchId, principal);
    if (FINAL_STATES.includes(b.state) && b.result) return { ...b.result, live: false };
    if (o.temporal) {
      try {
        const handle = temporal().client.workflow.getHandle<ReconcileWorkflow>(b.workflowId);
        const p = await call('query reconcile progress', () => handle.query(reconcileProgressQuery));
        return { ...refreshRates(p, Date.now()), live: true };
      } catch (err) {
        o.log.debug(
          { batchId, err: err instanceof Error ? err.message : String(err) },
          'reconcile progress query failed; answering from the batch record',
        );
      }
      // The workflow may have just finished: its result is recorded before it completes.
      const again = await store.getBatch(batchId);
      if (again?.result && FINAL_STATES.includes(again.state)) return { ...again.result, live: false };
    }
    const base = {
      batchId,
      workflowId: b.workflowId,
      correlationId: b.correlationId,
      state: b.state,
      options: b.options,
      startedAt: (b.startedAt ?? b.createdAt).toISOString(),
      runs: 0,
      totalEstimate: b.plan?.totalEstimate ?? 0,
    };
    return {
      ...summarizeProgress(base, zeroCounters(), { total: b.plan?.partitions ?? 0, done: 0, running: 0, failed: 0 }, Date.now()),
      live: false,
    };
  }

  async function errors(
    batchId: string,
    after: string | undefined,
    limit: number,
    principal?: Principal,
  ): Promise<{ batchId: string; items: ErrorItem[]; nextCursor: string | null }> {
    await getBatch(batchId, principal);
    const page = await store.listErrors(batchId, after, limit);
    const items = page.items.map((e: ErrorDoc): ErrorItem => {
      const item: ErrorItem = {
        id: e._id,
        key: ejson(e.key),
        outcome: e.outcome ?? null,
        action: e.action,
        errorType: e.errorType ?? null,
        message: e.message ?? null,
        partition: e.partition,
        chunk: e.chunk,
        at: e.at.toISOString(),
      };
      if (e.records !== undefined) item.records = e.records;
      return item;
    });
    return { batchId, items, nextCursor: page.nextCursor };
  }

  /** Asks the run to stop at its next chunk boundaries; the counts so far are kept. */
  async function cancel(batchId: string, principal?: Principal): Promise<{ batchId: string; workflowId: string; state: 'cancelling' }> {
    const b = await getBatch(batchId, principal);
    if (FINAL_STATES.includes(b.state))
      throw new ConflictError(`reconcile batch '${batchId}' already finished (${b.state})`, { state: b.state });
    try {
      await call('cancel reconcile', () => temporal().client.workflow.getHandle(b.workflowId).cancel());
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new ConflictError(`reconcile batch '${batchId}' has no running workflow`);
      throw err;
    }
    o.log.info({ batchId, workflowId: b.workflowId, correlationId: b.correlationId }, 'reconcile cancel requested');
    return { batchId, workflowId: b.workflowId, state: 'cancelling' };
  }

  /**
   * Batches the principal reaches, one page at a time: a tenant token's are narrowed in the query to
   * its tenants' batches, then each is checked like a single read (mayReach), so a batch that also
   * touches something else (a raw target) stays hidden. A `tenantId` it does not cover is 403.
   */
  async function list(
    req: PageRequest,
    f: { state?: ReconcileState; tenantId?: string },
    principal: Principal,
  ): Promise<Page<BatchListItem>> {
    if (f.tenantId !== undefined && !coversTenant(principal, f.tenantId))
      throw new AuthorizationError('The token does not cover this tenant');
    const platformReach = mayReach(principal, { kind: 'raw' });
    const page = await store.listBatches(req, {
      ...f,
      ...(platformReach || principal.tenants === '*' ? {} : { onlyTenants: principal.tenants }),
      visible: (b) => mayReach(principal, reachOf(b)),
    });
    return mapPage(page, batchListItem);
  }

  return { start, check, progress, errors, cancel, getBatch, list };
}

export type ReconcileService = ReturnType<typeof createReconcileService>;
