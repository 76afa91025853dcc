/**
 * The files of a bulk run that matching could bring together, as connected groups (docs/architecture.md,
 * "Throughput" → "Bulk memory"): a union-find over every file of the run, linked by what matching
 * compares — equal keys (session ids, `create_lead` arguments, message item ids, a manifest's paths) and
 * times (a lead or recording within a call's windows). Each group can then be matched on its own with
 * the same result as the whole run, one group in memory at a time.
 *
 * Links may be too many, never too few: two files linked that matching would not pair only make a group
 * larger. So keys are compared by a 32-bit hash (a collision joins two groups, nothing else), and the
 * links are kept in typed arrays: a run of 200,000 calls and leads needs a few megabytes here.
 */
import type { UnionFind } from '../match/union-find.ts';
import { Column } from './columns.ts';

/** FNV-1a over the UTF-16 code units of `text`: a 32-bit key hash (collisions only join groups). */
export function hashKey(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Keys seen on nodes, packed as `hash · 2^bits + node` in one Float64Array (exact below 2^53), so that
 * sorting the numbers brings equal keys together without a map of strings.
 */
export class KeyLinks {
  /** Collected in chunks (see `columns.ts`), sorted in one array at the end. */
  readonly #packed = new Column('float64');
  #length = 0;
  readonly #bits: number;
  readonly #hashMod: number;

  /** `nodes`: how many node ids there are (they must fit beside the hash in 53 bits). */
  constructor(nodes: number) {
    this.#bits = Math.max(1, Math.ceil(Math.log2(nodes + 1)));
    if (this.#bits > 31) throw new RangeError(`too many files for one run: ${nodes}`);
    // The hash keeps what room is left: 32 bits up to 2^21 nodes, fewer above (more joined groups).
    this.#hashMod = 2 ** Math.min(32, 53 - this.#bits);
  }

  /** Node `node` carries key `kind:text` (empty texts carry nothing). */
  add(kind: string, text: string | null | undefined, node: number): void {
    if (text === null || text === undefined || text === '') return;
    const hash = hashKey(`${kind}\u0000${text}`) % this.#hashMod;
    this.#packed.set(this.#length++, hash * 2 ** this.#bits + node);
  }

  /** Join every two nodes that carry an equal key. */
  joinInto(groups: UnionFind): void {
    const keys = new Float64Array(this.#length);
    for (let i = 0; i < keys.length; i++) keys[i] = this.#packed.get(i);
    keys.sort();
    const scale = 2 ** this.#bits;
    let prevHash = -1;
    let prevNode = -1;
    for (const v of keys) {
      const hash = Math.floor(v / scale);
      const node = v - hash * scale;
      if (hash === prevHash) groups.union(prevNode, node);
      prevHash = hash;
      prevNode = node;
    }
  }
}

/** Points in time (ms) of some nodes, sorted, to find those within an interval. */
export class TimePoints {
  readonly #at: Float64Array;
  readonly #node: Int32Array;

  /** `points`: [time, node] pairs; non-finite times are left out. */
  constructor(points: Iterable<readonly [number, number]>) {
    const list: (readonly [number, number])[] = [];
    for (const p of points) if (Number.isFinite(p[0])) list.push(p);
    list.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.#at = Float64Array.from(list, (p) => p[0]);
    this.#node = Int32Array.from(list, (p) => p[1]);
  }

  /** How many points there are. */
  get length(): number {
    return this.#at.length;
  }

  /** Call `each` with the node of every point in [from, to]. */
  within(from: number, to: number, each: (node: number, at: number) => void): void {
    if (!(from <= to)) return;
    const at = this.#at;
    let lo = 0;
    let hi = at.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (at[mid]! < from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < at.length && at[i]! <= to; i++) each(this.#node[i]!, at[i]!);
  }
}

/** The groups of a union-find, each a run of node ids in `nodes` (ascending), groups by their smallest id. */
export interface Groups {
  /** Node ids, group after group. */
  nodes: Int32Array;
  /** Group k is `nodes[starts[k]] … nodes[starts[k + 1] − 1]`; one more entry than there are groups. */
  starts: Int32Array;
}

/** Lay the groups of `uf` out in order of their smallest node id (a counting sort by root). */
export function groupsOf(uf: UnionFind): Groups {
  const n = uf.size;
  const rootOf = new Int32Array(n);
  const count = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = uf.find(i);
    rootOf[i] = r;
    count[r] = count[r]! + 1;
  }
  // Roots are the smallest id of their group, so walking ids in order meets groups in that order.
  const slotOf = new Int32Array(n).fill(-1);
  let groups = 0;
  for (let i = 0; i < n; i++) if (rootOf[i] === i) slotOf[i] = groups++;
  const starts = new Int32Array(groups + 1);
  for (let i = 0; i < n; i++) if (rootOf[i] === i) starts[slotOf[i]! + 1] = count[i]!;
  for (let k = 0; k < groups; k++) starts[k + 1] = starts[k + 1]! + starts[k]!;
  const fill = starts.slice(0, groups);
  const nodes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = slotOf[rootOf[i]!]!;
    nodes[fill[k]!] = i;
    fill[k] = fill[k]! + 1;
  }
  return { nodes, starts };
}
