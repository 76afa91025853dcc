/**
 * Union-find over ids 0…n−1, for matching's groupings: copies of one conversation (`merge-calls.ts`) and
 * the independent groups of a bulk run (`src/bulk/link-graph.ts`). The smaller id stays the root, so a
 * group's root is its first member in input order.
 */

/** Union-find over node ids 0…n−1, with path halving; the smaller id stays the root. */
export class UnionFind {
  readonly #parent: Int32Array;

  constructor(size: number) {
    this.#parent = new Int32Array(size);
    for (let i = 0; i < size; i++) this.#parent[i] = i;
  }

  /** Number of nodes. */
  get size(): number {
    return this.#parent.length;
  }

  /** The root of `i`'s group. */
  find(i: number): number {
    const p = this.#parent;
    let x = i;
    while (p[x] !== x) {
      const up = p[p[x]!]!;
      p[x] = up;
      x = up;
    }
    return x;
  }

  /** Join the groups of `a` and `b`. */
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    if (ra < rb) this.#parent[rb] = ra;
    else this.#parent[ra] = rb;
  }
}
