/**
 * Graceful shutdown on SIGINT/SIGTERM: the first signal stops the worker (no new leases, in-flight
 * requests finish within the grace period, the rest are released) and exits 0; a second signal exits
 * at once, for an operator who does not want to wait. Nothing is lost either way: the outbox is durable.
 */

/** Options of `installSignalHandlers`. */
export interface SignalOptions {
  /** Stops the work gracefully; the process exits once it resolves. */
  stop: () => Promise<void>;
  /** Called after the graceful stop, before exiting (close the store and the client). */
  cleanup?: () => Promise<void>;
  /** Told about the signal (stderr by default). */
  onSignal?: (signal: NodeJS.Signals, second: boolean) => void;
  /** Injectable for tests; default process.exit. */
  exit?: (code: number) => void;
}

/** Install the handlers; returns a function that removes them. */
export function installSignalHandlers(options: SignalOptions): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    options.onSignal?.(signal, stopping);
    if (stopping) {
      // Items still leased come back when their leases expire.
      exit(130);
      return;
    }
    stopping = true;
    options
      .stop()
      .then(() => options.cleanup?.())
      .then(
        () => exit(0),
        (err: unknown) => {
          process.stderr.write(`error during shutdown: ${err instanceof Error ? err.message : String(err)}\n`);
          exit(1);
        },
      );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
