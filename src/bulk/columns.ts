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

/** Bytes appended in chunks; a piece never straddles two chunks, so it reads back as one view. */
export class ByteChunks {
  readonly #chunks: Uint8Array[] = [];
  #used = CHUNK_BYTES;

  /**
   * Append what `write` puts into a view of at least `max` bytes (it returns how many it wrote); the
   * position of the piece, for `view`.
   */
  append(max: number, write: (into: Uint8Array) => number): number {
    if (this.#used + max > CHUNK_BYTES || this.#chunks.length === 0) {
      this.#chunks.push(new Uint8Array(Math.max(CHUNK_BYTES, max)));
      this.#used = 0;
    }
    const c = this.#chunks.length - 1;
    const at = this.#used;
    this.#used += write(this.#chunks[c]!.subarray(at, at + max));
    return c * CHUNK_BYTES_SPAN + at;
  }

  /** The `length` bytes at `position`. */
  view(position: number, length: number): Uint8Array {
    const c = Math.floor(position / CHUNK_BYTES_SPAN);
    const at = position - c * CHUNK_BYTES_SPAN;
    return this.#chunks[c]!.subarray(at, at + length);
  }
}

/** Bytes per chunk of `ByteChunks`, and the span of positions each chunk has (room for a larger one). */
const CHUNK_BYTES = 64 * 1024;
const CHUNK_BYTES_SPAN = 2 ** 20;
