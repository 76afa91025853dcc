import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RETRY_SCHEDULE_MS, isExhausted, nextDelay } from '../../src/policy/retry-policy.ts';
import { assertValidPayload, makeCallIdFor, makePayload } from '../helpers/payloads.ts';
import { mulberry32 as seeded } from '../../src/local-crm/seeded-random.ts';
describe('nextDelay', () => {
  const schedule = [5_000, 30_000, 120_000];
  const rows: [attempts: number, random: number, expected: number][] = [
    [1, 0.5, 5_000], // middle of the jitter band is the step itself
    [1, 0, 4_000], // −20%
    [1, 0.999999, 6_000], // just under +20%
    [2, 0.5, 30_000],
    [3, 0.5, 120_000],
    [4, 0.5, 120_000], // past the end: the last step again
    [9, 0.25, 108_000],
    [0, 0.5, 5_000], // "no failure yet" is treated as the first step
  ];
  for (const [attempts, r, expected] of rows) {
    test(`after ${attempts} failed attempt(s), random ${r} → ${expected} ms`, () => {
      assert.equal(nextDelay(attempts, schedule, () => r), expected);
    });
  }

  test('seeded jitter stays within ±20% of each default step', () => {
    const random = seeded(42);
    DEFAULT_RETRY_SCHEDULE_MS.forEach((step, i) => {
      for (let k = 0; k < 50; k++) {
        const d = nextDelay(i + 1, DEFAULT_RETRY_SCHEDULE_MS, random);
        assert.ok(d >= step * 0.8 && d <= step * 1.2, `${d} outside ±20% of ${step}`);
      }
    });
  });

  test('seeded jitter spreads items that failed together', () => {
    const random = seeded(7);
    const delays = new Set(Array.from({ length: 20 }, () => nextDelay(1, [5_000], random)));
    assert.ok(delays.size >= 15, `only ${delays.size} distinct delays`);
  });

  test('an empty schedule retries at once', () => assert.equal(nextDelay(3, []), 0));
});

describe('isExhausted', () => {
  const rows: [attempts: number, max: number, expected: boolean][] = [
    [0, 10, false],
    [9, 10, false],
    [10, 10, true],
    [11, 10, true],
    [1, 1, true],
  ];
  for (const [attempts, max, expected] of rows) {
    test(`${attempts} of ${max} → ${expected}`, () => assert.equal(isExhausted(attempts, max), expected));
  }
});

describe('test payloads', () => {
  test('makePayload is deterministic, contract-valid and has the callId form', () => {
    assert.deepEqual(makePayload(3), makePayload(3));
    assert.match(makeCallIdFor(7), /^CALL-20251029-100007-[0-9a-f]{8}$/);
    for (const i of [0, 1, 59, 61, 1999]) assertValidPayload(makePayload(i));
    assert.throws(() => assertValidPayload({ ...makePayload(1), extra: true }));
  });
});
