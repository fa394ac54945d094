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
import { createBreakerMetrics } from '../../../infra/metrics';
import { createCircuitBreaker, isBrokenCircuitError, type BreakerState } from './breaker';

// The Temporal login path: one update-with-start call that returns when the essential
// collections are ready, raced against the login deadline, behind a circuit breaker.

export interface TemporalLoginOptions {
  temporal: TemporalHandle;
  taskQueue: string;
  timeoutMs: number;
  breaker: { failures: number; windowMs: number; resetMs: number };
  log: Logger;
}

export type { BreakerState } from './breaker';

/** Gauge values of the breaker's state. */
const stateValue = { closed: 0, half_open: 1, open: 2 } as const satisfies Record<BreakerState, number>;

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
  if (isBrokenCircuitError(err)) return 'circuit_open';
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

  const metrics = createBreakerMetrics();
  metrics.state.record(stateValue.closed);
  // Failures are calls that threw (timeout, unavailable, error); an answer with essentialReady false is not one.
  const breaker = createCircuitBreaker({
    ...o.breaker,
    opensAtOnce: (err) => reasonOf(err) === 'unavailable',
    onTransition: (from, to) => {
      metrics.state.record(stateValue[to]);
      metrics.transitions.add(1, { from, to });
      if (to === 'open')
        o.log.warn({ from, resetMs: o.breaker.resetMs }, 'temporal circuit breaker opened: logins go straight to direct sync');
      else if (to === 'half_open') o.log.info('temporal circuit breaker half-open: this login probes Temporal');
      else o.log.info({ from }, 'temporal circuit breaker closed');
    },
  });

  return {
    /** Resolves with the essential result, or throws TemporalLoginError naming the fallback reason. */
    async ensure(input: TenantSyncInput, fairnessWeight?: number): Promise<EssentialReadyResult> {
      try {
        return await breaker.execute(() => call(input, fairnessWeight));
      } catch (err) {
        const reason = reasonOf(err);
        throw new TemporalLoginError(reason, err instanceof Error ? err.message : String(err), WorkflowIds.tenantSync(input.tenantId));
      }
    },
    breakerState: (): BreakerState => breaker.state(),
    breakerStats: () => breaker.stats(),
    /** Nothing to release: the breaker keeps no timers (it checks the time on the next call). */
    shutdown: (): void => undefined,
  };
}

export type TemporalLogin = ReturnType<typeof createTemporalLogin>;
