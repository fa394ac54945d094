import type { SyncErrorType } from './errors';

// Client-configuration upsert: types shared by the workflows, their activities, the API and the
// CLI. Pure (the workflow bundle imports it). Configs themselves never travel here — activities
// load them from the clients folder and check the hash the plan saw; only keys, hashes,
// counters and errors do.

export const ClientUpsertNames = {
  workflow: 'clientUpsertWorkflow',
  allWorkflow: 'upsertAllClientsWorkflow',
} as const;

/** The workflows as their clients start them (by ClientUpsertNames.workflow / allWorkflow): typed args and result. */
export type ClientUpsertWorkflow = (input: ClientUpsertInput) => Promise<ClientUpsertResult>;
export type UpsertAllClientsWorkflow = (input: UpsertAllInput) => Promise<UpsertAllResult>;

/**
 * Workflow IDs: one upsert per client at a time (`client-upsert:{key}`, WorkflowIds); "all" runs
 * join each other. IDs are unique per namespace, so the run IDs carry the task queue: two
 * deployments (or test files) sharing a namespace never join each other's run.
 */
export const ClientUpsertIds = {
  all: (taskQueue: string) => `client-upsert-all:${taskQueue}`,
  /** Listed keys: the same list (any order) joins the same run. */
  batch: (taskQueue: string, keysHash: string) => `client-upsert-batch:${taskQueue}:${keysHash}`,
} as const;

/** Client keys are file names, collection-name suffixes and URL segments: keep them tight. */
export const CLIENT_KEY_PATTERN = '^[a-z0-9][a-z0-9_-]{0,47}$';
export const CLIENT_KEY_RE = new RegExp(CLIENT_KEY_PATTERN);

export const ClientSteps = ['client', 'routes', 'menus', 'components', 'users'] as const;
export type ClientStep = (typeof ClientSteps)[number];

/** Where an error arose: a config check, a step, the roll-back of a step, or the final record. */
export type ClientOperation = 'config' | ClientStep | 'compensation' | 'record';

export interface ClientUpsertError {
  clientKey: string;
  operation: ClientOperation;
  errorType: SyncErrorType;
  retryable: boolean;
  message: string;
  /** The route key, menu key, component fqn or user reference (never an e-mail) the error is about. */
  item?: string;
  /** Field path inside the config, for validation errors. */
  field?: string;
}

/** Per step: added (created/installed), updated, removed, unchanged, failed (items rejected). */
export interface ItemCounts {
  added: number;
  updated: number;
  removed: number;
  unchanged: number;
  failed: number;
}

export const emptyCounts = (): ItemCounts => ({ added: 0, updated: 0, removed: 0, unchanged: 0, failed: 0 });

/** What a step activity returns: its counts and the item-level errors it recorded and went past. */
export interface StepOutcome {
  counts: ItemCounts;
  errors: ClientUpsertError[];
  /** client step only: whether the client document was created or updated. */
  operation?: 'create' | 'update' | 'unchanged';
  durationMs: number;
}

/**
 * ok: ran (item errors allowed); unchanged: its section of the config has the hash last applied
 * without errors, so it did not run; failed: threw; compensated: threw and its partial writes were
 * rolled back; skipped: not attempted (the client document failed, or the config was invalid).
 */
export type StepStatus = 'pending' | 'ok' | 'unchanged' | 'failed' | 'compensated' | 'skipped';

export interface StepResult {
  status: StepStatus;
  counts: ItemCounts;
  durationMs: number;
  /** Hash of the config section the step applied (ok or unchanged). */
  hash?: string;
}

/** Per step: hash of its section of the config (client: key, name, settings; the others: their array). */
export type SectionHashes = Record<ClientStep, string>;

export type ClientUpsertStatus = 'running' | 'completed' | 'partial' | 'failed' | 'invalid';

export interface ClientUpsertResult {
  clientKey: string;
  workflowId: string;
  runId: string;
  correlationId: string;
  configHash: string;
  status: ClientUpsertStatus;
  operation: 'create' | 'update' | 'unchanged' | 'none';
  startedAt: string;
  finishedAt?: string;
  durationMs: number;
  steps: Record<ClientStep, StepResult>;
  /** At most MAX_RESULT_ERRORS; errorsTruncated counts the rest. */
  errors: ClientUpsertError[];
  errorsTruncated: number;
}

export const MAX_RESULT_ERRORS = 100;

export interface ClientUpsertInput {
  clientKey: string;
  configHash: string;
  correlationId: string;
  /** The config's section hashes, and item counts per section. */
  sections?: SectionHashes;
  items?: Record<ClientStep, number>;
  /** Section hashes last applied without errors: a step whose section hash is equal does not run. */
  applied?: Partial<SectionHashes>;
}

/** Step activity input: which client, and the config hash the run was planned with. */
export interface ClientStepInput {
  clientKey: string;
  configHash: string;
  runId: string;
}

export interface UpsertAllInput {
  /** Only these clients (absent: every config in the folder). */
  keys?: string[];
  /** Upsert even when the stored hash equals the config's. */
  force?: boolean;
  /** Clients upserted in parallel. */
  concurrency?: number;
  correlationId: string;
  /** Totals carried across continue-as-new. */
  carry?: UpsertAllResult;
}

export interface PlannedClient {
  clientKey: string;
  configHash: string;
  sections: SectionHashes;
  items: Record<ClientStep, number>;
  applied: Partial<SectionHashes>;
}

export interface InvalidClient {
  clientKey: string;
  errors: ClientUpsertError[];
}

/** What the plan activity found: one hash compare per client decides. */
export interface UpsertPlan {
  toUpsert: PlannedClient[];
  unchanged: string[];
  invalid: InvalidClient[];
  notFound: string[];
  /** Time the plan took (reading, hashing, one scan of the state documents). */
  durationMs: number;
}

export type ClientRunOutcome = ClientUpsertStatus | 'unchanged' | 'deduplicated';

export interface UpsertAllResult {
  correlationId: string;
  total: number;
  upserted: number;
  unchanged: number;
  invalid: number;
  failed: number;
  partial: number;
  /** Clients whose upsert another run was already doing (workflow ID dedup). */
  deduplicated: number;
  notFound: string[];
  durationMs: number;
  /** Of which planning (the hash compares). */
  planMs: number;
  clients: Array<{ clientKey: string; outcome: ClientRunOutcome; durationMs?: number }>;
}

export function statusOf(steps: Record<ClientStep, StepResult>, errors: readonly ClientUpsertError[]): ClientUpsertStatus {
  if (steps.client.status === 'failed') return 'failed';
  const stepFailed = ClientSteps.some((s) => steps[s].status === 'failed' || steps[s].status === 'compensated');
  return stepFailed || errors.length > 0 ? 'partial' : 'completed';
}

/** The stored hash is advanced only when every step ran: item errors are deterministic for a given file, step failures are not. */
export function allStepsRan(steps: Record<ClientStep, StepResult>): boolean {
  return ClientSteps.every((s) => steps[s].status === 'ok' || steps[s].status === 'unchanged');
}
