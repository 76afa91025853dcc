/**
 * Output into a closed pipe (`crm-upload bulk … --dry-run | head -1`) ends the program quietly, as
 * `git log | head -1` does: Node ignores SIGPIPE, so the next write to the closed end fails with EPIPE,
 * which without a listener is an uncaught error and a stack trace. Nobody reads the output any more,
 * so the program exits 0 at once. A run that was delivering leaves what it held leased; the leases
 * expire and the next run sends those calls under the same keys (docs/architecture.md, "Delivery").
 */

/** Whether `err` is the failed write of a pipe whose reader went away. */
export function isClosedPipe(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'EPIPE';
}

/**
 * Exit with 0 when `streams` (default stdout and stderr) hit a closed pipe; other stream errors are
 * rethrown as before. Returns a function that removes the listeners.
 */
export function exitQuietlyOnClosedPipe(
  streams: readonly NodeJS.WritableStream[] = [process.stdout, process.stderr],
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  const onError = (err: unknown): void => {
    if (isClosedPipe(err)) {
      exit(0);
      return;
    }
    throw err;
  };
  for (const s of streams) s.on('error', onError);
  return () => {
    for (const s of streams) s.off('error', onError);
  };
}
