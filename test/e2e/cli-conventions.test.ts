/**
 * What people expect of a command-line tool (issue 12, as git, npm and gh behave): `--version`/`-V` on
 * stdout, output into a closed pipe ending quietly with exit 0, and an old Node refused with a message
 * that ends with a newline and says what to do.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { delimiter, join } from 'node:path';
import { generateCalls } from './generate-calls.ts';
import { cliEnv, finished, MAIN, removeTempDirs, ROOT, runCli, STACK_LINE, startCli, tempDir } from './run-cli.ts';

after(removeTempDirs);

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

for (const flag of ['--version', '-V']) {
  test(`${flag} prints the package's version on stdout and exits 0`, async () => {
    const r = await runCli([flag], {});
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${VERSION}\n`);
    assert.equal(r.stderr, '');
  });
}

test('output into a closed pipe (bulk --dry-run | head -1) ends quietly: exit 0, no stack trace', async () => {
  const set = generateCalls(tempDir('crm-e2e-pipe-'), { count: 300, recordingEvery: 0 });
  // Nothing is sent on a dry run; the URL only has to be valid.
  const child = startCli(['bulk', set.conversationsDir, '--leads', set.leadsDir, '--dry-run', '--no-progress'], cliEnv('http://127.0.0.1:9/apis/api/public/call-data'));
  const exited = finished(child);
  // As `head -1` does: read the first line, then close the pipe while the CLI is still writing.
  const first = await new Promise<string>((resolve) => {
    let got = '';
    const onData = (d: string): void => {
      got += d;
      const nl = got.indexOf('\n');
      if (nl < 0) return;
      child.stdout.off('data', onData);
      child.stdout.destroy();
      resolve(got.slice(0, nl));
    };
    child.stdout.on('data', onData);
  });
  assert.equal((JSON.parse(first) as { callDetails: { callId: string } }).callDetails.callId, set.calls[0]?.callId, 'the first payload came whole');
  const r = await exited;
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, STACK_LINE);
  assert.doesNotMatch(r.stderr, /EPIPE|error/i);
});

/** The first `node` on PATH outside any node_modules (the system's, not the one the repo pins). */
function systemNode(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || dir.includes('node_modules')) continue;
    const candidate = join(dir, 'node');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

test('under Node < 22.13 the bin refuses with exit 2 and a message that ends with a newline and says what to do', async (t) => {
  const node = systemNode();
  if (node === null) return t.skip('no node on PATH outside node_modules');
  const version = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 13)) return t.skip(`the system node is ${version}, new enough: nothing to refuse`);
  // The bin as an old Node sees it: src/cli/main.ts without its types (dist/cli/main.js is the same code).
  const bin = join(tempDir('crm-e2e-old-node-'), 'main.mjs');
  writeFileSync(bin, stripTypeScriptTypes(readFileSync(MAIN, 'utf8')));
  const r = spawnSync(node, [bin, 'status'], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.ok(r.stderr.endsWith('\n'), JSON.stringify(r.stderr));
  assert.match(r.stderr, new RegExp(`^crm-upload needs Node\\.js 22\\.13 or newer .*this is Node\\.js ${version.replaceAll('.', '\\.')}\\.\\n`));
  assert.match(r.stderr, /Install Node\.js 22\.13\+/);
  assert.match(r.stderr, /npm run crm-upload -- <command>/);
  assert.doesNotMatch(r.stderr, STACK_LINE);
});
