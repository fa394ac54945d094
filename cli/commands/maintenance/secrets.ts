import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import {
  createSecretsRotation,
  type RotationSummary,
  type SecretsRotation,
  type SecretsStatus,
} from '../../../activities/maintenance/secrets-rotation';
import { loadConfigOrExit } from '../../../infra/config';
import { createLogger } from '../../../infra/logger';
import { connectMongo } from '../../../infra/mongo';
import { keyringFromConfig } from '../../../infra/secrets';
import { fail } from '../../fail';

// `secrets status` counts stored secrets per key ID (and plaintext leftovers); `secrets rotate`
// re-seals every one under the first key of SECRETS_KEY. Rotation: put the new key first, keep
// the old one after it, run `secrets rotate`, check `secrets status`, then drop the old key.

async function withRotation<T>(fn: (r: SecretsRotation, primary: string) => Promise<T>): Promise<T> {
  const config = loadConfigOrExit();
  const keyring = keyringFromConfig(config);
  if (keyring.usingDevKey) process.stderr.write('note: SECRETS_KEY is unset: using the built-in development key\n');
  const mongo = await connectMongo(config, createLogger({ name: 'cli', level: 'silent' }));
  try {
    return await fn(createSecretsRotation(mongo.db, keyring), keyring.primaryKeyId);
  } finally {
    await mongo.close();
  }
}

function statusText(s: SecretsStatus, primary: string): string {
  const keys = Object.entries(s.byKey).map(
    ([k, n]) =>
      `  ${k.padEnd(16)} ${String(n).padStart(6)}${k === primary ? '  (primary)' : ''}${s.unknownKeys.includes(k) ? '  (NOT in SECRETS_KEY: cannot decrypt)' : ''}`,
  );
  return [
    `${s.total} stored secret(s)`,
    ...keys,
    `  ${'plaintext'.padEnd(16)} ${String(s.plaintext).padStart(6)}${s.plaintext ? '  (run `secrets rotate`)' : ''}`,
  ].join('\n');
}

function summaryText(s: RotationSummary): string {
  const lines = [
    `re-sealed ${s.resealed}, already under '${s.primaryKeyId}' ${s.current}, changed meanwhile ${s.skipped}, failed ${s.failed.length} (of ${s.scanned})`,
  ];
  for (const f of s.failed) lines.push(`  failed: ${f.message}`);
  return lines.join('\n');
}

export function registerSecretsCommand(program: Command): void {
  const secrets = program
    .command('secrets')
    .description('secrets at rest (tenant source tokens/URIs, reconcile URIs): key usage and rotation');

  secrets
    .command('status')
    .description('count stored secrets per key ID, and plaintext leftovers')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const { s, primary } = await withRotation(async (r, primary) => ({ s: await r.status(), primary }));
      process.stdout.write(o.json ? `${JSON.stringify({ primaryKeyId: primary, ...s })}\n` : `${statusText(s, primary)}\n`);
      if (s.unknownKeys.length) process.exitCode = 1;
    });

  secrets
    .command('rotate')
    .description('re-encrypt every stored secret under the first key of SECRETS_KEY (idempotent)')
    .option('--json', 'print the summary as JSON (no progress bar)')
    .action(async (o: { json?: boolean }) => {
      const summary = await withRotation(async (r) => {
        const bar = new SingleBar({
          format: 'secrets |{bar}| {value}/{total} documents · re-sealed {resealed} · failed {failed}',
          barCompleteChar: '█',
          barIncompleteChar: '░',
          hideCursor: true,
          noTTYOutput: true,
          notTTYSchedule: 5_000,
        });
        if (!o.json) bar.start(Math.max(1, await r.documents()), 0, { resealed: 0, failed: 0 });
        let docs = 0;
        try {
          return await r.rotate((s) => {
            docs += 1;
            if (!o.json) bar.update(docs, { resealed: s.resealed, failed: s.failed.length });
          });
        } finally {
          if (!o.json) bar.stop();
        }
      }).catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
      process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : `${summaryText(summary)}\n`);
      if (summary.failed.length) process.exitCode = 1;
    });
}
