import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CATCH_UP_MS, createPacer, PACING_HEADROOM, pacingIntervalMs, secondCap } from '../../src/pacing/pacer.ts';

describe('createPacer', () => {
  test('the interval is 60/N s with the headroom, never shorter', () => {
    assert.equal(PACING_HEADROOM, 0.02);
    assert.equal(pacingIntervalMs(1200), 51);
    assert.equal(pacingIntervalMs(100), 612);
    assert.equal(pacingIntervalMs(0), 0);
  });

  test('grants at 1200/min keep to slots one interval apart, within the catch-up allowance', async () => {
    const pacer = createPacer(1200);
    assert.equal(pacer.intervalMs, 51);
    // A first grant, so that each of the ten below is released by its own timer rather than while the
    // others are still being set up (which would stamp the immediate one late and shrink the first gap).
    await pacer.acquire();
    const grants: number[] = [performance.now()];
    // All ten ask at once, as concurrent deliveries do.
    await Promise.all(Array.from({ length: 10 }, () => pacer.acquire().then(() => void grants.push(performance.now()))));
    grants.sort((a, b) => a - b);
    // Grants keep to slots one interval apart, each making up for at most CATCH_UP_MS of lateness: any
    // k + 1 grants span at least k intervals less that allowance, so no window holds more than its share.
    for (let i = 0; i < grants.length; i++) {
      for (let j = i + 1; j < grants.length; j++) {
        const span = (grants[j] ?? 0) - (grants[i] ?? 0);
        assert.ok(span >= (j - i) * 51 - CATCH_UP_MS - 3, `grants ${i}..${j} within ${span.toFixed(1)} ms`);
      }
    }
  });

  test('no second holds more grants than evenly spaced ones would', () => {
    assert.equal(secondCap(pacingIntervalMs(100)), 2);
    assert.equal(secondCap(pacingIntervalMs(500)), 9);
    assert.equal(secondCap(pacingIntervalMs(6000)), 99);
    assert.equal(secondCap(pacingIntervalMs(30000)), 491);
  });

  test('a late grant does not push the following slots back: the timeline keeps its pace', async () => {
    // A clock that jumps 30 ms ahead each time a grant is made, as a timer firing late would look: the
    // grants that follow keep to their slots (the lateness is not added up), within CATCH_UP_MS.
    let skew = 0;
    const clock = (): number => performance.now() + skew;
    const pacer = createPacer(600, clock); // 102 ms
    const slots: number[] = [];
    const first = clock();
    for (let k = 0; k < 20; k++) {
      await pacer.acquire();
      slots.push(clock() - first);
      skew += 30;
    }
    // Each grant is due at k intervals on the timeline, so the 20th is behind its slot by the last jump
    // and its own timer's lateness. Lateness added up (the former spacing from each actual grant) would
    // put it 19 × 30 = 570 ms behind: the bound in between leaves a loaded machine's timers 280 ms.
    const behind = (slots[19] ?? 0) - 19 * pacer.intervalMs;
    assert.ok(behind < (19 * 30) / 2, `the 20th grant came ${behind.toFixed(1)} ms behind its slot`);
  });

  test('a slot further than maxWaitMs is not booked: the caller gives its place up and the timeline stays', async () => {
    let now = 1_000;
    const pacer = createPacer(600, () => now); // 102 ms
    assert.equal(await pacer.acquire(undefined, 0), true); // slot 0, now
    // Slot 1 is 102 ms away: refused within 50 ms, booked within 200 ms.
    assert.equal(await pacer.acquire(undefined, 50), false);
    assert.equal(pacer.delayMs(), 102, 'the refused call booked nothing: the next free slot is still slot 1');
    now += 102;
    assert.equal(await pacer.acquire(undefined, 0), true, 'slot 1 is due now, not slot 2');
    // A hold counts as a wait too.
    pacer.holdFor(5_000);
    assert.equal(await pacer.acquire(undefined, 1_000), false);
  });

  test('the first request goes at once; a later one waits only for its slot', async () => {
    // Order, not speed: the first grant comes before a timer due at once can fire, so it waited for none.
    const order: string[] = [];
    const timer = new Promise<void>((resolve) => setTimeout(() => resolve(void order.push('timer')), 0));
    const pacer = createPacer(600); // 102 ms
    await pacer.acquire();
    const firstAt = performance.now();
    order.push('first grant');
    await timer;
    assert.deepEqual(order, ['first grant', 'timer']);
    // The wait that follows is exactly what is left of the next slot (a clock the test moves).
    let now = 5_000;
    const stepped = createPacer(600, () => now);
    assert.equal(stepped.delayMs(), 0);
    await stepped.acquire();
    assert.equal(stepped.delayMs(), stepped.intervalMs);
    now += 40;
    assert.equal(stepped.delayMs(), stepped.intervalMs - 40);
    // On the real clock, the second grant never comes before its slot (a lower bound: a busy machine only
    // makes it later).
    await pacer.acquire();
    assert.ok(performance.now() - firstAt >= pacer.intervalMs - 4, `${performance.now() - firstAt}`);
  });

  test('0 turns pacing off', async () => {
    const pacer = createPacer(0);
    assert.equal(pacer.intervalMs, 0);
    // All 100 grants come before a timer due at once can fire: none of them waited for a timer.
    let timerFired = false;
    const timer = setTimeout(() => (timerFired = true), 0);
    for (let i = 0; i < 100; i++) await pacer.acquire();
    assert.equal(timerFired, false);
    clearTimeout(timer);
    assert.equal(pacer.delayMs(), 0);
  });

  test('an aborted wait rejects and a later caller still keeps the spacing', async () => {
    const pacer = createPacer(600);
    await pacer.acquire();
    const controller = new AbortController();
    const waiting = pacer.acquire(controller.signal);
    controller.abort(new Error('stop'));
    await assert.rejects(waiting);
    const t0 = performance.now();
    await pacer.acquire();
    // The aborted caller's slot stays spent: the next grant is two intervals after the first.
    assert.ok(performance.now() - t0 >= 150, `${performance.now() - t0}`);
  });

  test('holdFor pauses every caller, with pacing off too, and never shortens a hold', async () => {
    for (const rate of [0, 6000]) {
      const pacer = createPacer(rate);
      await pacer.acquire();
      pacer.holdFor(200);
      pacer.holdFor(50);
      assert.ok(pacer.delayMs() > 150, `rate ${rate}: delay ${pacer.delayMs()}`);
      const t0 = performance.now();
      const grants: number[] = [];
      await Promise.all([pacer.acquire(), pacer.acquire(), pacer.acquire()].map((p) => p.then(() => void grants.push(performance.now() - t0))));
      assert.ok(grants.every((g) => g >= 195), `rate ${rate}: grants at ${grants.map((g) => g.toFixed(0)).join(', ')} ms`);
      if (rate > 0) assert.ok((grants[2] ?? 0) - (grants[0] ?? 0) >= 2 * pacer.intervalMs - CATCH_UP_MS, 'still spaced after the hold');
    }
  });
});
