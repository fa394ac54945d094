import type { Command } from 'commander';
import { loadConfigOrExit } from '../../infra/config';
import { mintToken, Scopes } from '../../infra/auth-token';

const ALL_SCOPES = Object.values(Scopes);

export function registerTokenCommand(program: Command): void {
  program
    .command('token')
    .description('mint a development JWT signed with AUTH_JWT_SECRET')
    .option('--sub <subject>', 'subject (who the token is for)', 'dev-user')
    .option('--scopes <list>', `space- or comma-separated scopes (${ALL_SCOPES.join(', ')})`, 'sync:write sync:read')
    .option('--tenants <list>', 'comma-separated tenant IDs, or * for all', '*')
    .option('--ttl <seconds>', 'lifetime in seconds (default AUTH_TOKEN_TTL_S)')
    .action(async (o: { sub: string; scopes: string; tenants: string; ttl?: string }) => {
      const config = loadConfigOrExit();
      const scopes = o.scopes.split(/[\s,]+/).filter(Boolean);
      const unknown = scopes.filter((s) => !(ALL_SCOPES as string[]).includes(s));
      if (unknown.length) program.error(`unknown scope(s): ${unknown.join(', ')}; known: ${ALL_SCOPES.join(', ')}`);
      const ttl = o.ttl ? Number(o.ttl) : config.AUTH_TOKEN_TTL_S;
      if (!Number.isInteger(ttl) || ttl <= 0) program.error('--ttl must be a positive whole number of seconds');
      const tenants =
        o.tenants.trim() === '*'
          ? '*'
          : o.tenants
              .split(',')
              .map((t) => t.trim())
              .filter(Boolean);
      process.stdout.write(`${await mintToken(config.AUTH_JWT_SECRET, { sub: o.sub, scopes, tenants, ttlSeconds: ttl })}\n`);
    });
}
