/**
 * Growing columns of numbers for the plan of a bulk run (docs/architecture.md, "Throughput" → "Bulk
 * memory"), kept in fixed chunks of 64 KB or less. A typed array that doubles as it grows copies itself
 * and frees the old copy each time; freed blocks of a few megabytes raise the C library's threshold for
 * giving memory back to the system, so the process keeps them (measured: 140 MB more resident memory at
 * 200,000 calls than the columns themselves). Chunks are never copied or freed while the run lasts.
 */

/** Entries per chunk: 8,192 (64 KB of Float64). */
const SHIFT = 13;
const CHUNK = 1 << SHIFT;
const MASK = CHUNK - 1;

type Typed = Float64Array | Int32Array | Uint8Array;

/** A column of numbers indexed from 0, growing by chunks; entries not yet set hold `fill`. */
export class Column {
  readonly #make: (size: number) => Typed;
  readonly #fill: number;
  readonly #chunks: Typed[] = [];

  /** `kind`: what each entry holds; `fill`: the value of an entry never set (default 0). */
  constructor(kind: 'float64' | 'int32' | 'uint8', fill = 0) {
    this.#make = kind === 'float64' ? (n) => new Float64Array(n) : kind === 'int32' ? (n) => new Int32Array(n) : (n) => new Uint8Array(n);
    this.#fill = fill;
  }

  /** Entry `i` (the fill value when never set). */
  get(i: number): number {
    const chunk = this.#chunks[i >>> SHIFT];
    return chunk === undefined ? this.#fill : chunk[i & MASK]!;
  }

  /** Set entry `i`, growing the column as needed. */
  set(i: number, value: number): void {
    while (this.#chunks.length <= i >>> SHIFT) {
      const chunk = this.#make(CHUNK);
      if (this.#fill !== 0) chunk.fill(this.#fill);
      this.#chunks.push(chunk);
    }
    this.#chunks[i >>> SHIFT]![i & MASK] = value;
  }
}
