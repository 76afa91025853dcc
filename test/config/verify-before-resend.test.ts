/**
 * CRM_VERIFY_BEFORE_RESEND (docs/architecture.md, "Delivery" → "Verify before re-sending"): its default,
 * its values, a bad one refused naming the variable; and the CLI flag that sets it, a bad value exit 2.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/config.ts';
import { ConfigError } from '../../src/errors.ts';
import { runCli } from '../e2e/run-cli.ts';

const cwd = mkdtempSync(join(tmpdir(), 'crm-config-verify-'));
const load = (env: Record<string, string>) => loadConfig({ env, cwd, envFile: null });

test('default auto; auto, always, never in any case; anything else is a ConfigError naming the variable', () => {
  assert.equal(load({}).verifyBeforeResend, 'auto');
  assert.deepEqual(['auto', 'ALWAYS', ' never '].map((v) => load({ CRM_VERIFY_BEFORE_RESEND: v }).verifyBeforeResend), ['auto', 'always', 'never']);
  assert.throws(
    () => load({ CRM_VERIFY_BEFORE_RESEND: 'sometimes' }),
    (err: unknown) => err instanceof ConfigError && /CRM_VERIFY_BEFORE_RESEND must be one of auto, always, never, got "sometimes"/.test(err.message),
  );
});

test('worker and bulk take --verify-before-resend; a bad value exits 2 naming the flag', async () => {
  for (const args of [['worker', '--once', '--verify-before-resend', 'maybe'], ['bulk', cwd, '--verify-before-resend', 'maybe']]) {
    const r = await runCli(args, { CRM_OUTBOX: join(cwd, 'outbox.db'), CRM_API_URL: 'http://127.0.0.1:9/apis/api/public/call-data' });
    assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /--verify-before-resend must be one of auto, always, never, got "maybe"/);
  }
  const help = await runCli(['worker', '--help'], {});
  assert.match(help.stdout + help.stderr, /--verify-before-resend <mode>/);
});
