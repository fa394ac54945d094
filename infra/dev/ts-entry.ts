// How every long-running TypeScript program of this repo is started as a process: plain node with
// tsx's loader (`node --import tsx <file>`), never the tsx CLI. The CLI runs the program in a
// second process that relays signals to it and SIGKILLs it when it does not acknowledge one
// within 30 ms, which a busy process on a loaded machine does not: a SIGTERM's drain (in-flight
// requests answered, activities cancelled) and a supervisor's clean stop were cut short.

/** The command and arguments that run `file` (a path) as its own node process. */
export function tsEntry(file: string, nodeFlags: readonly string[] = []): [string, string[]] {
  return [process.execPath, [...nodeFlags, '--import', 'tsx', file]];
}

/** The same as a command line for manifests and scripts (run from the repo's root). */
export const tsEntryCommand = (file: string): string[] => ['node', '--import', 'tsx', file];

/**
 * Environment the repository's processes run with unless the caller's environment says otherwise
 * (the Dockerfile sets the same). MALLOC_ARENA_MAX=2: glibc gives each thread that allocates
 * its own malloc arena (up to 8 per core), and the worker's threads — the Temporal core's, the
 * workflow threads, libuv's pool — each keep one: measured 2026-12-07, an idle worker's peak RSS
 * 345 → 320 MB with it (bench:login's worker row has the figure under load).
 */
export const PROCESS_ENV_DEFAULTS: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
