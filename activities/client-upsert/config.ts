import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CLIENT_KEY_RE, type ClientStep, type SectionHashes } from '../../shared/client-upsert';
import { AppError } from '../../shared/errors';
import { contentHash } from '../records/writer';

// The schema of a client config file (clients/<key>.json) and its validation. Errors name the
// client, the field and the problem. Routes are checked one by one: a bad route is reported
// and left out, the others go on; any other problem makes the whole config invalid.

/** Bumped when the upsert's meaning changes, so every stored hash goes stale at once (2: memberships as documents, issue 12). */
export const CONFIG_SCHEMA_VERSION = 2;

const name = (max = 200) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
const roles = z.array(z.string().regex(/^[A-Za-z0-9_:.-]{1,64}$/, 'must be a role name (letters, digits, _ : . -)')).max(50);
const FQN_RE = /^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}@\d{1,6}\.\d{1,6}\.\d{1,6}$/;
const fqn = z.string().regex(FQN_RE, "must be a component fqn like 'core.Dashboard@1.0.0'");
const freeForm = z.record(z.string(), z.unknown());

export const RouteSchema = z.strictObject({
  key: z
    .string()
    .regex(/^[A-Za-z0-9/_:.-]{1,200}$/, 'must be 1-200 letters, digits or / _ : . -')
    .optional(),
  path: z.string().regex(/^\/[^\s]{0,499}$/, "must start with '/' and contain no spaces"),
  title: name().optional(),
  componentFqn: fqn,
  exact: z.boolean().optional(),
  public: z.boolean().optional(),
  roles: roles.optional(),
  redirect: z.string().max(500).optional(),
  args: freeForm.optional(),
  componentProps: freeForm.optional(),
});
export type RouteSpec = z.output<typeof RouteSchema> & { key: string };

const MenuEntry = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -'),
  title: name(),
  link: z.string().min(1).max(500),
  icon: z.string().max(64).optional(),
  roles: roles.optional(),
});
export const MenuSchema = z.strictObject({
  key: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -'),
  name: name(),
  target: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -'),
  roles: roles.optional(),
  entries: z.array(MenuEntry).max(200),
});
export type MenuSpec = z.output<typeof MenuSchema>;

export const ComponentSchema = z.strictObject({
  nameSpace: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -'),
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -'),
  version: z.string().regex(/^\d{1,6}\.\d{1,6}\.\d{1,6}$/, "must be a version like '1.0.0'"),
  title: name().optional(),
  description: z.string().max(2000).optional(),
  roles: roles.optional(),
  args: freeForm.optional(),
});
export type ComponentSpec = z.output<typeof ComponentSchema>;
export const componentFqn = (c: Pick<ComponentSpec, 'nameSpace' | 'name' | 'version'>) => `${c.nameSpace}.${c.name}@${c.version}`;

/** Plaintext passwords are refused: a config names an env variable, carries a scrypt hash, or gets an invite. */
export const UserSchema = z
  .strictObject({
    email: z
      .email('must be an e-mail address')
      .max(254)
      .transform((e) => e.toLowerCase()),
    firstName: name(100),
    lastName: name(100),
    roles: roles.default([]),
    passwordHash: z
      .string()
      .regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]{16,}\$[A-Za-z0-9_-]{32,}$/, "must be 'scrypt$N$r$p$salt$hash' (base64url)")
      .optional(),
    passwordEnv: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'must name an environment variable (A-Z, 0-9, _)')
      .optional(),
  })
  .refine((u) => !(u.passwordHash && u.passwordEnv), { message: 'set passwordHash or passwordEnv, not both', path: ['passwordEnv'] });
export type UserSpec = z.output<typeof UserSchema>;

export const ClientConfigSchema = z.strictObject({
  key: z.string().regex(CLIENT_KEY_RE, 'must be 1-48 lowercase letters, digits, _ or - (starting with a letter or digit)'),
  name: name(),
  settings: freeForm.default({}),
  routes: z.array(z.unknown()).max(5000, 'at most 5000 routes').default([]),
  menus: z.array(MenuSchema).max(100).default([]),
  components: z.array(ComponentSchema).max(500).default([]),
  users: z.array(UserSchema).max(1000).default([]),
});

