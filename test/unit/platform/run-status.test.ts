import { describe, expect, it } from 'vitest';
import {
  ClientSteps,
  emptyCounts,
  statusOf,
  type ClientStep,
  type ClientUpsertError,
  type StepResult,
  type StepStatus,
} from '../../../shared/client-upsert';
import { runStateOf, type CollectionResult, type CollectionStatus } from '../../../shared/tenant-sync';
import { SyncErrorType } from '../../../shared/errors';

// How a run's outcome is folded from its parts: a tenant sync from its collections (runStateOf),
// a client upsert from its steps and item errors (statusOf). Table-driven, one row per branch.

const collection = (status: CollectionStatus, i = 0): CollectionResult => ({
  name: `c${i}`,
  essential: i === 0,
  status,
  synced: 0,
  unchanged: 0,
  failed: 0,
  durationMs: 0,
});

describe('runStateOf (tenant sync run state)', () => {
  const cases: Array<[string, CollectionStatus[], ReturnType<typeof runStateOf>]> = [
    ['no collections', [], 'completed'],
    ['every collection synced', ['synced', 'synced', 'synced'], 'completed'],
    ['pending collections are not failures', ['synced', 'pending'], 'completed'],
    ['one of three failed', ['synced', 'failed', 'synced'], 'partial'],
    ['failed beside pending', ['failed', 'pending'], 'partial'],
    ['all but one failed', ['failed', 'failed', 'synced'], 'partial'],
    ['the only collection failed', ['failed'], 'failed'],
    ['every collection failed', ['failed', 'failed', 'failed'], 'failed'],
  ];
  it.each(cases)('%s → %s', (_label, statuses, expected) => {
    expect(runStateOf(statuses.map(collection))).toBe(expected);
  });
});

describe('statusOf (client upsert status)', () => {
  type Steps = Record<ClientStep, StepResult>;
  const steps = (over: Partial<Record<ClientStep, StepStatus>> = {}): Steps =>
    Object.fromEntries(ClientSteps.map((s) => [s, { status: over[s] ?? 'ok', counts: emptyCounts(), durationMs: 0 }])) as Steps;
  const itemError: ClientUpsertError = {
    clientKey: 'acme',
    operation: 'routes',
    errorType: SyncErrorType.VALIDATION_ERROR,
    retryable: false,
    message: 'bad route',
    item: 'r1',
  };

  type Row = [string, Partial<Record<ClientStep, StepStatus>>, ClientUpsertError[], ReturnType<typeof statusOf>];
  const allSkipped = { routes: 'skipped', menus: 'skipped', components: 'skipped', users: 'skipped' } as const;
  const cases: Row[] = [
    ['every step ok, no errors', {}, [], 'completed'],
    ['unchanged and ok steps', { routes: 'unchanged', menus: 'unchanged' }, [], 'completed'],
    ['skipped and pending steps are neither failed nor compensated', { components: 'skipped', users: 'pending' }, [], 'completed'],
    ['item errors with every step ok', {}, [itemError], 'partial'],
    ['client document failed (the rest skipped)', { client: 'failed', ...allSkipped }, [], 'failed'],
    ['client document failed wins over item errors', { client: 'failed' }, [itemError], 'failed'],
    ['a failed and a compensated step', { menus: 'failed', routes: 'compensated' }, [], 'partial'],
  ];
  it.each(cases)('%s → %s', (_label, over, errors, expected) => {
    expect(statusOf(steps(over), errors)).toBe(expected);
  });

  const later = ClientSteps.filter((s) => s !== 'client');
  const broken = later.flatMap((s) => (['failed', 'compensated'] as const).map((status) => [s, status] as const));
  it.each(broken)('%s %s → partial', (step, status) => {
    expect(statusOf(steps({ [step]: status }), [])).toBe('partial');
  });

  it('a compensated client document is partial, not failed (only a failed one stops the run)', () => {
    expect(statusOf(steps({ client: 'compensated' }), [])).toBe('partial');
  });
});
