import CircuitBreaker from 'opossum';
import { WithStartWorkflowOperation, isGrpcServiceError } from '@temporalio/client';
import type { TemporalHandle } from '../../../infra/temporal';
import { DeadlineExceededError, withTimeout } from '../../../infra/timeout';
import { WorkflowIds } from '../../../shared/constants';
import { AppError } from '../../../shared/errors';
import {
  essentialReadyUpdate,
  TenantSyncNames,
  tenantSyncStartOptions,
  type EssentialReadyResult,
  type FallbackReason,
  type TenantSyncInput,
  type TenantSyncWorkflow,
} from '../../../shared/tenant-sync';
import type { Logger } from '../../../infra/logger';

// The Temporal login path: one update-with-start call that returns when the essential
// collections are ready, raced against the login deadline, behind a circuit breaker.

export interface TemporalLoginOptions {
  temporal: TemporalHandle;
  taskQueue: string;
  timeoutMs: number;
  breaker: { failures: number; windowMs: number; resetMs: number };
  log: Logger;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

/** Thrown when the Temporal login path gave no answer; `reason` becomes the fallbackReason. */
export class TemporalLoginError extends AppError {
  constructor(
    readonly reason: FallbackReason,
    message: string,
    readonly workflowId: string,
  ) {
    super('temporal-login-unanswered', message);
  }
}

function reasonOf(err: unknown): FallbackReason {
  if (err instanceof DeadlineExceededError) return 'timeout';
  if (err instanceof Error && (err as { code?: string }).code === 'EOPENBREAKER') return 'circuit_open';
  if (isGrpcServiceError(err) && (err.code === 14 || err.code === 4)) return err.code === 4 ? 'timeout' : 'unavailable';
  const text = err instanceof Error ? `${err.name} ${err.message}` : String(err);
  if (/UNAVAILABLE|ECONNREFUSED|connect|Connection/i.test(text)) return 'unavailable';
  if (/DEADLINE|cancel|abort/i.test(text)) return 'timeout';
  return 'error';
}

export function createTemporalLogin(o: TemporalLoginOptions) {
  const call = async (input: TenantSyncInput, fairnessWeight?: number): Promise<EssentialReadyResult> => {
    const start = tenantSyncStartOptions(input, o.taskQueue, 'login', fairnessWeight);
    const op = new WithStartWorkflowOperation<TenantSyncWorkflow>(TenantSyncNames.workflow, start);
    // The login owns its deadline: abort the gRPC calls, and race them in case they hang (sdk-typescript#953).
    return withTimeout('temporal login sync', o.timeoutMs, (signal) =>
      o.temporal.connection.withAbortSignal(signal, () =>
        o.temporal.client.workflow.executeUpdateWithStart(essentialReadyUpdate, { startWorkflowOperation: op }),
      ),
    );
  };

  const breaker = new CircuitBreaker(call, {
    timeout: false,
    resetTimeout: o.breaker.resetMs,
    rollingCountTimeout: o.breaker.windowMs,
    rollingCountBuckets: 10,
    volumeThreshold: o.breaker.failures,
    errorThresholdPercentage: 50,
  });
  breaker.on('open', () =>
    o.log.warn({ resetMs: o.breaker.resetMs }, 'temporal circuit breaker opened: logins go straight to direct sync'),
  );
  breaker.on('halfOpen', () => o.log.info('temporal circuit breaker half-open: next login probes Temporal'));
  breaker.on('close', () => o.log.info('temporal circuit breaker closed'));

  return {
    /** Resolves with the essential result, or throws TemporalLoginError naming the fallback reason. */
    async ensure(input: TenantSyncInput, fairnessWeight?: number): Promise<EssentialReadyResult> {
      try {
        return await breaker.fire(input, fairnessWeight);
      } catch (err) {
        const reason = reasonOf(err);
        throw new TemporalLoginError(reason, err instanceof Error ? err.message : String(err), WorkflowIds.tenantSync(input.tenantId));
      }
    },
    breakerState(): BreakerState {
      return breaker.opened ? 'open' : breaker.halfOpen ? 'half_open' : 'closed';
    },
    breakerStats() {
      const s = breaker.stats;
      return { failures: s.failures, successes: s.successes, rejects: s.rejects, fires: s.fires };
    },
    shutdown: () => breaker.shutdown(),
  };
}

export type TemporalLogin = ReturnType<typeof createTemporalLogin>;
