import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../../infra/logger';
import {
  CLIENT_KEY_RE,
  emptyCounts,
  MAX_RESULT_ERRORS,
  type ClientStep,
  type ClientStepInput,
  type ClientUpsertError,
  type ClientUpsertResult,
  type InvalidClient,
  type StepOutcome,
  type UpsertPlan,
} from '../../shared/client-upsert';
import { isRetryableErrorType, SyncErrorType, SyncFailureError } from '../../shared/errors';
import { mapBounded } from '../../shared/bounded';
import { currentActivity } from '../activity-context';
import { classifyError, toApplicationFailure } from '../classify-error';
import { formatIssue, itemCountsOf, sectionHashesOf, type ClientConfig, type ConfigIssue } from './config';
import { createClientConfigStore, type LoadedConfig } from './config-store';
import { createClientMetrics } from './metrics';
import { applyRoutePlan, countsOf, hasChanges, planRoutes, restoreFromBackup, type RouteWritePhase } from './routes';
import { CLIENT_SCHEMA_VERSION, createClientStore } from './store';
import { installComponents, syncMenus } from './items';
import { syncUsers } from './users';
import type { ActivityDeps } from '../deps';

// Client-upsert activities: the plan (one hash compare per client), one activity per step, the
// roll-back of a half-written route step, and the record of the result. Each step loads the
// config itself (cached) and checks it still has the hash the run was planned with.

export interface ClientUpsertHooks {
  /** Runs before each step's work (tests delay or fail a step here). */
  beforeStep?: (e: { clientKey: string; step: ClientStep }) => void | Promise<void>;
  /** Runs after each route write command (tests fail a route write half-way here). */
  afterRouteWrite?: (e: { clientKey: string; phase: RouteWritePhase }) => void | Promise<void>;
}

export interface ClientUpsertSettings {
  /** Folder of client config files (`<key>.json`). @default 'clients' */
  dir?: string;
  /** How long an invite token stays valid. @default 7 days */
  inviteTtlMs?: number;
  /** Where `passwordEnv` names are looked up. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Test seams. */
  hooks?: ClientUpsertHooks;
}

/** Thrown when a step cannot run for a reason retrying will not fix (config gone, changed, invalid). */
export class ClientStepError extends SyncFailureError {}

const configError = (clientKey: string, i: ConfigIssue, operation: ClientUpsertError['operation'] = 'config'): ClientUpsertError => ({
  clientKey,
  operation,
  errorType: SyncErrorType.VALIDATION_ERROR,
  retryable: false,
  message: formatIssue(i),
  field: i.field,
  ...(i.item ? { item: i.item } : {}),
});

