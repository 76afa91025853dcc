/**
 * Progress of a long run on stderr: a cli-progress bar (done/total, rate, ETA) on a TTY only, a plain line
 * every few seconds otherwise (logs of CI and cron stay readable; a JSON line with JSON logs), nothing
 * with `--no-progress`.
 */
import cliProgress from 'cli-progress';
import type { BulkProgress } from '../api/bulk-upload.ts';
import { messageLine } from '../log/line-format.ts';

/** A progress reporter: `update` with each event, `stop` at the end. */
export interface ProgressReporter {
  update(progress: BulkProgress): void;
  stop(): void;
}

const LABEL: Record<BulkProgress['phase'], string> = { scan: 'scanning', enqueue: 'preparing', deliver: 'delivering' };

/** Pick the reporter for the terminal. */
export function createProgress(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  if (!enabled) return { update() {}, stop() {} };
  if (stream.isTTY) {
    let bar: cliProgress.SingleBar | null = null;
    let phase: BulkProgress['phase'] | null = null;
    return {
      update(p) {
        if (p.total === null) return;
        if (phase !== p.phase) {
          bar?.stop();
          phase = p.phase;
          bar = new cliProgress.SingleBar(
            { stream, format: `${LABEL[p.phase].padEnd(10)} [{bar}] {value}/{total} | {rate}/s | ETA {eta_formatted}`, etaBuffer: 50, fps: 10 },
            cliProgress.Presets.shades_classic,
          );
          bar.start(p.total, p.done, { rate: '0' });
        }
        const elapsed = (Date.now() - (bar as unknown as { startTime: number }).startTime) / 1000;
        bar?.update(p.done, { rate: elapsed > 0 ? (p.done / elapsed).toFixed(0) : '0' });
      },
      stop() {
        bar?.stop();
      },
    };
  }
  let last = 0;
  let started = Date.now();
  let current: BulkProgress | null = null;
  let printed = true;
  const print = (p: BulkProgress, now: number) => {
    const rate = p.done / Math.max(0.001, (now - started) / 1000);
    // A line like any other message: JSON when the logs are (journald, shippers), else text.
    stream.write(messageLine(`${LABEL[p.phase]} ${p.done}${p.total !== null ? `/${p.total}` : ''} (${rate.toFixed(0)}/s)`));
    last = now;
    printed = true;
  };
  return {
    update(p) {
      const now = Date.now();
      if (current !== null && current.phase !== p.phase) {
        // Close the previous phase with its final count, then time the new one from here.
        if (!printed) print(current, now);
        started = now;
      }
      current = p;
      printed = false;
      if (now - last >= 2_000 || (p.total !== null && p.done === p.total)) print(p, now);
    },
    stop() {
      if (current !== null && !printed) print(current, Date.now());
    },
  };
}
