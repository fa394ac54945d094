import { z } from 'zod';

// Building blocks of the config schema (infra/config.ts): value parsers for environment strings,
// and `opt`, which attaches an option's documentation to its schema so that the README table and
// .env.example can be generated from it (infra/config-docs.ts).

/** The .env.example sections, in file order; the README table lists options in the same order. */
export const CONFIG_GROUPS = {
  process: 'API and worker processes',
  mongodb: 'MongoDB',
  redis: 'Redis',
  auth: 'Auth',
  secrets: 'Secrets at rest and outbound calls',
  temporal: 'Temporal and the login-sync feature flag',
  clientUpsert: 'Client configuration upsert',
  hardening: 'API hardening',
  quotas: 'Quotas on starting work (per tenant, overridable in the tenant registry; global caps)',
  migrations: 'Migrations',
  schedules: 'Schedules: cleanup and stuck-sync detection',
  devStack: 'Dev stack (make up; not used by docker-compose.yml)',
} as const;

export type ConfigGroup = keyof typeof CONFIG_GROUPS;

/** What the docs say about one option; its default comes from the schema itself. */
export interface OptionDoc {
  /** The .env.example section the option is listed in. */
  group: ConfigGroup;
  /** One sentence: what the option does (the README's "meaning", the comment above it in .env.example). */
  description: string;
  /** More comment lines for .env.example only (how to generate a value, rotation steps). @default [] */
  notes?: readonly string[];
  /** The README's default cell when the value alone says too little. @default the default value in backticks ("empty" / "unset") */
  shownDefault?: string;
}

/** Every option's documentation, keyed by its schema (one schema instance per option). */
export const configDocs = z.registry<OptionDoc>();

/** Registers `schema` as a documented option and returns it unchanged. */
export function opt<S extends z.ZodType>(
  schema: S,
  group: ConfigGroup,
  description: string,
  more: Pick<OptionDoc, 'notes' | 'shownDefault'> = {},
): S {
  configDocs.add(schema, { group, description, ...more });
  return schema;
}

/** true/false (also 1/0, yes/no), defaulting to `def`. */
export const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** A whole number within [min, max], defaulting to `def`. */
export const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .default(String(def))
    .refine((v) => /^\d+$/.test(v.trim()), { message: 'must be a whole number' })
    .transform((v) => Number(v.trim()))
    .refine((n) => n >= min && n <= max, { message: `must be between ${min} and ${max}` });

/** A comma-separated list (empty by default); a function, so each option gets its own schema. */
export const csv = () =>
  z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );

/** `host:port`. */
export const hostPort = () => z.string().regex(/^[^\s:/]+:\d{1,5}$/, { message: 'must look like host:port' });
