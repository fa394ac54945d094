import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ProbeResult } from '../shared/stack-probe';
import { ActivityProfiles } from './profiles';

const { writeProbe } = proxyActivities<Activities>(ActivityProfiles.quick);

/** Diagnostic: proves worker, Temporal, MongoDB and Redis work together (`cli health --deep`). */
export async function stackProbeWorkflow(probeId: string): Promise<ProbeResult> {
  return writeProbe(probeId);
}
