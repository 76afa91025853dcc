import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { allPointsWithin, intervalsContaining, pointsWithin, sortPoints } from '../../src/match/time-index.ts';
import { FIT_LIST_CAP } from '../../src/match/match-types.ts';

const intervals = [
  { id: 0, from: 0, to: 10 },
  { id: 1, from: 5, to: 15 },
  { id: 2, from: 20, to: 20 },
];
const points = [
  { id: 10, at: -1 },
  { id: 11, at: 0 },
  { id: 12, at: 7 },
  { id: 13, at: 10 },
  { id: 14, at: 16 },
  { id: 15, at: 20 },
];

describe('time index', () => {
  test('intervalsContaining: ends included, exact counts, absent when none', () => {
    const out = intervalsContaining(intervals, points);
    assert.deepEqual(Object.fromEntries(out), {
      11: { count: 1, ids: [0] },
      12: { count: 2, ids: [0, 1] },
      13: { count: 2, ids: [0, 1] },
      15: { count: 1, ids: [2] },
    });
  });

  test('pointsWithin: the inverse', () => {
    const out = pointsWithin(points, intervals);
    assert.deepEqual(Object.fromEntries(out), {
      0: { count: 3, ids: [11, 12, 13] },
      1: { count: 2, ids: [12, 13] },
      2: { count: 1, ids: [15] },
    });
  });

  test('counts stay exact while the listed ids are capped', () => {
    const many = Array.from({ length: 100 }, (_, i) => ({ id: i, from: 0, to: 10 }));
    const fit = intervalsContaining(many, [{ id: 0, at: 5 }]).get(0)!;
    assert.equal(fit.count, 100);
    assert.equal(fit.ids.length, FIT_LIST_CAP);
    const back = pointsWithin(Array.from({ length: 50 }, (_, i) => ({ id: i, at: 5 })), [{ id: 0, from: 0, to: 10 }]).get(0)!;
    assert.deepEqual([back.count, back.ids.length], [50, FIT_LIST_CAP]);
  });

  test('allPointsWithin lists every point of a range', () => {
    assert.deepEqual(allPointsWithin(sortPoints(points), 0, 10), [11, 12, 13]);
    assert.deepEqual(allPointsWithin(sortPoints(points), 30, 40), []);
  });
});
