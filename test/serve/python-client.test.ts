/**
 * The README's Python client, run exactly as written: the fenced block between the
 * `serve-python-client` markers is saved as `crm_ingest.py` and run with `python3` against a real
 * server (with a token), and the call must be enqueued and then delivered to the local CRM.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareSession } from '../../src/api/session-api.ts';
import { crmAdmin } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import { fixture, LOGGER_SESSION, startRig, waitForState, type ServeRig } from './harness.ts';

const README = new URL('../../README.md', import.meta.url);
const TOKEN = 'python-client-token-42';
const hasPython = spawnSync('python3', ['--version']).status === 0;

/** The Python block of the README's serve section, as written. */
function pythonClientSnippet(): string {
  const m = /<!-- serve-python-client -->\s*```python\n([\s\S]*?)```\s*<!-- \/serve-python-client -->/.exec(readFileSync(README, 'utf8'));
  assert.ok(m?.[1], 'README.md has a ```python block between <!-- serve-python-client --> markers');
  return m[1];
}

function runPython(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [script, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the README Python client', { skip: hasPython ? false : 'python3 is not installed' }, () => {
  let rig: ServeRig;
  let script: string;
  let sessionFile: string;
  before(async () => {
    rig = await startRig({ CRM_INGEST_TOKEN: TOKEN });
    script = join(rig.dir, 'crm_ingest.py');
    writeFileSync(script, pythonClientSnippet());
    sessionFile = join(rig.dir, 'session.json');
    writeFileSync(sessionFile, readFileSync(LOGGER_SESSION));
  });
  after(async () => {
    await rig.close();
  });

  test('is about 15 lines of standard-library Python', () => {
    const code = pythonClientSnippet()
      .split('\n')
      .filter((l) => l.trim() !== '');
    assert.ok(code.length <= 18, `${code.length} lines`);
    const imports = code.filter((l) => /^\s*(import|from)\s/.test(l)).join(' ');
    assert.equal(imports, 'import json, os, sys, urllib.request');
  });

  test('enqueues the call with the token, and the worker delivers it to the CRM once', async () => {
    const r = await runPython(script, [sessionFile], { CRM_INGEST_URL: rig.server.url, CRM_INGEST_TOKEN: TOKEN });
    assert.equal(r.code, 0, r.stderr);
    const answer = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(answer, { callId: 'CALL-20251023-075634-7e155942', status: 'pending', enqueued: true, warnings: [] });

    const expected = prepareSession(fixture(LOGGER_SESSION), { config: rig.config }).payload;
    assert.deepEqual((await rig.server.store.get('CALL-20251023-075634-7e155942'))?.payload, expected);
    await waitForState(rig, 'CALL-20251023-075634-7e155942');
    const posts = (await crmAdmin(rig.crm.url).requests()).filter((q) => q.method === 'POST' && q.callId === 'CALL-20251023-075634-7e155942');
    assert.equal(posts.length, 1);
    const stored = (await crmAdmin(rig.crm.url).calls()).find((p) => p.callDetails.callId === 'CALL-20251023-075634-7e155942');
    assert.deepEqual(stored, expected);
    assertValidPayload(stored);

    // Again, as an agent retrying would: the same callId, nothing new.
    const again = await runPython(script, [sessionFile], { CRM_INGEST_URL: rig.server.url, CRM_INGEST_TOKEN: TOKEN });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), { callId: 'CALL-20251023-075634-7e155942', status: 'delivered', enqueued: false, warnings: [] });
  });

  test('with a wrong token the server refuses it (HTTP 401) and the client raises; without one the client refuses to start', async () => {
    const wrong = await runPython(script, [sessionFile], { CRM_INGEST_URL: rig.server.url, CRM_INGEST_TOKEN: `${TOKEN}-wrong` });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /HTTP Error 401/);
    const none = await runPython(script, [sessionFile], { CRM_INGEST_URL: rig.server.url });
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /KeyError: 'CRM_INGEST_TOKEN'/);
  });
});
