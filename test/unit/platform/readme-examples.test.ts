import { describe, expect, it } from 'vitest';
import { containsFields, expectedJson, matchesExpected, readmeBlocks } from '../../helpers/readme-examples';

// The README doc-test's reading of Markdown: markers, commands, expected outputs and their matching.

const DOC = [
  '# Title',
  '## Section',
  '<!-- example -->',
  '```bash',
  '# a comment',
  'TOKEN=$(echo t)',
  'curl -s -X POST \\',
  '  -d \'{"a":1}\' \\',
  '  http://127.0.0.1:3000/x',
  '# → {"a":1,"b":{"c":[1,2]},...}',
  '# or, when slower:',
  '# → {"a":2,...}',
  '```',
  '',
  '<!-- example: skip (needs a key) -->',
  '',
  '```sh',
  'export KEY=<old>',
  '```',
  '```ts',
  'const x = 1;',
  '```',
  '```bash',
  'echo unmarked',
  '```',
].join('\n');

describe('readme examples: parsing', () => {
  it('finds shell blocks with their marker, heading and commands; continued lines stay one command', () => {
    const blocks = readmeBlocks(DOC);
    expect(blocks.map((b) => [b.line, b.lang, b.marker, b.heading])).toEqual([
      [4, 'bash', 'run', 'Section'],
      [17, 'sh', 'skip', 'Section'],
      [23, 'bash', undefined, 'Section'],
    ]);
    expect(blocks[1]?.skipReason).toBe('needs a key');
    const [token, curl] = blocks[0]?.commands ?? [];
    expect(token).toEqual({ line: 6, text: 'TOKEN=$(echo t)', expected: [] });
    expect(curl?.line).toBe(7);
    expect(curl?.text).toBe('curl -s -X POST \\\n  -d \'{"a":1}\' \\\n  http://127.0.0.1:3000/x');
    expect(curl?.expected).toEqual(['{"a":1,"b":{"c":[1,2]},...}', '{"a":2,...}']);
  });

  it('refuses an expected output before any command, and a block that never closes', () => {
    expect(() => readmeBlocks('<!-- example -->\n```bash\n# → x\n```')).toThrow(/README.md:3/);
    expect(() => readmeBlocks('```bash\necho\n')).toThrow(/never closes/);
  });
});

describe('readme examples: expected outputs', () => {
  it('reads "..." as fields left out, at any depth', () => {
    expect(expectedJson('{"a":1,"b":[{"n":"r",...}],...}')).toEqual({ a: 1, b: [{ n: 'r' }] });
    expect(expectedJson('{…}')).toEqual({});
  });

  it('matches fields as a subset, arrays element by element with the same length', () => {
    expect(containsFields({ a: 1, b: { c: 2, d: 3 } }, { b: { c: 2 } })).toBe(true);
    expect(containsFields({ a: 1 }, { a: '1' })).toBe(false);
    expect(containsFields({ a: [{ n: 1, m: 2 }] }, { a: [{ n: 1 }] })).toBe(true);
    expect(containsFields({ a: [{ n: 1 }, { n: 2 }] }, { a: [{ n: 1 }] })).toBe(false);
    expect(containsFields({}, { a: null })).toBe(false);
  });

  it('takes the JSON of the whole output or of its last line; text is looked for as is', () => {
    expect(matchesExpected('{\n  "state": "partial",\n  "x": 1\n}\n', '{"state":"partial",...}')).toBe(true);
    expect(matchesExpected('progress…\n{"created":true,"id":"b1"}\n', '{"created":true,...}')).toBe(true);
    expect(matchesExpected('{"created":false}', '{"created":true,...}')).toBe(false);
    expect(matchesExpected('not json', '{"a":1}')).toBe(false);
    expect(matchesExpected('probe workflow   ok (12 ms)', 'probe workflow   ok')).toBe(true);
    expect(matchesExpected('probe workflow   failed', 'probe workflow   ok')).toBe(false);
  });
});
