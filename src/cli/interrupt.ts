/**
 * Ctrl-C and SIGTERM for the commands that deliver in the foreground (`bulk`, `send`, `watch`), as
 * docs/architecture.md ("Shutdown") has them: the first signal aborts the run's AbortSignal,
 * so the run stops leasing, lets the requests in flight finish within the worker's grace period,
 * commits their outcomes and releases the leases it still holds; the command then prints its summary
 * marked interrupted and exits 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as shells
 * report a process a signal ended. A second signal exits at once: nothing is lost, the items it still
 * held come back when their leases expire.
 *
 * (The `worker` daemon keeps its own handlers, src/worker/signals.ts: a stopped daemon exits 0.)
 */
import { constants } from 'node:os';

/** Signals that interrupt a run. */
export const INTERRUPT_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** One of `INTERRUPT_SIGNALS`. */
export type InterruptSignal = (typeof INTERRUPT_SIGNALS)[number];

/** The exit code of a run ended by `signal`: 128 + its number (SIGINT 130, SIGTERM 143). */
export function interruptExitCode(signal: InterruptSignal): number {
  return 128 + constants.signals[signal];
}

/** The line that ends an interrupted run's summary on stderr. */
export function interruptedLine(signal: InterruptSignal): string {
  return `interrupted by ${signal}: the outcomes of the requests in flight are recorded and nothing is held; run it again to resume`;
}

/** Options of `onInterrupt`. */
export interface InterruptOptions {
  /** Told about each signal (`second` for the one that exits at once). */
  onSignal?: (signal: InterruptSignal, second: boolean) => void;
  /** Injectable for tests; default `process.exit`. */
  exit?: (code: number) => void;
  /** Injectable for tests; default `process`. */
  emitter?: Pick<NodeJS.Process, 'on' | 'off'>;
}

/** An installed interrupt handler. */
export interface Interrupt {
  /** Aborted by the first SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** The first signal received, or null. */
  readonly received: InterruptSignal | null;
  /** Remove the handlers (a later signal then gets Node's default: the process ends). */
  dispose(): void;
}

/** Listen for SIGINT/SIGTERM for the length of one run. */
export function onInterrupt(options: InterruptOptions = {}): Interrupt {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const emitter = options.emitter ?? process;
  const controller = new AbortController();
  let received: InterruptSignal | null = null;
  const handler = (signal: InterruptSignal): void => {
    const second = received !== null;
    options.onSignal?.(signal, second);
    if (second) {
      exit(interruptExitCode(signal));
      return;
    }
    received = signal;
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  for (const s of INTERRUPT_SIGNALS) emitter.on(s, handler);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    dispose() {
      for (const s of INTERRUPT_SIGNALS) emitter.off(s, handler);
    },
  };
}

/** The default `onSignal` of the CLI: one line on stderr. */
export function sayInterrupt(say: (line: string) => void): (signal: InterruptSignal, second: boolean) => void {
  return (signal, second) =>
    say(second ? `${signal}: exiting now; calls still in flight come back when their leases expire` : `${signal}: finishing the requests in flight… (again to exit now)`);
}
