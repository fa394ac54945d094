// "Ready" for the dev stack: /health/ready answers 200 and a worker polls the login task queue
// (the temporal check's status is ok); before that, logins would go direct (no_worker).

export interface ReadyOptions {
  /** The API's base URL. */
  apiUrl: string;
  /** @default 120000 */
  timeoutMs?: number;
  /** Stops waiting early when it answers true (the stack is stopping). @default never */
  cancelled?: () => boolean;
}

export type ReadyAnswer =
  { ready: true; pollers?: number; taskQueue?: string } | { ready: false; /** What was missing last. */ lastSeen: string };

type ReadyBody = { checks?: { temporal?: { status?: string; pollers?: number; taskQueue?: string } } };

async function readiness(apiUrl: string): Promise<{ code: number; body: ReadyBody } | undefined> {
  try {
    const res = await fetch(`${apiUrl}/health/ready`, { signal: AbortSignal.timeout(5_000) });
    return { code: res.status, body: (await res.json()) as ReadyBody };
  } catch {
    return undefined; // not listening yet
  }
}

/** Polls /health/ready every 500 ms until ready, the timeout, or `cancelled()`. */
export async function waitForReady(o: ReadyOptions): Promise<ReadyAnswer> {
  const deadline = Date.now() + (o.timeoutMs ?? 120_000);
  let lastSeen = 'the API does not answer yet';
  while (!o.cancelled?.()) {
    const r = await readiness(o.apiUrl);
    const temporal = r?.body.checks?.temporal;
    if (r?.code === 200 && (temporal?.status === undefined || temporal.status === 'ok'))
      return { ready: true, ...(temporal?.pollers !== undefined && { pollers: temporal.pollers, taskQueue: temporal.taskQueue ?? '' }) };
    if (r?.code !== undefined && r.code !== 200) lastSeen = `/health/ready answers ${r.code}`;
    else if (temporal?.status === 'degraded') lastSeen = `no worker polls the login task queue ${temporal.taskQueue ?? ''} yet`;
    else if (temporal?.status === 'unknown') lastSeen = 'Temporal did not describe the login task queue';
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return { ready: false, lastSeen };
}
