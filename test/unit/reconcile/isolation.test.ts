import { describe, expect, it } from 'vitest';
import { createUriAllowlist, parseMongoUri } from '../../../api/services/reconcile/uris';
import { mayReach, reachOf } from '../../../api/services/reconcile/access';
import { platformDbRole } from '../../../activities/reconcile/guard';
import { tenantDbName } from '../../../infra/mongo';

// RECONCILE_ALLOWED_URIS matching by parsed host list and options; who may reach what.

describe('reconcile URI allowlist', () => {
  const list = createUriAllowlist([
    'mongodb://ops:pw@db1.example:27017,db2.example:27018/admin?replicaSet=rs0&tls=true',
    'mongodb+srv://cluster0.example/',
    'not a uri',
  ]);

  it('allows a URI whose hosts all belong to one entry, whatever its credentials and default db', () => {
    expect(list.allows('mongodb://db1.example:27017')).toBe(true);
    expect(list.allows('mongodb://other:secret@DB2.example:27018,db1.example/app?replicaSet=rs0')).toBe(true);
    expect(list.allows('mongodb+srv://u:p@cluster0.example/x?retryWrites=true')).toBe(true);
  });

  it('refuses other hosts, ports, schemes, and an empty allowlist', () => {
    expect(list.allows('mongodb://db1.example:27017,evil.example:27017')).toBe(false);
    expect(list.allows('mongodb://db2.example')).toBe(false); // 27017 is not db2's listed port
    expect(list.allows('mongodb://cluster0.example')).toBe(false);
    expect(list.allows('mongodb+srv://db1.example')).toBe(false);
    expect(list.allows('mongodb://127.0.0.1:27017')).toBe(false);
    expect(createUriAllowlist([]).allows('mongodb://db1.example:27017')).toBe(false);
  });

  it('refuses options that reach elsewhere or read files unless the entry carries the same value', () => {
    for (const opt of [
      'proxyHost=evil.example',
      'authMechanism=MONGODB-AWS',
      'tlsCAFile=/etc/passwd',
      'srvServiceName=x',
      'tlsInsecure=true',
    ]) {
      expect(list.allows(`mongodb://db1.example:27017/?${opt}`), opt).toBe(false);
    }
    expect(createUriAllowlist(['mongodb://h:1/?authMechanism=SCRAM-SHA-256']).allows('mongodb://h:1/?authmechanism=SCRAM-SHA-256')).toBe(
      true,
    );
  });

  it('treats unparsable strings as not allowed, without throwing', () => {
    for (const bad of ['', 'mongodb://', 'http://db1.example:27017', 'mongodb://db1.example:27017/?tls=true&tls=false&x']) {
      expect(() => list.allows(bad)).not.toThrow();
    }
    expect(list.allows('http://db1.example:27017')).toBe(false);
    expect(parseMongoUri('mongodb://[::1]:27017')?.hosts.has('[::1]:27017')).toBe(true);
  });
});

describe('reconcile reach', () => {
  const token = (scopes: string[], tenants: string[] | '*') => ({ sub: 's', scopes: new Set(scopes), tenants });
  const own = { kind: 'tenant' as const, tenantId: 'A' };

  it('a tenant source into its own database is tenant work; anything else is raw', () => {
    expect(reachOf({ source: { kind: 'tenant', tenantId: 'A' } })).toEqual(own);
    expect(reachOf({ source: { kind: 'tenant', tenantId: 'A' }, target: { db: tenantDbName('A') } })).toEqual(own);
    expect(reachOf({ source: { kind: 'tenant', tenantId: 'A' }, target: { db: tenantDbName('B') } })).toEqual({ kind: 'raw' });
    expect(reachOf({ source: { kind: 'tenant', tenantId: 'A' }, target: { db: tenantDbName('A'), uri: 'mongodb://h' } })).toEqual({
      kind: 'raw',
    });
    expect(reachOf({ source: { kind: 'tenant', tenantId: 'A' }, target: { db: tenantDbName('A'), external: true } })).toEqual({
      kind: 'raw',
    });
    expect(reachOf({ source: { kind: 'namespace' }, target: { db: tenantDbName('A') } })).toEqual({ kind: 'raw' });
  });

  it('raw work needs admin and every tenant; tenant work needs coverage', () => {
    expect(mayReach(token(['admin'], '*'), { kind: 'raw' })).toBe(true);
    expect(mayReach(token(['admin'], ['A']), { kind: 'raw' })).toBe(false);
    expect(mayReach(token(['reconcile:write', 'reconcile:read'], '*'), { kind: 'raw' })).toBe(false);
    expect(mayReach(token(['reconcile:read'], ['A']), own)).toBe(true);
    expect(mayReach(token(['admin'], ['B']), own)).toBe(false);
  });

  it('the platform database is refused at either end, in any letter case', () => {
    const ns = (db: string) => ({ db, collection: 'c' });
    expect(platformDbRole({ source: { kind: 'namespace', ...ns('Platform_DB') }, target: ns('x') }, 'platform_db')).toBe('source');
    expect(
      platformDbRole(
        { source: { kind: 'tenant', tenantId: 'A', collection: 'c' }, target: { ...ns('PLATFORM_db'), external: true } },
        'platform_db',
      ),
    ).toBe('target');
    expect(platformDbRole({ source: { kind: 'namespace', ...ns('a') }, target: ns('b') }, 'platform_db')).toBeUndefined();
  });
});
