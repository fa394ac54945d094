// Reading Prometheus text-format scrapes (GET /health/metrics, the worker's metrics port) in
// benches and tests: the samples of one metric name with some labels, and their values.

/** The sample lines of exactly `name` that carry these labels (any others allowed). */
export function promSamples(text: string, name: string, labels: Record<string, string> = {}): string[] {
  return text
    .split('\n')
    .filter(
      (l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
    );
}

/** A sample line's value (its last field). */
export const sampleValue = (line: string): number => Number(line.slice(line.lastIndexOf(' ') + 1));

/** The sum of those samples; undefined when there is none. */
export function promSum(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const lines = promSamples(text, name, labels);
  return lines.length ? lines.reduce((s, l) => s + sampleValue(l), 0) : undefined;
}
