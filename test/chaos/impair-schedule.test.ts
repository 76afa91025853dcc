/**
 * Table tests of the impairing relay's schedule (test/chaos/impair-schedule.ts): delay drawn from its
 * range, order kept per direction, a lost chunk held one RTO more and doubled per loss in a row, resets.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkFate, MAX_RETRANSMISSIONS, seededDraw, type ChunkFate, type Impairment } from './impair-schedule.ts';

const DELAY: Impairment = { delayMs: [100, 300], lossRate: 0, rtoMs: [200, 1000], resetRate: 0 };
const LOSS: Impairment = { delayMs: [0, 0], lossRate: 0.05, rtoMs: [200, 1000], resetRate: 0.01 };

function draws(...values: number[]): () => number {
  return () => {
    const v = values.shift();
    if (v === undefined) throw new Error('more draws than the case gave');
    return v;
  };
}

describe('chunkFate', () => {
  const cases: { name: string; impairment: Impairment; lastAt: number; now: number; draws: number[]; want: ChunkFate }[] = [
    { name: 'delay: the low end of the range', impairment: DELAY, lastAt: 0, now: 1000, draws: [0.5, 0, 0.5], want: { kind: 'deliver', at: 1100, losses: 0 } },
    { name: 'delay: the middle', impairment: DELAY, lastAt: 0, now: 1000, draws: [0.5, 0.5, 0.5], want: { kind: 'deliver', at: 1200, losses: 0 } },
    { name: 'delay: never before the chunk ahead of it', impairment: DELAY, lastAt: 1290, now: 1000, draws: [0.5, 0, 0.5], want: { kind: 'deliver', at: 1290, losses: 0 } },
    { name: 'delay: a reset draw of 0 resets nothing at rate 0', impairment: DELAY, lastAt: 0, now: 0, draws: [0, 0, 0.99], want: { kind: 'deliver', at: 100, losses: 0 } },
    { name: 'loss: kept', impairment: LOSS, lastAt: 0, now: 1000, draws: [0.5, 0.5, 0.05], want: { kind: 'deliver', at: 1000, losses: 0 } },
    { name: 'loss: lost once, one RTO more', impairment: LOSS, lastAt: 0, now: 1000, draws: [0.5, 0.5, 0.04, 0.5, 0.9], want: { kind: 'deliver', at: 1600, losses: 1 } },
    { name: 'loss: lost twice in a row, the RTO doubled', impairment: LOSS, lastAt: 0, now: 1000, draws: [0.5, 0.5, 0.01, 0, 0.01, 0, 0.9], want: { kind: 'deliver', at: 1600, losses: 2 } },
    { name: 'loss: at most MAX_RETRANSMISSIONS', impairment: LOSS, lastAt: 0, now: 0, draws: [0.5, 0, ...Array.from({ length: MAX_RETRANSMISSIONS }, () => [0, 0]).flat()], want: { kind: 'deliver', at: 200 * (2 ** MAX_RETRANSMISSIONS - 1), losses: MAX_RETRANSMISSIONS } },
    { name: 'reset: under the rate', impairment: LOSS, lastAt: 0, now: 1000, draws: [0.009], want: { kind: 'reset' } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const draw = draws(...c.draws);
      assert.deepEqual(chunkFate(c.impairment, c.lastAt, c.now, draw), c.want);
      assert.throws(draw, /more draws/, 'every draw of the case used');
    });
  }
});

describe('seededDraw', () => {
  test('the same seed gives the same draws, all in [0, 1)', () => {
    const a = seededDraw(42);
    const b = seededDraw(42);
    const xs = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(xs, Array.from({ length: 1000 }, () => b()));
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, seededDraw(43)));
  });
});
