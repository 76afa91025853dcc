/**
 * The steady clock over fake wall and monotonic clocks: it follows the wall clock forward, runs on at the
 * monotonic pace when the wall clock steps back, and joins the wall clock again once it catches up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSteadyClock } from '../../src/time/steady-clock.ts';

test('createSteadyClock: forward steps are followed, backward steps are not', () => {
  let wall = 1_000_000;
  let mono = 50.25;
  const now = createSteadyClock(
    () => wall,
    () => mono,
  );
  // [wall, mono, expected]: each row moves both clocks, then reads the steady one.
  const rows: [number, number, number, string][] = [
    [1_000_000, 50.25, 1_000_000, 'start'],
    [1_000_100, 150.25, 1_000_100, 'both move'],
    [4_600_100, 250.25, 4_600_100, 'wall +1 h: followed'],
    [1_000_200, 350.75, 4_600_200, 'wall −1 h: runs on from 4_600_100 at the monotonic pace, whole ms'],
    [1_000_300, 450.75, 4_600_300, 'still behind'],
    [4_600_250, 500.75, 4_600_350, 'the wall clock is back but not caught up'],
    [4_600_900, 600.75, 4_600_900, 'caught up: followed again'],
  ];
  for (const [w, m, expected, why] of rows) {
    wall = w;
    mono = m;
    assert.equal(now(), expected, why);
  }
});
