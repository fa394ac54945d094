import type { Command } from 'commander';
import { Scopes } from '../../../infra/auth-token';
import { loadConfigOrExit } from '../../../infra/config';
import { isWorkKind, WORK_KINDS, type WorkPause } from '../../../shared/work';
// Types only: the CLI reaches the API over HTTP, never its modules.
import type { ExecutionStatusName, OldestRow, QueueBacklog, WorkViewAnswer } from '../../../api/services/maintenance/work-view';
import type { ApiClient } from '../../api-client';
import { fail } from '../../fail';
import { apiAction, printJson, table } from '../../format';

// `work show|pause|resume`: the operator's work view through the API — GET /api/ops/work (counts
// by workflow type and status, backlog and pollers, oldest running, running per tenant, pauses,
// quotas) — and pausing or resuming a kind of work (POST /api/ops/work/:kind/pause|resume).

interface Paused extends WorkPause {
  created: boolean;
}
interface Resumed {
  kind: string;
  resumed: boolean;
}

/** 42s, 5m07s, 3h05m, 2d04h: how long a run has been going, at a glance. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor((s % 86_400) / 3600))}h`;
}

const rate = (n: number) => (Math.round(n * 100) / 100).toFixed(2);

function backlogRows(name: string, b: QueueBacklog, pollers: number): Array<Array<string | number>> {
  const row = (label: string, s: Omit<QueueBacklog, 'byPriorityKey'>, p: string) => [
    label,
    s.reported ? String(s.approximateBacklogCount) : 'n/a',
    s.reported ? formatAge(s.approximateBacklogAgeSeconds) : 'n/a',
    rate(s.tasksAddRate),
    rate(s.tasksDispatchRate),
    p,
  ];
  return [row(name, b, String(pollers)), ...b.byPriorityKey.map((k) => row(`  priority ${k.priorityKey}`, k, ''))];
}

const oldestRow = (o: OldestRow) => [
  o.workflowType,
  o.workflowId,
  o.tenantId ?? '(platform)',
  o.startTime,
  `${o.exact ? '' : '≥ '}${formatAge(o.ageSeconds)}`,
];

/** The work view as terminal tables (what `work show` prints without --json). */
export function renderWorkView(v: WorkViewAnswer): string {
  const out: string[] = [];
  const who = v.tenants === '*' ? 'every tenant' : `tenants ${v.tenants.join(', ') || '(none)'}`;
  out.push(`task queue ${v.taskQueue} (namespace ${v.namespace}), ${who}, at ${v.generatedAt}`, '');
  // The statuses in the answer's order (the API's schema order: Running first).
  const statuses = Object.keys(v.byType[0]?.counts ?? {}) as ExecutionStatusName[];
  out.push('By workflow type and status');
  out.push(
    table(
      ['type', 'class', ...statuses, 'total'],
      v.byType.map((r) => [r.workflowType, `${r.priorityClass} (${r.priorityKey})`, ...statuses.map((s) => r.counts[s]), r.total]),
    ),
    '',
  );
  out.push('Backlog and pollers');
  out.push(
    table(
      ['queue', 'backlog', 'oldest', 'add/s', 'dispatch/s', 'pollers'],
      [
        ...backlogRows('workflow', v.backlog.workflow, v.pollers.workflow.length),
        ...backlogRows('activity', v.backlog.activity, v.pollers.activity.length),
        // The lanes' own queues (bulk runs no workflows: its workflow queue is left out).
        ...v.lanes.flatMap((l) => [
          ...(l.lane === 'bulk' ? [] : backlogRows(`${l.lane} workflow`, l.backlog.workflow, l.pollers.workflow.length)),
          ...backlogRows(`${l.lane} activity`, l.backlog.activity, l.pollers.activity.length),
        ]),
      ],
    ),
    '',
  );
  const pollers = (['workflow', 'activity'] as const).flatMap((q) =>
    v.pollers[q].map((p) => [q, p.identity, p.lastAccessTime ?? '-', rate(p.ratePerSecond)]),
  );
  out.push(pollers.length ? table(['queue', 'poller identity', 'last access', 'rate/s'], pollers) : 'no pollers: is a worker running?', '');
  out.push('Oldest running');
  out.push(
    v.oldestRunning.length ? table(['type', 'workflow ID', 'tenant', 'started', 'age'], v.oldestRunning.map(oldestRow)) : 'nothing running',
    '',
  );
  const r = v.runningByTenant;
  out.push(`Running by tenant (${r.listed} listed${r.truncated ? `, truncated at ${r.limit}: counts are lower bounds` : ''})`);
  out.push(
    r.tenants.length
      ? table(
          ['tenant', 'running'],
          r.tenants.map((t) => [t.tenantId ?? '(platform)', t.running]),
        )
      : 'nothing running',
    '',
  );
  out.push('Pauses');
  out.push(
    v.pauses.length
      ? table(
          ['kind', 'paused by', 'since', 'reason'],
          v.pauses.map((p) => [p.kind, p.pausedBy, p.pausedAt, p.reason]),
        )
      : 'none',
    '',
  );
  const g = v.quotas.global;
  const t = v.quotas.tenantDefaults;
  out.push(
    `Quotas: global reconcile ${g.reconcileConcurrent} at once, migrations ${g.migrationsConcurrent} at once; per tenant (default) ` +
      `${t.reconcileConcurrentBatches} reconcile batches at once, ${t.reconcileStartsPerHour} starts/hour, ${t.ensurePerMinute} ensure calls/minute`,
  );
  return `${out.join('\n')}\n`;
}

