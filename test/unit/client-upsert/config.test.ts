import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configHashOf, fileHashOf, formatIssue, sectionHashesOf, validateClientConfig } from '../../../activities/client-upsert/config';
import { createClientConfigStore } from '../../../activities/client-upsert/config-store';
import { hashPassword, verifyPassword } from '../../../activities/client-upsert/users';

// Client config files: errors name client, field and problem; a bad route is left out alone.

const base = () => ({
  key: 'acme',
  name: 'Acme',
  routes: [
    { key: 'home', path: '/', componentFqn: 'core.Home@1.0.0' },
    { path: '/orders', componentFqn: 'acme.Orders@2.0.0', roles: ['USER'] },
  ],
  menus: [{ key: 'main', name: 'Main', target: 'left-nav', entries: [{ id: 'home', title: 'Home', link: '/' }] }],
  components: [{ nameSpace: 'core', name: 'Home', version: '1.0.0' }],
  users: [{ email: 'Admin@Acme.Example', firstName: 'A', lastName: 'B', roles: ['ADMIN'] }],
});

describe('client config validation', () => {
  it('accepts a good config; route keys default to their path; e-mails are lower-cased', () => {
    const { config, issues } = validateClientConfig(base(), 'acme');
    expect(issues).toEqual([]);
    expect(config!.routes.map((r) => r.key)).toEqual(['home', '/orders']);
    expect(config!.users[0]!.email).toBe('admin@acme.example');
    expect(config!.settings).toEqual({});
  });

  it('names client, field and problem; the whole config is invalid for non-route problems', () => {
    const raw = { ...base(), name: '', extra: 1, components: [{ nameSpace: 'core', name: 'Home', version: 'latest' }] };
    const { config, issues } = validateClientConfig(raw, 'acme');
    expect(config).toBeUndefined();
    const text = issues.map(formatIssue);
    expect(text).toContain("client 'acme': name: must not be empty");
    expect(text).toContain("client 'acme': components[0].version: must be a version like '1.0.0'");
    expect(text.some((t) => t.startsWith("client 'acme': (root): Unrecognized key") && t.includes('extra'))).toBe(true);
  });

  it('rejects a key that does not match the file name, duplicates and unsafe field names', () => {
    const raw = { ...base(), key: 'other', settings: { $where: 1, 'a.b': 2 }, menus: [base().menus[0], base().menus[0]] };
    const fields = validateClientConfig(raw, 'acme').issues.map((i) => i.field);
    expect(fields).toEqual(expect.arrayContaining(['key', 'settings.$where', 'settings.a.b', 'menus[1].key']));
    const twice = { ...base(), users: [base().users[0], { ...base().users[0], firstName: 'Other' }] };
    const dup = validateClientConfig(twice, 'acme').issues;
    expect(dup.map((i) => i.field)).toEqual(['users[1].email']);
    expect(JSON.stringify(dup)).not.toMatch(/acme\.example/i);
  });

  it('leaves out one bad route with its key and problem; the others stay', () => {
    const raw = base();
    raw.routes.push({ key: 'broken', path: 'no-slash', componentFqn: 'nope' } as never, {
      key: 'home',
      path: '/again',
      componentFqn: 'core.Home@1.0.0',
    });
    const { config, issues } = validateClientConfig(raw, 'acme');
    expect(issues).toEqual([]);
    expect(config!.routes.map((r) => r.key)).toEqual(['home', '/orders']);
    expect(config!.routeIssues.map(formatIssue)).toEqual([
      "client 'acme': routes[2].path: must start with '/' and contain no spaces",
      "client 'acme': routes[2].componentFqn: must be a component fqn like 'core.Dashboard@1.0.0'",
      "client 'acme': routes[3].key: duplicate route key 'home'",
    ]);
    expect(config!.routeIssues[0]!.item).toBe('broken');
    expect(config!.routeIssues[2]!.item).toBeUndefined();
  });

  it('refuses plaintext passwords without echoing them, and keeps them out of the hash', () => {
    const raw = base();
    (raw.users[0] as Record<string, unknown>).password = 'hunter2-plaintext';
    const { issues } = validateClientConfig(raw, 'acme');
    expect(issues).toHaveLength(1);
    expect(issues[0]!.field).toBe('users[0].password');
    expect(JSON.stringify(issues)).not.toContain('hunter2');
    const other = base();
    (other.users[0] as Record<string, unknown>).password = 'another-password';
    expect(configHashOf(raw)).toBe(configHashOf(other));
    expect(fileHashOf(JSON.stringify(raw))).toBe(fileHashOf(JSON.stringify(other)));
  });

  it('hashes files by their bytes, sections by their canonical content', () => {
    const a = base();
    const text = JSON.stringify(a);
    expect(fileHashOf(text)).toBe(fileHashOf(JSON.stringify(a)));
    expect(fileHashOf(JSON.stringify(a, null, 2))).not.toBe(fileHashOf(text));
    const reordered = JSON.parse(
      JSON.stringify({ users: a.users, components: a.components, menus: a.menus, routes: a.routes, name: a.name, key: a.key }),
    );
    expect(sectionHashesOf(reordered)).toEqual(sectionHashesOf(a));
    const renamed = sectionHashesOf({ ...a, name: 'Acme 2' });
    expect(renamed.client).not.toBe(sectionHashesOf(a).client);
    expect(renamed.routes).toBe(sectionHashesOf(a).routes);
  });

  it('scrypt hashes verify and never contain the password', async () => {
    const h = await hashPassword('correct horse battery staple');
    expect(h).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(h).not.toContain('horse');
    expect(await verifyPassword('correct horse battery staple', h)).toBe(true);
    expect(await verifyPassword('wrong', h)).toBe(false);
  });
});

describe('client config files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'clients-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists *.json, reports bad JSON and bad file names, and re-reads a file only when it changed', async () => {
    writeFileSync(path.join(dir, 'acme.json'), JSON.stringify(base()));
    writeFileSync(path.join(dir, 'broken.json'), '{ "key": "broken", "users": [{ "email": secret.person@corp.example ');
    writeFileSync(path.join(dir, 'Bad Name.json'), '{}');
    writeFileSync(path.join(dir, 'README.md'), '# not a config');
    const store = createClientConfigStore(dir);
    expect(await store.listKeys()).toEqual(['Bad Name', 'acme', 'broken']);
    const acme = (await store.load('acme'))!;
    expect(acme.issues).toEqual([]);
    expect(await store.load('acme')).toBe(acme);
    const broken = (await store.load('broken'))!.issues[0]!.problem;
    expect(broken).toMatch(/^not valid JSON/);
    expect(broken).not.toContain('secret.person'); // V8 quotes the text around the error: never passed on
    expect((await store.load('Bad Name'))!.issues[0]!.field).toBe('(file)');
    expect(await store.load('missing')).toBeUndefined();
    writeFileSync(path.join(dir, 'acme.json'), JSON.stringify({ ...base(), name: 'Acme Renamed' }, null, 2));
    const again = (await store.load('acme'))!;
    expect(again.config!.name).toBe('Acme Renamed');
    expect(again.hash).not.toBe(acme.hash);
    expect(readFileSync(path.join(dir, 'acme.json'), 'utf8')).toContain('Renamed');
  });
});
