import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TENANT_ID_PATTERN } from '../../../api/schemas';
import { DB_NAME_MAX, tenantDbName } from '../../../infra/tenant-db-name';

// Tenant ID → database name: injective, also when names compare case-insensitively (MongoDB),
// and always a valid name for both MongoDB (< 64 bytes) and FerretDB ([A-Za-z0-9_-]).

const ID_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-';
const first = fc.constantFrom(...ID_CHARS.slice(0, 62));
const rest = fc.string({ unit: fc.constantFrom(...ID_CHARS), maxLength: 63 });
/** IDs the API accepts (TENANT_ID_PATTERN), biased toward the characters that used to collide. */
const tenantId = fc.tuple(first, rest).map(([a, b]) => a + b);
const tricky = fc
  .tuple(fc.constantFrom('a', 'A', 'b'), fc.string({ unit: fc.constantFrom('a', 'A', '_', '.', '0', 'b'), maxLength: 63 }))
  .map(([a, b]) => a + b);
const VALID = /^[a-z0-9_-]{1,63}$/;

describe('tenantDbName', () => {
  it('keeps tenant_<id> for lowercase IDs, so the demo tenants keep their databases', () => {
    for (const id of ['demo-small', 'demo-large', 'demo-flaky', 'acme', 't-1']) expect(tenantDbName(id)).toBe(`tenant_${id}`);
  });

  it('separates the IDs that used to share a database', () => {
    expect(tenantDbName('Acme')).not.toBe(tenantDbName('acme'));
    expect(tenantDbName('Acme').toLowerCase()).not.toBe(tenantDbName('acme').toLowerCase());
    expect(tenantDbName('a.b')).not.toBe(tenantDbName('a_b'));
    // The old mapping sent `a.b` to tenant_a_b_<hash>, which a tenant literally named so also got.
    const oldStyle = `a_b_${createHash('sha256').update('a.b').digest('hex').slice(0, 10)}`;
    expect(tenantDbName(oldStyle)).not.toBe(tenantDbName('a.b'));
    expect(tenantDbName('A_B')).toBe('tenant__a___b');
  });

  it('maps distinct IDs to distinct names, compared case-insensitively (property)', () => {
    for (const arb of [tenantId, tricky]) {
      fc.assert(
        fc.property(arb, arb, (a, b) => {
          fc.pre(a !== b);
          expect(tenantDbName(a).toLowerCase()).not.toBe(tenantDbName(b).toLowerCase());
        }),
        { numRuns: 3000 },
      );
    }
  });

  it('always yields a valid MongoDB and FerretDB name (property)', () => {
    const pattern = new RegExp(TENANT_ID_PATTERN);
    fc.assert(
      fc.property(fc.oneof(tenantId, tricky), (id) => {
        expect(pattern.test(id)).toBe(true);
        const name = tenantDbName(id);
        expect(name).toMatch(VALID);
        expect(Buffer.byteLength(name)).toBeLessThanOrEqual(DB_NAME_MAX);
      }),
      { numRuns: 3000 },
    );
  });

  it('hashes only IDs too long to spell out, keeping a readable prefix', () => {
    const long = 'a'.repeat(64);
    const name = tenantDbName(long);
    expect(name).toMatch(/^tenant_a+_1[0-9a-f]{16}$/);
    expect(name.length).toBeLessThanOrEqual(DB_NAME_MAX);
    expect(tenantDbName('a'.repeat(56))).toBe(`tenant_${'a'.repeat(56)}`);
    expect(tenantDbName('A'.repeat(64))).not.toBe(tenantDbName('a'.repeat(64)));
  });

  it('is a valid name even for characters outside the tenant ID pattern', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 80 }), (id) => {
        expect(tenantDbName(id)).toMatch(VALID);
      }),
    );
    expect(tenantDbName('ä')).not.toBe(tenantDbName('a'));
  });
});
