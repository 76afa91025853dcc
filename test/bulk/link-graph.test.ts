import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { groupsOf, hashKey, KeyLinks, TimePoints } from '../../src/bulk/link-graph.ts';
import { UnionFind } from '../../src/match/union-find.ts';

/** The groups of `uf` as arrays of node ids. */
function groupLists(uf: UnionFind): number[][] {
  const { nodes, starts } = groupsOf(uf);
  const out: number[][] = [];
  for (let k = 0; k + 1 < starts.length; k++) out.push([...nodes.subarray(starts[k]!, starts[k + 1]!)]);
  return out;
}

describe('link graph', () => {
  test('union-find: groups in order of their smallest node, nodes ascending within', () => {
    const cases: { size: number; links: [number, number][]; groups: number[][] }[] = [
      { size: 0, links: [], groups: [] },
      { size: 3, links: [], groups: [[0], [1], [2]] },
      { size: 5, links: [[4, 1], [3, 0]], groups: [[0, 3], [1, 4], [2]] },
      { size: 6, links: [[5, 4], [4, 3], [2, 5], [0, 1]], groups: [[0, 1], [2, 3, 4, 5]] },
      { size: 4, links: [[3, 3], [1, 2], [2, 1]], groups: [[0], [1, 2], [3]] },
    ];
    for (const c of cases) {
      const uf = new UnionFind(c.size);
      for (const [a, b] of c.links) uf.union(a, b);
      assert.deepEqual(groupLists(uf), c.groups, JSON.stringify(c.links));
    }
  });

  test('keys: equal keys of the same kind join their nodes; other kinds and empty keys do not', () => {
    const keys = new KeyLinks(10);
    keys.add('s', 'session-a', 0);
    keys.add('s', 'session-b', 1);
    keys.add('s', 'session-a', 4);
    keys.add('n', 'session-b', 2); // same text, another kind
    keys.add('p', '', 3);
    keys.add('p', '', 5);
    keys.add('p', null, 6);
    keys.add('e', 'x@example.com', 7);
    keys.add('e', 'x@example.com', 9);
    keys.add('e', 'x@example.com', 8);
    const uf = new UnionFind(10);
    keys.joinInto(uf);
    assert.deepEqual(groupLists(uf), [[0, 4], [1], [2], [3], [5], [6], [7, 8, 9]]);
  });

  test('keys: 100,000 distinct keys join (almost) nothing; a hash collision only joins two groups', () => {
    const n = 100_000;
    const keys = new KeyLinks(n);
    for (let i = 0; i < n; i++) keys.add('s', `session_${i}`, i);
    const uf = new UnionFind(n);
    keys.joinInto(uf);
    const groups = groupsOf(uf).starts.length - 1;
    // 32-bit hashes: a handful of collisions at most among 100,000 keys.
    assert.ok(groups >= n - 10, `${groups} groups`);
    assert.equal(hashKey('abc'), hashKey('abc'));
    assert.notEqual(hashKey('abc'), hashKey('abd'));
  });

  test('time points: every point within [from, to], bounds included, in time order', () => {
    const points = new TimePoints([
      [50, 5],
      [10, 1],
      [Number.NaN, 9],
      [30, 3],
      [30, 2],
      [70, 7],
    ]);
    assert.equal(points.length, 5);
    const within = (from: number, to: number) => {
      const out: number[] = [];
      points.within(from, to, (node) => out.push(node));
      return out;
    };
    assert.deepEqual(within(10, 50), [1, 2, 3, 5]);
    assert.deepEqual(within(11, 49), [2, 3]);
    assert.deepEqual(within(71, 100), []);
    assert.deepEqual(within(0, 9), []);
    assert.deepEqual(within(50, 10), []);
    assert.deepEqual(within(Number.NaN, 100), []);
  });
});
