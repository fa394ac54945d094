import { describe, expect, it } from 'vitest';
import { correlationIdFrom, hashSubject, parseTraceparent } from '../../../api/plugins/request-context';
import { tenantDbName } from '../../../infra/mongo';

describe('request context helpers', () => {
  it('honours a valid W3C traceparent and rejects malformed or all-zero ones', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(parseTraceparent(tp)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' });
    expect(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeUndefined();
    expect(parseTraceparent('garbage')).toBeUndefined();
    expect(parseTraceparent(['x'])).toBeUndefined();
  });

  it('keeps a well-formed correlation ID and replaces a hostile one', () => {
    expect(correlationIdFrom({ headers: { 'x-correlation-id': 'sync-acme-1-abc' } })).toBe('sync-acme-1-abc');
    const replaced = correlationIdFrom({ headers: { 'x-correlation-id': 'bad id\n{"$gt":1}' } });
    expect(replaced).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('hashes subjects so logs never carry them', () => {
    expect(hashSubject('alice@example.com')).toMatch(/^[0-9a-f]{12}$/);
    expect(hashSubject('alice@example.com')).not.toContain('alice');
  });

  it('derives distinct, safe database names per tenant', () => {
    expect(tenantDbName('acme')).toBe('tenant_acme');
    const odd = tenantDbName('a.b');
    expect(odd).toBe('tenant_a_0b');
    expect(tenantDbName('a_b')).not.toBe(odd);
  });
});
