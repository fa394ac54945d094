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
