// Server dynamic config that task-queue priority and fairness need (Temporal server 1.29, inside
// CLI 1.5.1: both off by default). The dev stack passes each as `--dynamic-config-value`;
// docker-compose mounts infra/temporal/dynamicconfig.yaml with the same values (a unit test keeps
// the two in step).
// - matching.useNewMatcher: the priority-aware task matcher (priority keys are ignored without it).
// - matching.enableFairness: fairness-key dispatch (implies the new matcher).
// - one read and one write partition per task queue: with a single node, more partitions only
//   split the backlog so that priority holds within a partition but not across them.

export const TEMPORAL_DYNAMIC_CONFIG = {
  'matching.useNewMatcher': true,
  'matching.enableFairness': true,
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
} as const satisfies Record<string, boolean | number>;

/** The dev server's flags for TEMPORAL_DYNAMIC_CONFIG. */
export function dynamicConfigArgs(values: Record<string, boolean | number> = TEMPORAL_DYNAMIC_CONFIG): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${JSON.stringify(v)}`]);
}
