// The stack probe (`cli health --deep`): its name, result and signature, shared by the workflow,
// its activity and the CLI. Pure: the workflow bundle imports it.

export const StackProbeNames = {
  workflow: 'stackProbeWorkflow',
} as const;

/** What one probe wrote, and where. */
export interface ProbeResult {
  probeId: string;
  mongoWritten: boolean;
  redisWritten: boolean;
  at: string;
}

/** The workflow as its clients start it (by the name StackProbeNames.workflow): typed args and result. */
export type StackProbeWorkflow = (probeId: string) => Promise<ProbeResult>;
