import type { Command } from 'commander';
import { loadConfigOrExit } from '../../infra/config';
import { apiClientFor, type ApiClient } from '../api-client';
import { failWith } from '../fail';

// `health [--deep]`: what the running API sees. GET /health/ready pings MongoDB, Redis and
// Temporal from the API process; --deep adds POST /api/probe, a stack-probe workflow through the
// API's Temporal client and a worker. Exit 1 when anything is not ok, or the API cannot be reached.

interface Check {
  ok: boolean;
  latencyMs: number;
  error?: string;
  /** temporal only: ok when a worker polls the login task queue, degraded when none does. */
  status?: 'ok' | 'degraded' | 'unknown';
  pollers?: number;
  taskQueue?: string;
}

/** 200 `{status, checks}`, or the 503 problem whose extras carry the same checks. */
interface ReadyBody {
  status?: string;
  checks?: Record<string, Check>;
  title?: string;
  detail?: string;
}

const line = (name: string, text: string) => process.stdout.write(`${name.padEnd(16)} ${text}\n`);

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function describeCheck(c: Check): string {
  if (!c.ok) return `FAILED: ${c.error ?? 'no answer'} (${c.latencyMs} ms)`;
  // The Temporal server answers but nothing would run a login's workflow: the API serves logins
  // directly (fallbackReason no_worker) and stays ready, but the Temporal path is down.
  if (c.status === 'degraded') return `DEGRADED: no worker polls ${c.taskQueue ?? 'the task queue'}: logins go direct (${c.latencyMs} ms)`;
  if (c.status === 'ok' && c.pollers !== undefined)
    return `ok (${c.latencyMs} ms), ${plural(c.pollers, 'worker polls', 'workers poll')} ${c.taskQueue ?? 'the task queue'}`;
  return `ok (${c.latencyMs} ms)${c.error ? ` — ${c.error}` : ''}`;
}

/** Prints the readiness checks; true when the API answered ready. */
async function printReadiness(api: ApiClient): Promise<boolean> {
  const res = await api.raw<ReadyBody | undefined>('/health/ready', { timeoutMs: 30_000 });
  const checks = res.body?.checks;
  if (!checks) {
    // Not our readiness answer at all (a proxy, another service): say what came back.
    line('api', `FAILED: HTTP ${res.status}${res.body?.detail ? ` ${res.body.detail}` : ''}`);
    return false;
  }
  for (const [name, c] of Object.entries(checks)) line(name, describeCheck(c));
  return res.status === 200 && Object.values(checks).every((c) => c.ok && c.status !== 'degraded');
}

/** Runs the probe workflow through the API; true when it finished. */
async function printProbe(api: ApiClient): Promise<boolean> {
  const res = await api.raw<{ ok?: boolean; latencyMs?: number; title?: string; detail?: string }>('/api/probe', {
    method: 'POST',
    body: {},
    // Past the API's own bound on the probe, so its 503 (not our abort) says what happened.
    timeoutMs: 90_000,
  });
  if (res.status === 200 && res.body.ok) {
    line('probe workflow', `ok (${res.body.latencyMs} ms)`);
    return true;
  }
  line('probe workflow', `FAILED: ${res.body?.detail ?? res.body?.title ?? `HTTP ${res.status}`}`);
  return false;
}

export function registerHealthCommand(program: Command): void {
  program
    .command('health')
    .description("the API's view of MongoDB, Redis and Temporal; --deep also runs a probe workflow through the worker")
    .option('--deep', 'run the stack-probe workflow (needs a running worker)')
    .action(async (o: { deep?: boolean }, cmd: Command) => {
      const api = apiClientFor(cmd, loadConfigOrExit());
      let ok = false;
      try {
        ok = await printReadiness(api);
        // A probe cannot pass where a dependency is already down: the checks above say why.
        if (o.deep && ok) ok = await printProbe(api);
      } catch (err) {
        failWith(err);
      }
      process.exit(ok ? 0 : 1);
    });
}
