/**
 * How the CLI's own process collects garbage during a bulk run (docs/architecture.md, "Throughput" →
 * "Bulk memory"). V8 sizes its heap for the machine: on a host with plenty of memory it lets the young
 * generation grow to 64 MB per semi-space and the old generation several times past what is live before
 * it collects, so a bulk that keeps 40 MB live peaks at four or five times that. A bulk is a batch job
 * whose live data stays small (one group of files at a time, the outbox on disk): it is better served by
 * a young generation that stays at its first size and an old generation allowed 20% over what the last
 * full collection found live. Both are V8 settings that are read at each collection, so the process sets
 * them itself at the start of the command: nobody has to pass heap flags.
 */
import { setFlagsFromString } from 'node:v8';

/** V8 settings of the bulk command's process, in the order they are applied. */
export const BULK_HEAP_FLAGS: readonly string[] = ['--semi-space-growth-factor=1', '--heap-growing-percent=20'];

/**
 * Apply `BULK_HEAP_FLAGS` to this process (every isolate of it, the outbox's writer thread too). Only
 * the CLI calls it: a library must not change the heap of the process that embeds it.
 */
export function useBulkHeapPolicy(): void {
  for (const flag of BULK_HEAP_FLAGS) setFlagsFromString(flag);
}
