/**
 * The bulk command's heap policy (src/cli/heap-policy.ts): applied in a process of its own, an allocation
 * pattern that keeps some of what it allocates (a bulk's batches in flight) leaves the young generation at
 * its first size and the old generation near what is live; the same pattern without it lets V8 size both
 * for the machine. Measured in spaces (V8's own figures), never in time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const POLICY = fileURLToPath(new URL('../../src/cli/heap-policy.ts', import.meta.url));

/** Run the allocation pattern in a child, with or without the policy; V8's space sizes after it, MB. */
function spaces(withPolicy: boolean): { newMb: number; oldMb: number; liveMb: number } {
  const script = `
    import v8 from 'node:v8';
    import { useBulkHeapPolicy } from ${JSON.stringify(POLICY)};
    if (${withPolicy}) useBulkHeapPolicy();
    // 400,000 records of ~1 KB, each kept while the next 2,000 are made (a window in flight).
    const window = [];
    let maxNew = 0, maxOld = 0;
    for (let i = 0; i < 400_000; i++) {
      window.push({ id: 'call-' + i, text: 'x'.repeat(900) + i, items: [i, i + 1, i + 2] });
      if (window.length > 2_000) window.shift();
      if (i % 1_000 === 0) {
        for (const s of v8.getHeapSpaceStatistics()) {
          if (s.space_name === 'new_space') maxNew = Math.max(maxNew, s.space_size);
          if (s.space_name === 'old_space') maxOld = Math.max(maxOld, s.space_size);
        }
      }
    }
    const live = window.length;
    console.log(JSON.stringify({ newMb: maxNew / 2 ** 20, oldMb: maxOld / 2 ** 20, liveMb: live * 2 / 1024 }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim()) as { newMb: number; oldMb: number; liveMb: number };
}

test('with the bulk heap policy the young generation stays at its first size and the old one near what is live', () => {
  const withPolicy = spaces(true);
  const without = spaces(false);
  // Its first size is 1–2 MB; a scavenge under load may still add a step or two. V8 alone takes 32–128 MB here.
  assert.ok(withPolicy.newMb <= 16, `young generation ${withPolicy.newMb.toFixed(1)} MB with the policy`);
  assert.ok(withPolicy.oldMb <= 64, `old generation ${withPolicy.oldMb.toFixed(1)} MB with the policy (about ${withPolicy.liveMb.toFixed(0)} MB live)`);
  // Without it V8 is free to do as it likes; it never keeps less than with it.
  assert.ok(without.newMb >= withPolicy.newMb, `young generation ${without.newMb.toFixed(1)} MB without`);
});

test('the command of an argv: global options and their values skipped', async () => {
  const { commandOf } = await import('../../src/cli/heap-policy.ts');
  const cases: [string[], string | null][] = [
    [['node', 'main.js', 'bulk', 'calls/'], 'bulk'],
    [['node', 'main.js', '--verbose', 'bulk', 'calls/'], 'bulk'],
    [['node', 'main.js', '--log-level', 'warn', 'bulk'], 'bulk'],
    [['node', 'main.js', '--log-level=warn', 'worker'], 'worker'],
    [['node', 'main.js', '--log-format', 'json', '--show-pii', 'send', 'x.json'], 'send'],
    [['node', 'main.js', '--', 'bulk'], 'bulk'],
    [['node', 'main.js', '--version'], null],
    [['node', 'main.js'], null],
  ];
  for (const [argv, command] of cases) assert.equal(commandOf(argv), command, argv.join(' '));
});

/** Threads of a child that applies the bulk policy (or not) and then runs 64 file operations at once. */
function threadsAfterFileWork(withPolicy: boolean, env: NodeJS.ProcessEnv): { threads: number; pool: string | null } {
  const script = `
    import { readdirSync, promises } from 'node:fs';
    import { useBulkHeapPolicy } from ${JSON.stringify(POLICY)};
    if (${withPolicy}) useBulkHeapPolicy();
    await Promise.all(Array.from({ length: 64 }, () => promises.stat(${JSON.stringify(POLICY)})));
    console.log(JSON.stringify({ threads: readdirSync('/proc/self/task').length, pool: process.env.UV_THREADPOOL_SIZE ?? null }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim()) as { threads: number; pool: string | null };
}

test('the bulk policy runs libuv with a pool of 2 threads, unless UV_THREADPOOL_SIZE says otherwise', { skip: process.platform !== 'linux' && 'counts threads in /proc (Linux)' }, () => {
  const { UV_THREADPOOL_SIZE: _drop, ...env } = process.env;
  const policy = threadsAfterFileWork(true, env);
  const plain = threadsAfterFileWork(false, env);
  assert.equal(policy.pool, '2');
  assert.equal(plain.pool, null);
  // libuv's default pool is 4 threads: the policy's process has exactly 2 fewer, everything else equal.
  assert.equal(plain.threads - policy.threads, 2, `threads with the policy ${policy.threads}, without ${plain.threads}`);
  // The user's setting wins.
  const mine = threadsAfterFileWork(true, { ...env, UV_THREADPOOL_SIZE: '6' });
  assert.equal(mine.pool, '6');
  assert.equal(mine.threads - plain.threads, 2);
});
