import { describe, expect, it } from 'vitest';
import { idempotencyScope, idFromIdempotencyKey } from '../../../api/plugins/idempotency';
import type { Principal } from '../../../infra/auth-token';

// The scope of an idempotency record and of IDs derived from a key: subject and tenant set.

const p = (sub: string, tenants: readonly string[] | '*'): Principal => ({ sub, scopes: new Set(['admin']), tenants });

describe('idempotency scope', () => {
  it('is the subject and the sorted tenant set; "*" differs from a list holding "*"', () => {
    expect(idempotencyScope(p('ops', ['b', 'a']))).toBe(idempotencyScope(p('ops', ['a', 'b'])));
    const scopes = [p('ops', ['a']), p('ops', ['a', 'b']), p('ops', '*'), p('ops', ['*']), p('ops', []), p('dev', ['a'])].map(
      idempotencyScope,
    );
    expect(new Set(scopes).size).toBe(scopes.length);
    expect(idempotencyScope(undefined)).toBe('anonymous');
  });

  it('derives IDs per scope: the same key under another tenant set names another batch', () => {
    const id = idFromIdempotencyKey('rc', p('ops', ['a']), 'key-1');
    expect(id).toMatch(/^rc-[0-9a-f]{24}$/);
    expect(idFromIdempotencyKey('rc', p('ops', ['a']), 'key-1')).toBe(id);
    expect(idFromIdempotencyKey('rc', p('ops', '*'), 'key-1')).not.toBe(id);
    expect(idFromIdempotencyKey('rc', p('ops', ['a']), 'key-2')).not.toBe(id);
  });
});