export function createClientUpsertActivities(deps: ActivityDeps, settings: ClientUpsertSettings = {}) {
  const configs = createClientConfigStore(settings.dir ?? 'clients');
  const store = createClientStore(deps.mongo.db);
  const metrics = createClientMetrics();
  const hooks = settings.hooks ?? {};
  const inviteTtlMs = settings.inviteTtlMs ?? 7 * 24 * 3_600_000;

  async function loadChecked(input: ClientStepInput): Promise<ClientConfig> {
    const loaded = await configs.load(input.clientKey);
    if (!loaded) throw new ClientStepError(SyncErrorType.VALIDATION_ERROR, `client '${input.clientKey}': its config file no longer exists`);
    if (loaded.hash !== input.configHash)
      throw new ClientStepError(
        SyncErrorType.VALIDATION_ERROR,
        `client '${input.clientKey}': its config changed since the run was planned; the next run applies it`,
      );
    if (!loaded.config) throw new ClientStepError(SyncErrorType.VALIDATION_ERROR, loaded.issues.map(formatIssue).join('; '));
    return loaded.config;
  }

  /** Times a step, and turns its failure into an ApplicationFailure carrying a ClientUpsertError. */
  async function step(
    name: ClientStep,
    input: ClientStepInput,
    work: (cfg: ClientConfig, log: Logger) => Promise<Omit<StepOutcome, 'durationMs'>>,
  ): Promise<StepOutcome> {
    const started = Date.now();
    const ctx = currentActivity();
    const log = deps.log.child({
      clientKey: input.clientKey,
      step: name,
      runId: input.runId,
      ...(ctx ? { attempt: ctx.info.attempt } : {}),
    });
    try {
      await hooks.beforeStep?.({ clientKey: input.clientKey, step: name });
      const out = await work(await loadChecked(input), log);
      const outcome = { ...out, durationMs: Date.now() - started };
      log.debug({ counts: outcome.counts, errors: outcome.errors.length, durationMs: outcome.durationMs }, 'client step done');
      return outcome;
    } catch (err) {
      const errorType = classifyError(err);
      const error: ClientUpsertError = {
        clientKey: input.clientKey,
        operation: name,
        errorType,
        retryable: isRetryableErrorType(errorType),
        message: (err instanceof Error ? err.message : String(err)).slice(0, 500),
      };
      log.warn({ errorType, retryable: error.retryable, durationMs: Date.now() - started, err: error.message }, 'client step failed');
      throw toApplicationFailure(err, { message: error.message, details: [error] });
    }
  }

  async function recordInvalid(
    loaded: LoadedConfig,
    run: { workflowId: string; runId: string },
    correlationId: string,
  ): Promise<InvalidClient> {
    const errors = loaded.issues.slice(0, 20).map((i) => configError(loaded.key, i));
    metrics.upsertErrors.add(1, { clientKey: loaded.key, operation: 'config', errorType: SyncErrorType.VALIDATION_ERROR });
    deps.log.warn(
      { clientKey: loaded.key, file: loaded.file, problems: loaded.issues.slice(0, 20).map(formatIssue) },
      'client config invalid: skipped',
    );
    const now = new Date().toISOString();
    const skipped = { status: 'skipped' as const, counts: emptyCounts(), durationMs: 0 };
    const result: ClientUpsertResult = {
      clientKey: loaded.key,
      workflowId: run.workflowId,
      runId: run.runId,
      correlationId,
      configHash: loaded.hash,
      status: 'invalid',
      operation: 'none',
      startedAt: now,
      finishedAt: now,
      durationMs: 0,
      steps: { client: skipped, routes: skipped, menus: skipped, components: skipped, users: skipped },
      errors: loaded.issues.slice(0, MAX_RESULT_ERRORS).map((i) => configError(loaded.key, i)),
      errorsTruncated: Math.max(0, loaded.issues.length - MAX_RESULT_ERRORS),
    };
    await store.recordResult(result, false);
    return { clientKey: loaded.key, errors };
  }

  return {
    /** Decides, per client, upsert or skip: one hash compare against one scan of small state documents. */
    async planClientUpserts(input: { keys?: string[]; force?: boolean; correlationId: string }): Promise<UpsertPlan> {
      const ctx = currentActivity();
      const run = {
        workflowId: ctx?.info.workflowExecution?.workflowId ?? 'direct',
        runId: ctx?.info.workflowExecution?.runId ?? input.correlationId,
      };
      const keys = input.keys ?? (await configs.listKeys());
      const started = Date.now();
      const plan: UpsertPlan = { toUpsert: [], unchanged: [], invalid: [], notFound: [], durationMs: 0 };
      const [peeked, states, leftovers, members] = await Promise.all([
        mapBounded(keys, 32, (k) => configs.peek(k)),
        store.statesOf(input.keys),
        // Route writes left half-done (normally none): those clients' route step must run.
        store.backups
          .find({}, { projection: { _id: 1 } })
          .toArray()
          .then((docs) => new Set(docs.map((d) => d._id))),
        // Memberships gone since they were confirmed (deleted, restored from an older copy): not skipped.
        store.memberCounts(),
      ]);
      for (const [i, p] of peeked.entries()) {
        if (!p) {
          plan.notFound.push(keys[i]!);
          continue;
        }
        const st = states.get(p.key);
        const lostMembers = st?.members !== undefined && (members.get(p.key) ?? 0) < st.members;
        if (!input.force && st?.configHash === p.hash && !lostMembers) {
          plan.unchanged.push(p.key);
          metrics.upsertTotal.add(1, { clientKey: p.key, operation: 'unchanged' });
          continue;
        }
        const loaded = (await configs.load(p.key))!;
        if (loaded.config && loaded.issues.length === 0) {
          const applied = input.force ? {} : { ...(st?.stepHashes ?? {}) };
          if (leftovers.has(p.key)) delete applied.routes;
          if (lostMembers) delete applied.users;
          plan.toUpsert.push({
            clientKey: p.key,
            configHash: loaded.hash,
            sections: sectionHashesOf(loaded.raw),
            items: itemCountsOf(loaded.config),
            applied,
          });
        }
        // A file name that is no client key has nowhere to be recorded: reported only.
        else if (!CLIENT_KEY_RE.test(p.key))
          plan.invalid.push({ clientKey: p.key, errors: loaded.issues.map((x) => configError(p.key, x)) });
        else if (!input.force && st?.lastStatus === 'invalid' && st.lastHash === p.hash)
          plan.invalid.push({ clientKey: p.key, errors: loaded.issues.slice(0, 20).map((x) => configError(p.key, x)) });
        else plan.invalid.push(await recordInvalid(loaded, run, input.correlationId));
      }
      plan.durationMs = Date.now() - started;
      deps.log.info(
        {
          toUpsert: plan.toUpsert.length,
          unchanged: plan.unchanged.length,
          invalid: plan.invalid.length,
          notFound: plan.notFound.length,
          durationMs: plan.durationMs,
        },
        'client upsert planned',
      );
      return plan;
    },

    upsertClientDocument: (input: ClientStepInput) =>
      step('client', input, async (cfg) => {
        const counts = emptyCounts();
        const now = new Date();
        const existing = await store.clients.findOne({ _id: cfg.key });
        if (!existing) {
          await store.clients.insertOne({
            _id: cfg.key,
            name: cfg.name,
            settings: cfg.settings,
            createdAt: now,
            updatedAt: now,
            _schemaVersion: CLIENT_SCHEMA_VERSION,
          });
          counts.added = 1;
          return { counts, errors: [], operation: 'create' };
        }
        if (existing.name === cfg.name && isDeepStrictEqual(existing.settings, cfg.settings)) {
          counts.unchanged = 1;
          return { counts, errors: [], operation: 'unchanged' };
        }
        await store.clients.replaceOne(
          { _id: cfg.key },
          { name: cfg.name, settings: cfg.settings, createdAt: existing.createdAt, updatedAt: now, _schemaVersion: CLIENT_SCHEMA_VERSION },
        );
        counts.updated = 1;
        return { counts, errors: [], operation: 'update' };
      }),

    syncClientRoutes: (input: ClientStepInput) =>
      step('routes', input, async (cfg, log) => {
        const ctx = currentActivity();
        const started = Date.now();
        const leftover = await store.backups.findOne({ _id: cfg.key });
        if (leftover) {
          log.warn({ backupRunId: leftover.runId }, 'restoring routes left half-written by an earlier attempt');
          await restoreFromBackup(store, cfg.key, leftover);
        }
        const stored = await store.routes(cfg.key).find({}).toArray();
        const invalidKeys = new Set(cfg.routeIssues.flatMap((i) => (i.item ? [i.item] : [])));
        const plan = planRoutes(stored, cfg.routes, invalidKeys);
        if (hasChanges(plan)) {
          await applyRoutePlan(store, cfg.key, plan, {
            runId: input.runId,
            progress: () => (ctx && !ctx.info.isLocal ? ctx.heartbeat() : undefined),
            afterWrite: hooks.afterRouteWrite
              ? (phase) => Promise.resolve(hooks.afterRouteWrite!({ clientKey: cfg.key, phase }))
              : undefined,
          });
        }
        const errors = cfg.routeIssues.map((i) => configError(cfg.key, i, 'routes'));
        const counts = countsOf(plan, errors.length);
        metrics.changes(metrics.routeSyncTotal, cfg.key, counts);
        metrics.routeSyncDuration.record((Date.now() - started) / 1000, { clientKey: cfg.key });
        log.info(
          {
            added: counts.added,
            updated: counts.updated,
            removed: counts.removed,
            unchanged: counts.unchanged,
            invalid: errors.length,
            kept: plan.kept,
          },
          'routes synchronized',
        );
        return { counts, errors };
      }),

    /** Compensation of a failed route step: puts back the routes as they were before it. */
    async restoreClientRoutes(input: ClientStepInput): Promise<{ restored: boolean }> {
      const backup = await store.backups.findOne({ _id: input.clientKey });
      if (!backup) return { restored: false };
      await restoreFromBackup(store, input.clientKey, backup);
      deps.log.warn(
        { clientKey: input.clientKey, runId: input.runId, restoredRoutes: backup.previous.length, droppedRoutes: backup.added.length },
        'route step compensated: previous routes restored',
      );
      return { restored: true };
    },

    syncClientMenus: (input: ClientStepInput) =>
      step('menus', input, async (cfg) => ({ ...(await syncMenus(store, metrics, cfg)), errors: [] })),

    installClientComponents: (input: ClientStepInput) =>
      step('components', input, async (cfg) => ({ ...(await installComponents(store, metrics, cfg)), errors: [] })),

    createClientUsers: (input: ClientStepInput) =>
      step('users', input, async (cfg) => {
        const { counts, errors } = await syncUsers(store, cfg.key, cfg.users, { env: settings.env ?? process.env, inviteTtlMs });
        metrics.changes(metrics.userCreationTotal, cfg.key, {
          added: counts.added,
          updated: counts.updated,
          removed: 0,
          unchanged: counts.unchanged,
        });
        return { counts, errors };
      }),

    /** Stores the result; the config hash advances only when every step ran. */
    async recordClientUpsert(input: { result: ClientUpsertResult; applied: boolean }): Promise<void> {
      const r = input.result;
      await store.recordResult(r, input.applied);
      metrics.upsertTotal.add(1, { clientKey: r.clientKey, operation: r.operation === 'none' ? 'failed' : r.operation, status: r.status });
      metrics.upsertDuration.record(r.durationMs / 1000, { clientKey: r.clientKey, status: r.status });
      // Error metrics come from the final result: one count per error, whichever attempt or process saw it.
      for (const e of r.errors) {
        const attrs = { clientKey: r.clientKey, errorType: e.errorType };
        metrics.upsertErrors.add(1, { ...attrs, operation: e.operation });
        if (e.operation === 'routes') metrics.routeSyncErrors.add(1, attrs);
        else if (e.operation === 'menus') metrics.menuSyncErrors.add(1, e.item ? { ...attrs, menuKey: e.item } : attrs);
        else if (e.operation === 'users') metrics.userCreationErrors.add(1, attrs);
      }
      deps.log.info(
        {
          clientKey: r.clientKey,
          status: r.status,
          operation: r.operation,
          durationMs: r.durationMs,
          errors: r.errors.length,
          applied: input.applied,
        },
        'client upsert recorded',
      );
    },
  };
}

export type ClientUpsertActivities = ReturnType<typeof createClientUpsertActivities>;
