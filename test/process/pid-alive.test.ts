/** `isPidAlive` (src/process/pid-alive.ts): the check behind stale plan files and LiveKit journals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { isPidAlive } from '../../src/process/pid-alive.ts';

test('a running process is alive, one that has exited is not, and pid 1 (another user\'s) is alive', () => {
  assert.equal(isPidAlive(process.pid), true);
  const child = spawnSync(process.execPath, ['-e', '0']);
  assert.equal(child.status, 0);
  assert.equal(isPidAlive(child.pid!), false);
  // Owned by root: EPERM for an ordinary user, success for root; alive either way.
  assert.equal(isPidAlive(1), true);
});