export interface ConfigIssue {
  clientKey: string;
  /** Dotted path inside the config (`routes[3].path`), or `(file)` for the file as a whole. */
  field: string;
  problem: string;
  /** Route key for route issues. */
  item?: string;
}

export const formatIssue = (i: ConfigIssue) => `client '${i.clientKey}': ${i.field}: ${i.problem}`;

/** Thrown when a client config cannot be used at all; lists every problem. */
export class ClientConfigError extends AppError {
  constructor(
    readonly clientKey: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super('client-config-invalid', issues.map(formatIssue).join('; '));
  }
}

export interface ClientConfig {
  key: string;
  name: string;
  settings: Record<string, unknown>;
  /** Valid routes, each with its key (defaults to its path). */
  routes: RouteSpec[];
  /** Routes left out, with what is wrong; `item` is the route's key when it has a usable one. */
  routeIssues: ConfigIssue[];
  menus: MenuSpec[];
  components: ComponentSpec[];
  users: UserSpec[];
}

export function fieldOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(root)';
}

/** Field names MongoDB refuses or misreads, anywhere in a free-form object. */
function unsafeKeys(value: unknown, path: string, out: string[]): void {
  if (Array.isArray(value)) value.forEach((v, i) => unsafeKeys(v, `${path}[${i}]`, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k.startsWith('$') || k.includes('.') || k.includes('\0')) out.push(`${path}.${k}`);
      unsafeKeys(v, `${path}.${k}`, out);
    }
  }
}

function duplicates<T>(
  items: readonly T[],
  keyOf: (t: T) => string,
  field: (i: number) => string,
  what: string,
  clientKey: string,
  label: (k: string) => string = (k) => k,
): ConfigIssue[] {
  const seen = new Set<string>();
  const issues: ConfigIssue[] = [];
  items.forEach((t, i) => {
    const k = keyOf(t);
    if (seen.has(k)) issues.push({ clientKey, field: field(i), problem: `duplicate ${what} '${label(k)}'` });
    seen.add(k);
  });
  return issues;
}

/** Validates one parsed config file. `fileKey` is the key its file name gives. */
export function validateClientConfig(raw: unknown, fileKey: string): { config?: ClientConfig; issues: ConfigIssue[] } {
  const clientKey = fileKey;
  const rawUsers = (raw as { users?: unknown })?.users;
  const issues: ConfigIssue[] = [];
  if (Array.isArray(rawUsers)) {
    rawUsers.forEach((u, i) => {
      if (u && typeof u === 'object' && 'password' in u)
        issues.push({
          clientKey,
          field: `users[${i}].password`,
          problem: 'plaintext passwords are not accepted in config files: use passwordEnv, passwordHash, or neither (an invite is issued)',
        });
    });
  }
  const parsed = ClientConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      if (i.path[0] === 'users' && i.code === 'unrecognized_keys' && i.keys.every((k) => k === 'password')) continue;
      issues.push({ clientKey, field: fieldOf(i.path), problem: i.message });
    }
    return { issues };
  }
  const c = parsed.data;
  if (c.key !== fileKey)
    issues.push({ clientKey, field: 'key', problem: `must equal the file name's key '${fileKey}' (found '${c.key}')` });
  const unsafe: string[] = [];
  unsafeKeys(c.settings, 'settings', unsafe);
  c.components.forEach((comp, i) => unsafeKeys(comp.args ?? {}, `components[${i}].args`, unsafe));
  for (const f of unsafe) issues.push({ clientKey, field: f, problem: "field names must not start with '$' or contain '.'" });
  issues.push(
    ...duplicates(
      c.menus,
      (m) => m.key,
      (i) => `menus[${i}].key`,
      'menu key',
      clientKey,
    ),
  );
  issues.push(...duplicates(c.components, componentFqn, (i) => `components[${i}]`, 'component', clientKey));
  // Issues reach logs and the API: a user is named by reference, never by e-mail.
  issues.push(
    ...duplicates(
      c.users,
      (u) => u.email,
      (i) => `users[${i}].email`,
      'user',
      clientKey,
      userRef,
    ),
  );
  if (issues.length > 0) return { issues };

  const routes: RouteSpec[] = [];
  const routeIssues: ConfigIssue[] = [];
  const keys = new Set<string>();
  c.routes.forEach((r, i) => {
    const rawKey = r && typeof r === 'object' ? ((r as { key?: unknown }).key ?? (r as { path?: unknown }).path) : undefined;
    const item = typeof rawKey === 'string' && rawKey.length <= 200 ? rawKey : undefined;
    const p = RouteSchema.safeParse(r);
    if (!p.success) {
      for (const e of p.error.issues)
        routeIssues.push({ clientKey, field: fieldOf(['routes', i, ...e.path]), problem: e.message, ...(item ? { item } : {}) });
      return;
    }
    const spec: RouteSpec = { ...p.data, key: p.data.key ?? p.data.path };
    const bad: string[] = [];
    unsafeKeys(spec.args ?? {}, `routes[${i}].args`, bad);
    unsafeKeys(spec.componentProps ?? {}, `routes[${i}].componentProps`, bad);
    if (bad.length > 0) {
      for (const f of bad)
        routeIssues.push({ clientKey, field: f, problem: "field names must not start with '$' or contain '.'", item: spec.key });
      return;
    }
    // A duplicate has no item: the stored route of that key belongs to the first occurrence.
    if (keys.has(spec.key))
      return void routeIssues.push({ clientKey, field: `routes[${i}].key`, problem: `duplicate route key '${spec.key}'` });
    keys.add(spec.key);
    routes.push(spec);
  });
  const { routes: _raw, ...rest } = c;
  return { config: { ...rest, routes, routeIssues }, issues: [] };
}

