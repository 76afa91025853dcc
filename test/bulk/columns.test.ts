import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Column } from '../../src/bulk/columns.ts';

test('columns: entries across chunk boundaries read back; entries never set hold the fill value', () => {
  for (const [kind, fill, values] of [
    ['float64', Number.NaN, [0.5, 1.7e12, -3]],
    ['int32', 0, [7, -2_000_000_000, 2_000_000_000]],
    ['uint8', 0, [1, 255, 4]],
  ] as const) {
    const c = new Column(kind, fill);
    assert.ok(Object.is(c.get(10), fill), `${kind}: never set`);
    const at = [0, 8_191, 8_192, 100_000];
    at.forEach((i, k) => c.set(i, values[k % values.length]!));
    at.forEach((i, k) => assert.equal(c.get(i), values[k % values.length], `${kind}[${i}]`));
    assert.ok(Object.is(c.get(8_193), fill), `${kind}: a gap holds the fill value`);
    assert.ok(Object.is(c.get(10_000_000), fill), `${kind}: beyond the end`);
  }
});
