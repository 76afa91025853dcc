/**
 * The CLI's Ctrl-C handling (src/cli/interrupt.ts) on an injected emitter: the first signal aborts the
 * run, a second exits at once with 128 + its number; exit codes are the shells' (130, 143).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { interruptExitCode, interruptedLine, onInterrupt, type InterruptSignal } from '../../src/cli/interrupt.ts';

function fakeProcess() {
  const emitter = new EventEmitter();
  return { emitter: emitter as unknown as Pick<NodeJS.Process, 'on' | 'off'>, send: (s: InterruptSignal) => emitter.emit(s, s), count: (s: InterruptSignal) => emitter.listenerCount(s) };
}

test('exit codes: 128 + the signal number', () => {
  assert.equal(interruptExitCode('SIGINT'), 130);
  assert.equal(interruptExitCode('SIGTERM'), 143);
  assert.match(interruptedLine('SIGTERM'), /^interrupted by SIGTERM: .*run it again to resume$/);
});

test('the first signal aborts the run and is remembered; the second exits at once with its code', () => {
  const p = fakeProcess();
  const exits: number[] = [];
  const told: [InterruptSignal, boolean][] = [];
  const i = onInterrupt({ emitter: p.emitter, exit: (c) => exits.push(c), onSignal: (s, second) => told.push([s, second]) });
  assert.equal(i.signal.aborted, false);
  assert.equal(i.received, null);
  p.send('SIGTERM');
  assert.equal(i.signal.aborted, true);
  assert.equal(i.received, 'SIGTERM');
  assert.deepEqual(exits, [], 'the first signal does not exit: the run stops gracefully');
  p.send('SIGINT');
  assert.deepEqual(exits, [130]);
  assert.deepEqual(told, [['SIGTERM', false], ['SIGINT', true]]);
  assert.equal(i.received, 'SIGTERM', 'the first signal decides the graceful exit code');
  i.dispose();
  assert.deepEqual([p.count('SIGINT'), p.count('SIGTERM')], [0, 0]);
});
