// The drill's fault schedule: which fault, when and for how long, drawn from a seeded generator
// so a seed names one schedule (the same seed, the same faults at the same offsets).

export type FaultKind = 'kill-worker' | 'kill-api' | 'freeze-temporal' | 'freeze-ferretdb' | 'freeze-redis';
export const FAULT_KINDS: readonly FaultKind[] = ['kill-worker', 'kill-api', 'freeze-temporal', 'freeze-ferretdb', 'freeze-redis'];

export interface Fault {
  kind: FaultKind;
  /** Offset from the start of the storm (ms). */
  atMs: number;
  /** Freeze: SIGSTOP to SIGCONT; kill: SIGKILL to the restart (ms). */
  forMs: number;
  /** Which API or worker process (kills only). */
  target: number;
}

/** mulberry32: a small seeded generator of floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ScheduleOptions {
  seed: number;
  /** Each kind this many times. */
  rounds: number;
  /** Faults fall in [leadMs, stormMs - tailMs]. */
  stormMs: number;
  leadMs: number;
  tailMs: number;
  /** Freezes last longer than this (the login timeout): timeout + 1–3 s. */
  loginTimeoutMs: number;
  /** Quiet time after each fault ends (restart or SIGCONT) before the next one starts. */
  gapMs: number;
  apis: number;
  workers: number;
}

/**
 * Every kind `rounds` times in a seeded order, one fault at a time: each starts after the one
 * before has ended (thawed, or its process restarted) plus a gap, at a seeded offset, so a
 * killed process never restarts into a frozen server and each fault's effect is its own.
 */
export function faultSchedule(o: ScheduleOptions): Fault[] {
  const rnd = seededRandom(o.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const kinds = Array.from({ length: o.rounds }, () => [...FAULT_KINDS]).flat();
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = int(0, i);
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const durations = kinds.map((kind) => (kind.startsWith('freeze') ? o.loginTimeoutMs + int(1_000, 3_000) : int(2_000, 5_000)));
  const busy = durations.reduce((a, b) => a + b, 0) + o.gapMs * kinds.length;
  const room = o.stormMs - o.leadMs - o.tailMs;
  if (busy > room) throw new RangeError(`the storm is too short for ${kinds.length} faults: ${busy} ms of faults in ${room} ms`);
  // The slack (room − busy) spread over the gaps before each fault, in seeded shares.
  const shares = kinds.map(() => rnd());
  const sum = shares.reduce((a, b) => a + b, 0) || 1;
  let at = o.leadMs;
  return kinds.map((kind, i) => {
    at += Math.floor(((room - busy) * shares[i]!) / sum);
    const fault: Fault = {
      kind,
      atMs: at,
      forMs: durations[i]!,
      target: kind === 'kill-api' ? int(0, o.apis - 1) : kind === 'kill-worker' ? int(0, o.workers - 1) : 0,
    };
    at += durations[i]! + o.gapMs;
    return fault;
  });
}
