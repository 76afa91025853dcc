/**
 * The periodic backlog check of the worker process (`CRM_ALERT_BACKLOG_S`): reads `store.counts()` now
 * and then every `everyMs`, and lets the alerter decide (it holds the 5-minute limit). The dashboard
 * feeds the alerter from its own sampling instead and does not need this.
 */
import type { Logger } from '../log/logger.ts';
import { silentLogger } from '../log/logger.ts';
import type { OutboxStore } from '../outbox/outbox-store.ts';
import type { Alerter } from './alerter.ts';

/** Default period of the worker's backlog check. */
export const BACKLOG_CHECK_MS = 30_000;

/** Options of `startBacklogWatch`. */
export interface BacklogWatchOptions {
  store: OutboxStore;
  alerter: Alerter;
  thresholdS: number;
  /** Default `BACKLOG_CHECK_MS`. */
  everyMs?: number;
  logger?: Logger;
}

/** A running check. */
export interface BacklogWatch {
  /** Stop checking; resolves once a check in progress has finished. */
  stop(): Promise<void>;
}

/** Start checking at once, then every `everyMs`. The timer never keeps the process alive. */
export function startBacklogWatch(options: BacklogWatchOptions): BacklogWatch {
  const log = options.logger ?? silentLogger();
  let running: Promise<void> | null = null;
  let stopped = false;
  const check = (): void => {
    if (stopped || running !== null) return;
    running = options.store
      .counts()
      .then(
        (counts) => void options.alerter.backlog(counts, options.thresholdS),
        (err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'backlog check: the outbox did not answer'),
      )
      .finally(() => (running = null));
  };
  const timer = setInterval(check, options.everyMs ?? BACKLOG_CHECK_MS);
  timer.unref();
  check();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
