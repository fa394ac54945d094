import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SIGNAL_COALESCE_MS } from '../shutdown';

// What a dev tool or benchmark starts (servers, workers, temp folders) is stopped when it is
// interrupted: the first SIGINT/SIGTERM runs every registered cleanup once, newest first, and
// exits non-zero (128 + the signal's number), unless the program has a handler of its own for
// that signal; a later signal or the deadline kills what is left. Whatever way the process exits, child processes still running are killed on 'exit';
// and should it be SIGKILLed (tsx, which `npm run` scripts use, SIGKILLs its child when it does
// not acknowledge a relayed signal within 30 ms), a small reaper kills them after it.

export interface StopRegistry {
  /** Registers a cleanup (run once, the last registered first); returns a function that drops it. */
  add(what: string, close: () => unknown): () => void;
  /** Runs the cleanups (once: a second call waits for the first) and exits with `code`. */
  stop(code: number): Promise<never>;
  /** True once a signal arrived or stop() was called. */
  readonly stopping: boolean;
}

export interface StopOptions {
  say?: (msg: string) => void;
  /** From the first signal to killing what is left. @default 60000 */
  deadlineMs?: number;
  /** Bound on one cleanup. @default 30000 */
  stepMs?: number;
  /** Signals within this long of the first are the same one (Ctrl-C reaches a process group and is relayed by npm/tsx). @default SIGNAL_COALESCE_MS */
  coalesceMs?: number;
}

const EXIT_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** Every process below `pid` (from /proc), children before their own children. */
export function descendantsOf(pid: number): number[] {
  let kids: number[] = [];
  try {
    for (const task of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)) if (task) kids.push(Number(task));
  } catch {
    kids = [];
  }
  return kids.flatMap((k) => [k, ...descendantsOf(k)]);
}

/** SIGKILLs every process below this one; returns their PIDs. Synchronous (usable on 'exit'). */
export function killDescendants(): number[] {
  const pids = descendantsOf(process.pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids;
}

/**
 * A shell that notes this process's descendants every second and, once this process is gone
 * without having stopped them, SIGKILLs them. It ignores SIGINT/SIGTERM (Ctrl-C reaches the
 * whole process group) and is itself killed on a normal exit (it is a descendant).
 */
const REAPER = `
trap '' INT TERM HUP
parent=$1; me=$$; list=""
walk() { local k kids=""; read -r kids 2>/dev/null < /proc/$1/task/$1/children; for k in $kids; do [ "$k" = "$me" ] && continue; echo "$k"; walk "$k"; done; }
up() { local st; read -r st 2>/dev/null < /proc/$parent/stat || return 1; case "\${st##*") "}" in Z*) return 1;; esac; }
# A walk the parent's death cut short is dropped: the one before it is complete.
while up; do l=$(walk "$parent"); up && list=$l; sleep 1; done
[ -n "$list" ] && kill -9 $list 2>/dev/null
exit 0`;

function startReaper(): void {
  try {
    const reaper = spawn('/bin/sh', ['-c', REAPER, 'reaper', String(process.pid)], { stdio: 'ignore' });
    reaper.on('error', () => undefined);
    reaper.unref();
  } catch {
    // best effort: without it only a SIGKILL of this process leaves children behind
  }
}

let registry: StopRegistry | undefined;

/** The process's one registry, its signal handlers installed on first use. */
export function stopOnSignals(o: StopOptions = {}): StopRegistry {
  if (registry) return registry;
  const say = o.say ?? ((m: string) => process.stderr.write(`${m}\n`));
  const coalesceMs = o.coalesceMs ?? SIGNAL_COALESCE_MS;
  const stepMs = o.stepMs ?? 30_000;
  const cleanups: Array<{ what: string; close: () => unknown }> = [];
  let running: Promise<never> | undefined;
  let firstSignalAt: number | undefined;

  const hardExit = (code: number, why: string): never => {
    const killed = killDescendants();
    say(`${why}: killed ${killed.length} process(es) left (${killed.join(', ') || 'none'}); exiting`);
    process.exit(code);
  };
  const stop = (code: number): Promise<never> => {
    running ??= (async () => {
      // Popped one at a time: a cleanup may drop others (a stack's close drops its own entry).
      for (let c = cleanups.pop(); c; c = cleanups.pop()) {
        let timer: NodeJS.Timeout | undefined;
        const bound = new Promise((r) => (timer = setTimeout(() => r(say(`stopping ${c.what}: no answer in ${stepMs} ms`)), stepMs)));
        await Promise.race([
          Promise.resolve()
            .then(c.close)
            .catch((err: unknown) => say(`stopping ${c.what}: ${String(err)}`)),
          bound,
        ]);
        clearTimeout(timer);
      }
      killDescendants();
      process.exit(code);
    })();
    return running;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    const code = EXIT_CODES[signal] ?? 1;
    if (firstSignalAt !== undefined) {
      if (Date.now() - firstSignalAt < coalesceMs) return;
      hardExit(code, `${signal} again`);
    }
    firstSignalAt = Date.now();
    setTimeout(() => hardExit(code, `not stopped within ${o.deadlineMs ?? 60_000} ms`), o.deadlineMs ?? 60_000).unref();
    // A program that handles the signal itself (bench/drill.ts) stops and exits its own way: this
    // only bounds it, and kills on exit whatever it left running.
    if (process.listeners(signal).some((l) => l !== onSignal)) return;
    say(`${signal}: stopping everything this started (again to kill at once)`);
    void stop(code);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => void killDescendants());
  startReaper();
  registry = {
    add(what, close) {
      const entry = { what, close };
      cleanups.push(entry);
      return () => {
        const i = cleanups.indexOf(entry);
        if (i >= 0) cleanups.splice(i, 1);
      };
    },
    stop,
    get stopping() {
      return firstSignalAt !== undefined || running !== undefined;
    },
  };
  return registry;
}