const kindOrExit = (kind: string) => {
  if (!isWorkKind(kind)) fail(`unknown kind of work '${kind}': one of ${WORK_KINDS.join(', ')}`);
  return kind;
};

export function registerWorkCommand(program: Command): void {
  const cmd = program
    .command('work')
    .description('what the platform is doing (counts, backlog, pollers, pauses) and pausing a kind of work');

  cmd
    .command('show')
    .description('counts by workflow type and status, backlog and pollers, oldest running, running by tenant, pauses, quotas')
    .option('--json', 'print the API answer as JSON')
    .action(
      apiAction(async (api, o: { json?: boolean }) => {
        const v = await api.request<WorkViewAnswer>('/api/ops/work', { scopes: [Scopes.opsRead] });
        if (o.json) return printJson(v);
        process.stdout.write(renderWorkView(v));
      }),
    );

  cmd
    .command('pause <kind>')
    .description(`refuse new starts of a kind of work (${WORK_KINDS.join(', ')}); running executions finish`)
    .requiredOption('--reason <text>', 'why (shown by `work show` and in every refusal)')
    .option('--json', 'print the API answer as JSON')
    .action(
      apiAction(async (api, kind: string, o: { reason: string; json?: boolean }) => {
        const p = await api.request<Paused>(`/api/ops/work/${kindOrExit(kind)}/pause`, { method: 'POST', body: { reason: o.reason } });
        if (o.json) return printJson(p);
        process.stdout.write(
          p.created
            ? `${p.kind} paused by ${p.pausedBy} at ${p.pausedAt}: ${p.reason}\n`
            : `${p.kind} was already paused by ${p.pausedBy} since ${p.pausedAt}: ${p.reason} (kept)\n`,
        );
      }),
    );

  cmd
    .command('resume <kind>')
    .description('accept new starts of a paused kind of work again')
    .option('--json', 'print the API answer as JSON')
    .action(
      apiAction(async (api, kind: string, o: { json?: boolean }) => {
        const r = await api.request<Resumed>(`/api/ops/work/${kindOrExit(kind)}/resume`, { method: 'POST' });
        if (o.json) return printJson(r);
        process.stdout.write(r.resumed ? `${r.kind} resumed\n` : `${r.kind} was not paused\n`);
      }),
    );
}
