/**
 * CRM_UPLOAD_FAILPOINTS parsing: what a test may write, and the loud refusal of a typo (a fail point that
 * silently never fires would make a crash test prove nothing). The kills themselves are tested end to
 * end by test/chaos/crash-steps.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { FailPointConfigError, parseFailPoints } from '../../src/failpoints/failpoints.ts';

test('parseFailPoints: names, hits and nothing', () => {
  assert.deepEqual(parseFailPoints(undefined), new Map());
  assert.deepEqual(parseFailPoints(' '), new Map());
  assert.deepEqual(
    parseFailPoints('after-lease=kill, mid-settle=kill@3'),
    new Map([
      ['after-lease', { action: 'kill', onHit: 1 }],
      ['mid-settle', { action: 'kill', onHit: 3 }],
    ]),
  );
});

const bad: [string, RegExp][] = [
  ['after-lunch=kill', /unknown fail point "after-lunch" \(known: after-lease, after-upload, after-checkpoint, after-post, mid-settle\)/],
  ['after-post=panic', /"after-post=panic" is not name=kill or name=kill@N/],
  ['after-post=kill@0', /the hit number must be 1 or more/],
];
for (const [text, message] of bad) {
  test(`parseFailPoints refuses ${text}`, () => {
    assert.throws(() => parseFailPoints(text), (err: unknown) => err instanceof FailPointConfigError && err.code === 'E_FAILPOINTS' && message.test(err.message));
  });
}

test('a process without CRM_UPLOAD_FAILPOINTS passes every fail point; with one it dies by SIGKILL at that point only', () => {
  const script = `import { failPoint } from ${JSON.stringify(new URL('../../src/failpoints/failpoints.ts', import.meta.url).href)};
failPoint('after-lease'); process.stdout.write('passed after-lease\\n');
failPoint('after-post'); process.stdout.write('passed after-post\\n');`;
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, CRM_UPLOAD_FAILPOINTS: '', ...env }, encoding: 'utf8' });
  const free = run({});
  assert.equal(free.status, 0);
  assert.equal(free.stdout, 'passed after-lease\npassed after-post\n');
  const killed = run({ CRM_UPLOAD_FAILPOINTS: 'after-post=kill' });
  assert.equal(killed.signal, 'SIGKILL');
  assert.equal(killed.stdout, 'passed after-lease\n');
  assert.equal(killed.stderr, 'failpoint after-post: kill (hit 1)\n');
});
