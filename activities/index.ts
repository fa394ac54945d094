import type { ActivityDeps } from './deps';
import { createStackProbeActivities } from './stack-probe';

export type { ActivityDeps } from './deps';

/** Every activity the worker registers, built over one set of dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createStackProbeActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