/**
 * Hash of a config file: SHA-256 of its bytes (no parse needed, so a no-op run costs a read and
 * a hash per file). A file that mentions a `password` field — refused by validation — is hashed
 * from its parse with those values redacted, so no stored hash is ever one of a password.
 * Formatting-only edits change the hash; the run that follows finds every section unchanged.
 */
export function fileHashOf(text: string): string {
  if (/"password"\s*:/.test(text)) {
    try {
      return configHashOf(JSON.parse(text));
    } catch {
      return contentHash({ v: CONFIG_SCHEMA_VERSION, unparsable: true, length: text.length });
    }
  }
  return createHash('sha256').update(`client-config v${CONFIG_SCHEMA_VERSION}\n`).update(text).digest('base64url').slice(0, 22);
}

/** Canonical hash of a parsed config (key order does not matter); plaintext passwords redacted. */
export function configHashOf(raw: unknown): string {
  const users = (raw as { users?: unknown })?.users;
  if (Array.isArray(users) && users.some((u) => u && typeof u === 'object' && 'password' in u)) {
    const redacted = users.map((u) => (u && typeof u === 'object' && 'password' in u ? { ...u, password: '[redacted]' } : u));
    return contentHash({ v: CONFIG_SCHEMA_VERSION, raw: { ...(raw as object), users: redacted } });
  }
  return contentHash({ v: CONFIG_SCHEMA_VERSION, raw });
}

/** Hash per step of the part of the config it applies: a step whose part is unchanged need not run. */
export function sectionHashesOf(raw: unknown): SectionHashes {
  const r = (raw ?? {}) as Record<string, unknown>;
  const h = (part: unknown) => contentHash({ v: CONFIG_SCHEMA_VERSION, part: part ?? null });
  return {
    client: h({ key: r.key, name: r.name, settings: r.settings }),
    routes: h(r.routes),
    menus: h(r.menus),
    components: h(r.components),
    users: h(r.users),
  };
}

export function itemCountsOf(c: ClientConfig): Record<ClientStep, number> {
  return { client: 1, routes: c.routes.length, menus: c.menus.length, components: c.components.length, users: c.users.length };
}

/** Stable reference to a user for logs, errors and results: never the e-mail itself. */
export function userRef(email: string): string {
  return `u:${createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 12)}`;
}
