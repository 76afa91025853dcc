/**
 * How the CLI's own process collects garbage during a bulk run (docs/architecture.md, "Throughput" →
 * "Bulk memory"). V8 sizes its heap for the machine: on a host with plenty of memory it lets the young
 * generation grow to 64 MB per semi-space and the old generation several times past what is live before
 * it collects, so a bulk that keeps 40 MB live peaks at four or five times that. A bulk is a batch job
 * whose live data stays small (one group of files at a time, the outbox on disk): it is better served by
 * a young generation that stays at its first size and an old generation allowed 20% over what the last
 * full collection found live. Both are V8 settings that are read at each collection, so the process sets
 * them itself as it starts, before loading the program (V8 never gives back young-generation room it has
 * grown into, and loading some 700 modules grows it): nobody has to pass heap flags.
 */
import { setFlagsFromString } from 'node:v8';

/** Global options of the CLI that take a value as the next argument (`--log-level warn`). */
const VALUE_OPTIONS = new Set(['--log-level', '--log-format']);

/** The command a CLI argv runs (`bulk` in `node main.js --verbose bulk calls/`), or null. Pure. */
export function commandOf(argv: readonly string[]): string | null {
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return argv[i + 1] ?? null;
    if (!arg.startsWith('-')) return arg;
    if (VALUE_OPTIONS.has(arg)) i++;
  }
  return null;
}

/** V8 settings of the bulk command's process, in the order they are applied. */
export const BULK_HEAP_FLAGS: readonly string[] = ['--semi-space-growth-factor=1', '--heap-growing-percent=20'];

/**
 * Threads of libuv's pool in a bulk run, unless `UV_THREADPOOL_SIZE` says otherwise. The pool does the
 * run's file reads; each of its threads that allocates keeps an arena of the C library, which holds on to
 * what it once used (about 15 MB at 200,000 calls with the default 4 threads). A bulk reads one group of
 * files at a time, mostly from the page cache: two threads keep up with it.
 */
export const BULK_THREADPOOL_SIZE = 2;

/**
 * Apply `BULK_HEAP_FLAGS` to this process (every isolate of it, the outbox's writer thread too), and
 * `BULK_THREADPOOL_SIZE` unless the environment sets the pool's size (libuv reads it when the pool
 * starts, at the first file operation, so this must run before any). Only the CLI calls it: a library
 * must not change the heap or threads of the process that embeds it.
 */
export function useBulkHeapPolicy(env: NodeJS.ProcessEnv = process.env): void {
  for (const flag of BULK_HEAP_FLAGS) setFlagsFromString(flag);
  env.UV_THREADPOOL_SIZE ??= String(BULK_THREADPOOL_SIZE);
}

/** Apply the heap policy of the command `argv` runs, if it has one (only `bulk` has). True when applied. */
export function useHeapPolicyOf(argv: readonly string[]): boolean {
  if (commandOf(argv) !== 'bulk') return false;
  useBulkHeapPolicy();
  return true;
}
