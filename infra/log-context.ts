import { AsyncLocalStorage } from 'node:async_hooks';

// Fields bound to everything that runs inside one unit of work (an activity execution): the
// logger's mixin adds them to every line written there, whichever logger instance writes it,
// so activity code keeps calling deps.log and still logs with trace and workflow context.

export interface LogFields {
  traceId?: string;
  correlationId?: string;
  workflowId?: string;
  activityType?: string;
}

const store = new AsyncLocalStorage<LogFields>();

/** Runs `fn` with `fields` on every log line written inside it (nested calls add to the outer fields). */
export function withLogFields<T>(fields: LogFields, fn: () => T): T {
  return store.run({ ...store.getStore(), ...fields }, fn);
}

/** The fields of the unit of work running now (empty outside one). */
export function currentLogFields(): LogFields {
  return store.getStore() ?? {};
}
