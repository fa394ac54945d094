import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dynamicConfigArgs, TEMPORAL_DYNAMIC_CONFIG } from '../../../infra/temporal-dynamic-config';
import { tenantOfStart } from '../../../infra/temporal-interceptors';
import * as workflows from '../../../workflows';
import { scheduleOptions } from '../../../workers/schedules';
import { loadConfig } from '../../../infra/config';
import { SearchAttributeKeys } from '../../../shared/constants';
import { inheritedPriority, PLATFORM_FAIRNESS_KEY, PriorityClasses, priorityFor, WorkflowPriorityClass } from '../../../shared/priorities';

// The priority table and what is derived from it: every workflow type has a class, weights are
// clamped to the server's range, children get their own class under the parent's fairness key,
// and the docker-compose dynamic config says what the dev stack's flags say.

describe('priority classes', () => {
  it('name every workflow type the worker registers, logins first and sweeps last', () => {
    const types = Object.keys(workflows).filter(
      (k) => typeof (workflows as Record<string, unknown>)[k] === 'function' && k.endsWith('Workflow'),
    );
    expect(types.length).toBeGreaterThan(5);
    for (const t of types) expect(WorkflowPriorityClass[t], t).toBeDefined();
    expect(PriorityClasses.login).toBeLessThan(PriorityClasses.migrations);
    expect(PriorityClasses.migrations).toBeLessThan(PriorityClasses.reconcile);
    expect(PriorityClasses.reconcile).toBeLessThan(PriorityClasses.maintenance);
  });

  it('priorityFor: class by type, tenant or platform as fairness key, weight clamped, given fields win', () => {
    expect(priorityFor('tenantSyncWorkflow', 'acme')).toEqual({ priorityKey: 1, fairnessKey: 'acme' });
    expect(priorityFor('reconcileWorkflow')).toEqual({ priorityKey: 3, fairnessKey: PLATFORM_FAIRNESS_KEY });
    expect(priorityFor('cleanupWorkflow', undefined, { fairnessWeight: 5000 })).toEqual({
      priorityKey: 5,
      fairnessKey: PLATFORM_FAIRNESS_KEY,
      fairnessWeight: 1000,
    });
    expect(priorityFor('reconcileWorkflow', 'a', { fairnessWeight: 0.0001 }).fairnessWeight).toBe(0.001);
    expect(priorityFor('unknownWorkflow', 'a')).toMatchObject({ priorityKey: 3 });
    expect(priorityFor('tenantSyncWorkflow', 'a', { priorityKey: 2, fairnessKey: 'x' })).toEqual({ priorityKey: 2, fairnessKey: 'x' });
    expect(priorityFor('tenantSyncWorkflow', 'x'.repeat(100)).fairnessKey).toHaveLength(64);
  });

  it('inheritedPriority: activities keep the run’s key, children get their class; nothing when the run has none', () => {
    const parent = { priorityKey: 2, fairnessKey: 'platform', fairnessWeight: 2 };
    expect(inheritedPriority(parent)).toEqual(parent);
    expect(inheritedPriority(parent, 'reconcileWorkflow')).toEqual({ ...parent, priorityKey: 3 });
    expect(inheritedPriority(undefined, 'reconcileWorkflow')).toBeUndefined();
    expect(inheritedPriority({}, 'reconcileWorkflow')).toBeUndefined();
  });

  it('the client interceptor finds the tenant in typed or legacy search attributes', () => {
    expect(tenantOfStart({ typedSearchAttributes: [{ key: SearchAttributeKeys.TenantId, value: 't1' }] })).toBe('t1');
    expect(tenantOfStart({ typedSearchAttributes: [{ key: SearchAttributeKeys.Operation, value: 'x' }] })).toBeUndefined();
    expect(tenantOfStart({ searchAttributes: { TenantId: ['t2'] } })).toBe('t2');
    expect(tenantOfStart({})).toBeUndefined();
  });

  it('schedules start their sweeps at the last class, and without one when TEMPORAL_PRIORITY=false', () => {
    const config = loadConfig({});
    for (const s of scheduleOptions(config))
      expect((s.action as { priority?: unknown }).priority).toEqual({ priorityKey: 5, fairnessKey: PLATFORM_FAIRNESS_KEY });
    for (const s of scheduleOptions({ ...config, TEMPORAL_PRIORITY: false }))
      expect((s.action as { priority?: unknown }).priority).toBeUndefined();
  });
});

describe('server dynamic config', () => {
  it('docker-compose mounts the same values the dev stack passes as flags', () => {
    // The file's shape is flat (`key:` then `  - value: <json>`): read it without a YAML parser.
    const text = readFileSync(new URL('../../../infra/temporal/dynamicconfig.yaml', import.meta.url), 'utf8');
    const entries = [...text.matchAll(/^([\w.]+):\n\s+- value: (.+)$/gm)].map((m) => [m[1], JSON.parse(m[2]!)]);
    expect(Object.fromEntries(entries)).toEqual(TEMPORAL_DYNAMIC_CONFIG);
    const compose = readFileSync(new URL('../../../docker-compose.yml', import.meta.url), 'utf8');
    expect(compose).toContain('./infra/temporal/dynamicconfig.yaml:/etc/temporal/config/dynamicconfig/sync-orchestrator.yaml:ro');
    expect(compose).toContain('DYNAMIC_CONFIG_FILE_PATH: /etc/temporal/config/dynamicconfig/sync-orchestrator.yaml');
    expect(dynamicConfigArgs()).toEqual([
      '--dynamic-config-value',
      'matching.useNewMatcher=true',
      '--dynamic-config-value',
      'matching.enableFairness=true',
      '--dynamic-config-value',
      'matching.numTaskqueueReadPartitions=1',
      '--dynamic-config-value',
      'matching.numTaskqueueWritePartitions=1',
    ]);
  });
});
