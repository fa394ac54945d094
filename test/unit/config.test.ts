import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../infra/config';

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
});
