// README.md's shell examples as data: the fenced bash/sh blocks, the marker before each
// (`<!-- example -->` runs it, `<!-- example: skip (why) -->` does not), their commands (lines
// joined at a trailing backslash) and the `# → …` expected outputs written after a command.

export interface ExampleCommand {
  /** 1-based line in README.md where the command starts. */
  line: number;
  text: string;
  /** The `# → …` lines after it: its output matches one of them. */
  expected: string[];
}

export interface ExampleBlock {
  line: number;
  /** The nearest heading above the block. */
  heading: string;
  lang: string;
  /** `run`, `skip`, or undefined when the line before the block carries no marker. */
  marker: 'run' | 'skip' | undefined;
  skipReason?: string;
  commands: ExampleCommand[];
}

const FENCE = /^```\s*([\w-]*)\s*$/;
const SHELL = new Set(['bash', 'sh', 'shell']);
const MARKER = /^<!--\s*example(?::\s*skip\b\s*(.*?))?\s*-->$/;
const EXPECTED = /^#\s*→\s?(.*)$/;

export function readmeBlocks(markdown: string): ExampleBlock[] {
  const lines = markdown.split('\n');
  const blocks: ExampleBlock[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (/^#{1,6}\s/.test(line)) heading = line.replace(/^#+\s*/, '');
    const fence = FENCE.exec(line);
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    if (end < 0) throw new Error(`README.md:${i + 1}: a code block that never closes`);
    const lang = fence[1] ?? '';
    if (SHELL.has(lang)) {
      let k = i - 1;
      while (k >= 0 && (lines[k] ?? '').trim() === '') k--;
      const m = MARKER.exec((lines[k] ?? '').trim());
      blocks.push({
        line: i + 1,
        heading,
        lang,
        marker: m ? (m[0].includes('skip') ? 'skip' : 'run') : undefined,
        ...(m?.[1] !== undefined && { skipReason: m[1].replace(/^\((.*)\)$/, '$1') }),
        commands: commandsOf(lines.slice(i + 1, end), i + 2),
      });
    }
    i = end;
  }
  return blocks;
}

/** Commands of a block: comments and blank lines dropped, `\`-continued lines kept together, `# →` kept as expectations. */
export function commandsOf(lines: string[], firstLine: number): ExampleCommand[] {
  const out: ExampleCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const trimmed = raw.trim();
    if (trimmed === '') continue;
    const exp = EXPECTED.exec(trimmed);
    if (exp) {
      const last = out.at(-1);
      if (!last) throw new Error(`README.md:${firstLine + i}: an expected output before any command`);
      last.expected.push((exp[1] ?? '').trim());
      continue;
    }
    if (trimmed.startsWith('#')) continue;
    let text = raw;
    const start = i;
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text}\n${lines[++i] ?? ''}`;
    out.push({ line: firstLine + start, text, expected: [] });
  }
  return out;
}

/** `{"a":1,...}` → `{"a":1}`: the fields an expected output names (`...` / `…` for the rest). */
export function expectedJson(expected: string): unknown {
  const text = expected.replace(/,?\s*(\.\.\.|…)\s*(?=[}\]])/g, '');
  return JSON.parse(text);
}

/** A command's JSON output: all of stdout, else its last non-empty line; undefined when neither parses. */
export function outputJson(stdout: string): unknown {
  const tryParse = (t: string) => {
    try {
      return { ok: true as const, v: JSON.parse(t) as unknown };
    } catch {
      return { ok: false as const };
    }
  };
  const whole = tryParse(stdout.trim());
  if (whole.ok) return whole.v;
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const tail = tryParse(last);
  return tail.ok ? tail.v : undefined;
}

/** Whether `actual` has every field of `pattern` (objects: a subset; arrays: same length, element by element). */
export function containsFields(actual: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern))
    return Array.isArray(actual) && actual.length === pattern.length && pattern.every((p, i) => containsFields(actual[i], p));
  if (pattern !== null && typeof pattern === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const a = actual as Record<string, unknown>;
    return Object.entries(pattern as Record<string, unknown>).every(([k, v]) => k in a && containsFields(a[k], v));
  }
  return Object.is(actual, pattern);
}

/** Whether a command's output matches one expected line (JSON fields, or text it contains). */
export function matchesExpected(stdout: string, expected: string): boolean {
  if (/^[[{]/.test(expected)) return containsFields(outputJson(stdout), expectedJson(expected));
  return stdout.includes(expected);
}
