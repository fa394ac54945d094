import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { SingleBar } from 'cli-progress';
import type { RotationSummary, SecretsStatus } from '../../../activities/maintenance/secrets-rotation';
import { loadConfigOrExit } from '../../../infra/config';
import { apiClientFor, type ApiClient } from '../../api-client';
import { apiAction } from '../../format';
import { fail, failWith } from '../../fail';

// `secrets status` counts stored secrets per key ID (and plaintext leftovers); `secrets rotate`
// re-seals every one under the first key of the API's SECRETS_KEY, in batches through the API
// (which holds the keyring). Rotation: put the new key first and keep the old one after it (API
// and worker), run `secrets rotate`, check `secrets status`, then drop the old key.

/** Secrets re-sealed per request: each answers within a few seconds, so the bar moves. */
const BATCH = 200;

interface StatusAnswer extends SecretsStatus {
  primaryKeyId: string;
  usingDevKey: boolean;
}

interface BatchAnswer {
  primaryKeyId: string;
  rotated: number;
  skipped: number;
  remaining: number;
  failed: RotationSummary['failed'];
}

async function statusOf(api: ApiClient): Promise<StatusAnswer> {
  const s = await api.request<StatusAnswer>('/api/secrets/status');
  if (s.usingDevKey) process.stderr.write("note: the API's SECRETS_KEY is unset: it uses the built-in development key\n");
  return s;
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

/** Batches until none remain; the bar counts the secrets that were not under the primary key at the start. */
async function rotateAll(api: ApiClient, start: StatusAnswer, bar?: SingleBar): Promise<RotationSummary> {
  const pending = start.total - (start.byKey[start.primaryKeyId] ?? 0);
  bar?.start(Math.max(1, pending), 0, { resealed: 0, failed: 0 });
  let resealed = 0;
  let skipped = 0;
  let last: BatchAnswer;
  try {
    do {
      last = await api.request<BatchAnswer>('/api/secrets/rotate', {
        method: 'POST',
        body: { limit: BATCH },
        idempotencyKey: randomUUID(),
      });
      resealed += last.rotated;
      skipped += last.skipped;
      bar?.update(Math.max(0, pending - last.remaining), { resealed, failed: last.failed.length });
      // A full batch always writes something; none means someone else keeps changing the values.
      if (last.remaining > 0 && last.rotated + last.skipped === 0) fail(`rotation made no progress; ${last.remaining} secret(s) left`);
    } while (last.remaining > 0);
  } finally {
    bar?.stop();
  }
  // The last batch went through every secret still to do: its failures are all there are.
  const current = start.byKey[last.primaryKeyId] ?? 0;
  return { primaryKeyId: last.primaryKeyId, scanned: start.total, resealed, current, skipped, failed: last.failed };
}

export function registerSecretsCommand(program: Command): void {
  const secrets = program
    .command('secrets')
    .description('secrets at rest (tenant source tokens/URIs, reconcile URIs): key usage and rotation');

  secrets
    .command('status')
    .description('count stored secrets per key ID, and plaintext leftovers')
    .option('--json', 'print JSON')
    .action(
      apiAction(async (api, o: { json?: boolean }) => {
        const { primaryKeyId, usingDevKey: _dev, ...s } = await statusOf(api);
        process.stdout.write(o.json ? `${JSON.stringify({ primaryKeyId, ...s })}\n` : `${statusText(s, primaryKeyId)}\n`);
        if (s.unknownKeys.length) process.exitCode = 1;
      }),
    );

  secrets
    .command('rotate')
    .description('re-encrypt every stored secret under the first key of SECRETS_KEY (idempotent)')
    .option('--json', 'print the summary as JSON (no progress bar)')
    .action(
      apiAction(async (api, o: { json?: boolean }) => {
        const bar = o.json
          ? undefined
          : new SingleBar({
              format: 'secrets |{bar}| {value}/{total} secrets · re-sealed {resealed} · failed {failed}',
              barCompleteChar: '█',
              barIncompleteChar: '░',
              hideCursor: true,
              noTTYOutput: true,
              notTTYSchedule: 5_000,
            });
        const summary = await rotateAll(api, await statusOf(api), bar);
        process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : `${summaryText(summary)}\n`);
        if (summary.failed.length) process.exitCode = 1;
      }),
    );
}
