import { describe, expect, it } from 'vitest';
import { apiListenProblems, ConfigError, isLoopbackHost, loadConfig } from '../../../infra/config';

describe('loadConfig', () => {
  it('applies defaults named in the seeds', () => {
    const c = loadConfig({});
    expect(c.USE_TEMPORAL_FOR_AUTH).toBe(false);
    expect(c.TEMPORAL_AUTH_TIMEOUT_MS).toBe(60_000);
    expect(c.TEMPORAL_TENANTS).toEqual([]);
    expect(c.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(c.PORT).toBe(3000);
    expect(c.usingDevJwtSecret).toBe(true);
  });

  it('parses lists and booleans', () => {
    const c = loadConfig({ TEMPORAL_TENANTS: ' a, b ,,c', USE_TEMPORAL_FOR_AUTH: 'true', TEMPORAL_AUTH_TIMEOUT_MS: '250' });
    expect(c.TEMPORAL_TENANTS).toEqual(['a', 'b', 'c']);
    expect(c.USE_TEMPORAL_FOR_AUTH).toBe(true);
    expect(c.TEMPORAL_AUTH_TIMEOUT_MS).toBe(250);
  });

  it('lists every problem at once', () => {
    let caught: unknown;
    try {
      loadConfig({ TEMPORAL_AUTH_TIMEOUT_MS: 'abc', PORT: '70000', MONGODB_URI: 'http://nope', USE_TEMPORAL_FOR_AUTH: 'maybe' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems.join('\n');
    for (const key of ['TEMPORAL_AUTH_TIMEOUT_MS', 'PORT', 'MONGODB_URI', 'USE_TEMPORAL_FOR_AUTH']) expect(problems).toContain(key);
  });

  it('requires a long secret in production and rejects contradictions', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/AUTH_JWT_SECRET: is required in production/);
    expect(() => loadConfig({ AUTH_JWT_SECRET: 'short' })).toThrow(/at least 32/);
    expect(() => loadConfig({ USE_TEMPORAL_FOR_AUTH: 'true', TEMPORAL_ENABLED: 'false' })).toThrow(/needs TEMPORAL_ENABLED/);
  });

  it('requires SECRETS_KEY in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(40) })).toThrow(/SECRETS_KEY: is required in production/);
  });

  it('refuses the built-in dev JWT secret when the API listens beyond loopback', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'api.example.com']) {
      const problems = apiListenProblems(loadConfig({ HOST: host }));
      expect(problems, host).toHaveLength(1);
      expect(problems[0]).toMatch(/^AUTH_JWT_SECRET: is required when HOST/);
    }
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::1]', '127.0.0.53']) {
      expect(isLoopbackHost(host), host).toBe(true);
      expect(apiListenProblems(loadConfig({ HOST: host })), host).toEqual([]);
    }
    // With a real secret any address is fine.
    expect(apiListenProblems(loadConfig({ HOST: '0.0.0.0', AUTH_JWT_SECRET: 'y'.repeat(40) }))).toEqual([]);
  });
});
