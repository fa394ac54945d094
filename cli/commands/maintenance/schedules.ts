import type { Command } from 'commander';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type ScheduleClient,
  type ScheduleDescription,
  type ScheduleSummary,
} from '@temporalio/client';
import { loadConfigOrExit } from '../../../infra/config';
import { createTemporalClient } from '../../../infra/temporal';
import { scheduleIdFor } from '../../../shared/cleanup';
import { fail } from '../../fail';

// `schedules list|describe|pause|unpause|trigger`: the cleanup and stuck-sync schedules, straight
// to Temporal with this process's config. A short name (`cleanup-sync-runs`) means that schedule
// on the configured task queue; a full ID (`name:queue`) is used as given.

const OVERLAPS: string[] = Object.values(ScheduleOverlapPolicy).filter((p): p is Exclude<typeof p, undefined> => p !== undefined);

async function withSchedules<T>(fn: (schedules: ScheduleClient, taskQueue: string) => Promise<T>): Promise<T> {
  const config = loadConfigOrExit();
  const temporal = createTemporalClient(config);
  try {
    return await fn(temporal.client.schedule, config.TEMPORAL_TASK_QUEUE);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return fail(`schedule '${err.scheduleId}' not found (see \`schedules list\`)`);
    throw err;
  } finally {
    await temporal.close();
  }
}

const resolveId = (id: string, taskQueue: string) => (id.includes(':') ? id : scheduleIdFor(id, taskQueue));
const iso = (d: Date | undefined) => d?.toISOString() ?? '-';
const print = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

function summaryRow(s: ScheduleSummary) {
  return {
    scheduleId: s.scheduleId,
    workflowType: s.action?.workflowType ?? '-',
    paused: s.state.paused,
    note: s.state.note ?? '',
    lastRun: iso(s.info.recentActions.at(-1)?.takenAt),
    nextRun: iso(s.info.nextActionTimes[0]),
  };
}

function describeView(d: ScheduleDescription) {
  return {
    scheduleId: d.scheduleId,
    workflowType: d.action.workflowType,
    args: d.action.args,
    taskQueue: d.action.taskQueue,
    intervals: d.spec.intervals,
    policies: d.policies,
    state: d.state,
    memo: d.memo,
    actionsTaken: d.info.numActionsTaken,
    skippedOverlap: d.info.numActionsSkippedOverlap,
    missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
    running: d.info.runningActions.map((a) => a.workflow),
    recent: d.info.recentActions.map((a) => ({ scheduledAt: iso(a.scheduledAt), takenAt: iso(a.takenAt), workflow: a.action.workflow })),
    next: d.info.nextActionTimes.map(iso),
  };
}

export function registerSchedulesCommand(program: Command): void {
  const cmd = program.command('schedules').description('list, inspect, pause, unpause and trigger the cleanup and stuck-sync schedules');

  cmd
    .command('list')
    .description("this task queue's schedules (--all: every schedule in the namespace)")
    .option('--all', 'include schedules of other task queues')
    .option('--json', 'print JSON')
    .action(async (o: { all?: boolean; json?: boolean }) => {
      await withSchedules(async (schedules, taskQueue) => {
        const rows: ReturnType<typeof summaryRow>[] = [];
        for await (const s of schedules.list()) if (o.all || s.scheduleId.endsWith(`:${taskQueue}`)) rows.push(summaryRow(s));
        rows.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
        if (o.json) return print(rows);
        if (rows.length === 0)
          return void process.stdout.write(
            `no schedules for task queue ${taskQueue} (the worker creates them at start; SCHEDULES_ON_START)\n`,
          );
        for (const r of rows)
          process.stdout.write(
            `${r.scheduleId.padEnd(52)} ${(r.paused ? 'PAUSED' : 'active').padEnd(7)} last ${r.lastRun}  next ${r.nextRun}${r.note && r.paused ? `  (${r.note})` : ''}\n`,
          );
      });
    });

  cmd
    .command('describe <id>')
    .description('spec, action, policies, state and recent runs of one schedule')
    .action(async (id: string) => {
      await withSchedules(async (schedules, taskQueue) =>
        print(describeView(await schedules.getHandle(resolveId(id, taskQueue)).describe())),
      );
    });

  // pause and unpause: the same command with the opposite state.
  for (const paused of [true, false]) {
    const verb = paused ? 'pause' : 'unpause';
    cmd
      .command(`${verb} <id>`)
      .description(paused ? 'stop taking scheduled actions (trigger still works)' : 'resume taking scheduled actions')
      .option('--note <text>', paused ? 'why (shown by list and describe)' : 'replaces the pause note')
      .action(async (id: string, o: { note?: string }) => {
        await withSchedules(async (schedules, taskQueue) => {
          const scheduleId = resolveId(id, taskQueue);
          const handle = schedules.getHandle(scheduleId);
          const note = o.note ?? `${verb}d from the CLI`;
          await (paused ? handle.pause(note) : handle.unpause(note));
          print({ scheduleId, paused });
        });
      });
  }

  cmd
    .command('trigger <id>')
    .description('take the action now; by default skipped when a run of this schedule is still going')
    .option('--overlap <policy>', `overlap policy for this trigger: ${OVERLAPS.join(', ')}`, 'SKIP')
    .action(async (id: string, o: { overlap: string }) => {
      const overlap = o.overlap.toUpperCase();
      if (!OVERLAPS.includes(overlap)) fail(`--overlap must be one of ${OVERLAPS.join(', ')}, got '${o.overlap}'`);
      await withSchedules(async (schedules, taskQueue) => {
        const scheduleId = resolveId(id, taskQueue);
        // The SDK's default for a trigger is ALLOW_ALL; SKIP keeps the schedule's own policy.
        await schedules.getHandle(scheduleId).trigger(overlap as ScheduleOverlapPolicy);
        print({ scheduleId, triggered: true, overlap });
      });
    });
}
