import { describe, expect, it } from 'vitest';
import { redactConnectionDetails as redact } from '../../../shared/redact';

// The redactor of failure messages: connection details go, what the caller sent stays.

describe('redactConnectionDetails', () => {
  it.each([
    ['connect ECONNREFUSED 10.1.2.3:27017', 'connect ECONNREFUSED <host>'],
    ['connection <monitor> to 10.1.2.3:27017 closed', 'connection <monitor> to <host> closed'],
    ['connect ECONNREFUSED ::1:27017', 'connect ECONNREFUSED <host>'],
    ['connect EHOSTUNREACH [fe80::1%eth0]:443', 'connect EHOSTUNREACH <host>'],
    ['read from 2001:db8:0:0:0:0:0:1 failed', 'read from <host> failed'],
    ['peer fd00:ec2::254 reset', 'peer <host> reset'],
    ['getaddrinfo ENOTFOUND mongo-0.db.internal', 'getaddrinfo ENOTFOUND <host>'],
    ['querySrv ENOTFOUND _mongodb._tcp.cluster0.example.net', 'querySrv ENOTFOUND <host>'],
    ['servers: mongo-0.db.internal:27017, mongo-1.db.internal:27017, localhost:27018', 'servers: <host>, <host>, <host>'],
    ['Server selection timed out; tried mongo:27017', 'Server selection timed out; tried <host>'],
    ['bad uri mongodb://admin:s3cr3t@h1:27017,h2:27017/app?replicaSet=rs0&authSource=admin', 'bad uri mongodb://<host>/app'],
    [
      'GET http://10.0.0.5:4010/tenants/acme/collections/users/records answered 500',
      'GET http://<host>/tenants/acme/collections/users/records answered 500',
    ],
    ['GET https://user:pw@api.example.com/v1?token=abc#frag: no answer', 'GET https://<host>/v1: no answer'],
    ['auth as admin:hunter2@db.example.com failed', 'auth as <credentials>@db.example.com failed'],
  ])('%s', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  it('keeps what carries no connection detail: timestamps, counts, keys, plain words', () => {
    const plain = [
      'collection users: record 19 (users-000019) has an updatedAt that is not an ISO date',
      'watermark 2024-01-01T10:30:00.000Z; chunk 3: 500 records; E11000 duplicate key error dup key: { _id: 5 }',
      'page body exceeds SOURCE_MAX_PAGE_BYTES (16777216 bytes)',
      'version 1.2.3 of the schema; ratio 0.5; std::vector',
      'cursor cycle: cursor "A" was already read',
    ];
    for (const m of plain) expect(redact(m)).toBe(m);
  });

  it('keeps the strings the caller sent, even when they look like hosts', () => {
    expect(redact('collection logs.v2:2024 on 10.0.0.1:27017 failed', { keep: ['logs.v2:2024'] })).toBe(
      'collection logs.v2:2024 on <host> failed',
    );
  });

  it('is idempotent and leaves no fragment of a redacted address', () => {
    const once = redact('connect ECONNREFUSED 192.168.10.20:5432 (via http://u:p@192.168.10.20:80/x)');
    expect(once).toBe('connect ECONNREFUSED <host> (via http://<host>/x)');
    expect(redact(once)).toBe(once);
    expect(once).not.toMatch(/192|168|5432|u:p/);
  });
});
