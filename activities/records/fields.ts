// Field names a tenant record may not carry: MongoDB/FerretDB would refuse or misread them, at
// any depth (`$` operators, dotted paths, NUL), and two names are ours at the top level.

/** Top-level names the stored copy gives its own meaning: the key and our metadata. */
const RESERVED = new Set(['_id', '_sync']);
const MAX_SHOWN = 80;

const show = (path: readonly string[]) => {
  const p = path.join(' › ');
  return p.length > MAX_SHOWN ? `${p.slice(0, MAX_SHOWN)}…` : p;
};

function problemOf(name: string): string | undefined {
  if (name.startsWith('$')) return 'starts with "$"';
  if (name.includes('.')) return 'contains "."';
  if (name.includes('\0')) return 'contains NUL';
  return undefined;
}

const isPlain = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

function nested(v: unknown, path: string[]): string | undefined {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const found = nested(v[i], [...path, `[${i}]`]);
      if (found) return found;
    }
    return undefined;
  }
  if (!isPlain(v)) return undefined;
  for (const [name, x] of Object.entries(v)) {
    const problem = problemOf(name);
    if (problem) return `field name ${show([...path, name])} ${problem}`;
    const found = nested(x, [...path, name]);
    if (found) return found;
  }
  return undefined;
}

/** Why the record's fields cannot be stored as they are; undefined when they can. */
export function unsafeField(data: Record<string, unknown>): string | undefined {
  for (const name of Object.keys(data)) if (RESERVED.has(name)) return `field name ${name} is reserved at the top level`;
  return nested(data, []);
}
