import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { loadConfigOrExit } from '../../../infra/config';
import type { ScheduleRow } from '../../../api/services/maintenance/schedules';
import { ApiProblemError, type ApiClient } from '../../api-client';
import { fail } from '../../fail';
import { apiAction, printJson } from '../../format';

// `schedules list|describe|pause|unpause|trigger`: the cleanup and stuck-sync schedules, through
// the API (/api/schedules…). A short name (`cleanup-sync-runs`) means that schedule on the API's
// task queue; a full ID (`name:queue`) is used as given.

const OVERLAPS: string[] = Object.values(ScheduleOverlapPolicy).filter((p): p is Exclude<typeof p, undefined> => p !== undefined);

const pathOf = (id: string, action = '') => `/api/schedules/${encodeURIComponent(id)}${action ? `/${action}` : ''}`;

/** An unknown schedule reads as before the API (the problem names the resolved ID). */
function unknownSchedule(err: unknown): void {
  const scheduleId = err instanceof ApiProblemError && err.status === 404 ? err.problem.scheduleId : undefined;
  if (typeof scheduleId === 'string') fail(`schedule '${scheduleId}' not found (see \`schedules list\`)`);
}

const action = <A extends unknown[]>(fn: (api: ApiClient, ...args: A) => Promise<void>) => apiAction(fn, unknownSchedule);

export function registerSchedulesCommand(program: Command): void {
  const cmd = program.command('schedules').description('list, inspect, pause, unpause and trigger the cleanup and stuck-sync schedules');

  cmd
    .command('list')
    .description("this task queue's schedules (--all: every schedule in the namespace)")
    .option('--all', 'include schedules of other task queues')
    .option('--json', 'print JSON')
    .action(
      action(async (api, o: { all?: boolean; json?: boolean }) => {
        const { taskQueue, schedules: rows } = await api.request<{ taskQueue: string; schedules: ScheduleRow[] }>('/api/schedules', {
          query: { all: o.all ? 'true' : undefined },
        });
        if (o.json) return printJson(rows);
        if (rows.length === 0)
          return void process.stdout.write(
            `no schedules for task queue ${taskQueue} (the worker creates them at start; SCHEDULES_ON_START)\n`,
          );
        for (const r of rows)
          process.stdout.write(
            `${r.scheduleId.padEnd(52)} ${(r.paused ? 'PAUSED' : 'active').padEnd(7)} last ${r.lastRun}  next ${r.nextRun}${r.note && r.paused ? `  (${r.note})` : ''}\n`,
          );
      }),
    );

  cmd
    .command('describe <id>')
    .description('spec, action, policies, state and recent runs of one schedule')
    .action(
      action(async (api, id: string) => {
        printJson(await api.request(pathOf(id)));
      }),
    );

  // pause and unpause: the same command with the opposite state.
  for (const paused of [true, false]) {
    const verb = paused ? 'pause' : 'unpause';
    cmd
      .command(`${verb} <id>`)
      .description(paused ? 'stop taking scheduled actions (trigger still works)' : 'resume taking scheduled actions')
      .option('--note <text>', paused ? 'why (shown by list and describe)' : 'replaces the pause note')
      .action(
        action(async (api, id: string, o: { note?: string }) => {
          printJson(await api.request(pathOf(id, verb), { method: 'POST', body: { note: o.note ?? `${verb}d from the CLI` } }));
        }),
      );
  }

  cmd
    .command('trigger <id>')
    .description('take the action now; by default skipped when a run of this schedule is still going')
    .option('--overlap <policy>', `overlap policy for this trigger: ${OVERLAPS.join(', ')}`, 'SKIP')
    .action(
      action(async (api, id: string, o: { overlap: string }) => {
        const overlap = o.overlap.toUpperCase();
        if (!OVERLAPS.includes(overlap)) fail(`--overlap must be one of ${OVERLAPS.join(', ')}, got '${o.overlap}'`);
        // SKIP (the default here) keeps the schedule's own policy; the SDK's default would be ALLOW_ALL.
        const body = { overlap };
        printJson(await api.request(pathOf(id, 'trigger'), { method: 'POST', body, idempotencyKey: `cli-trigger-${randomUUID()}` }));
      }),
    );
}
