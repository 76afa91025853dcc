/**
 * A wall clock that never goes back (docs/architecture.md, "Delivery" → "Outbox"). Outbox times (due,
 * lease ends) are epoch milliseconds, since several processes share them; but a wall clock stepped back
 * an hour (NTP, a VM resumed, an operator) would leave every item due in the last hour waiting an hour
 * more, and a worker's "lease again at" an hour away. This clock follows the wall clock forward (a
 * forward step is taken as it comes: leases look older, which the lease rules already bound) and, when
 * the wall clock steps back, runs on from where it was at the monotonic clock's pace until the wall
 * clock catches up.
 */

/** A clock reading epoch milliseconds. */
export type Clock = () => number;

/**
 * A never-decreasing epoch-ms clock over `wall` (epoch ms, may jump) and `mono` (ms, never jumps, any
 * origin). Pure apart from the two clocks it reads; table-tested with fake ones.
 */
export function createSteadyClock(wall: Clock, mono: Clock): Clock {
  let anchorWall = wall();
  let anchorMono = mono();
  return () => {
    const w = wall();
    const m = mono();
    // Whole milliseconds, like Date.now(): outbox times are INTEGER columns.
    const steady = anchorWall + Math.floor(m - anchorMono);
    if (w >= steady) {
      // The wall clock is at or ahead of where time has run to: follow it.
      anchorWall = w;
      anchorMono = m;
      return w;
    }
    // The wall clock stepped back: keep running from the last reading.
    return steady;
  };
}

/** The process's steady clock: `Date.now()` that never goes back. */
export const steadyNow: Clock = createSteadyClock(
  () => Date.now(),
  () => performance.now(),
);
