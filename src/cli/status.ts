/**
 * `crm-upload status [--json]`: counts by state and when the next attempt is due.
 */
import type { Command } from 'commander';
import { formatDuration } from '../config/duration.ts';
import type { OutboxCounts } from '../outbox/outbox-store.ts';
import { probePayloads } from '../outbox/payload-probe.ts';
import { configFrom, EXIT, out, runAction, say, type GlobalOptions, withOutbox } from './context.ts';

/** The `--json` form of `status`. */
export interface StatusJson {
  pending: number;
  in_flight: number;
  delivered: number;
  dead: number;
  /** ISO time of the earliest pending item, or null. */
  nextAttemptAt: string | null;
  /** ISO time the oldest item not yet final was enqueued (the backlog's age), or null. */
  oldestPendingAt: string | null;
  /** Worker processes leasing from the queue now (BullMQ only). */
  workers?: number;
}

/** A store that can say how many processes lease from it (the BullMQ store). */
interface CountsWorkers {
  workers(): Promise<number>;
}

/** Counts as printed by `status --json`. */
export function statusJson(counts: OutboxCounts): StatusJson {
  return {
    pending: counts.pending,
    in_flight: counts.in_flight,
    delivered: counts.delivered,
    dead: counts.dead,
    nextAttemptAt: counts.nextAttemptAt === null ? null : new Date(counts.nextAttemptAt).toISOString(),
    oldestPendingAt: counts.oldestPendingAt === null ? null : new Date(counts.oldestPendingAt).toISOString(),
  };
}

/** Register the `status` command. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('counts by state (pending, in_flight, delivered, dead) and the next attempt time')
    .option('--json', 'print the counts as one JSON object on stdout')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        return withOutbox(async (store) => {
          const counts = await store.counts();
          // A missing or wrong CRM_OUTBOX_KEY is said here (E_OUTBOX_KEY, exit 2), not first by a worker.
          await probePayloads(store);
          const json = statusJson(counts);
          const workers = (store as Partial<CountsWorkers>).workers;
          if (typeof workers === 'function') json.workers = await workers.call(store);
          if (flags.json) {
            out(JSON.stringify(json));
          } else {
            say(`pending ${json.pending} · in_flight ${json.in_flight} · delivered ${json.delivered} · dead ${json.dead}${json.workers === undefined ? '' : ` · workers ${json.workers}`}`);
            if (counts.nextAttemptAt !== null) {
              const wait = counts.nextAttemptAt - Date.now();
              say(`next attempt ${json.nextAttemptAt}${wait > 0 ? ` (in ${formatDuration(wait)})` : ' (due now)'}`);
            }
            if (counts.oldestPendingAt !== null) say(`oldest undelivered call enqueued ${formatDuration(Math.max(0, Date.now() - counts.oldestPendingAt))} ago`);
          }
          return EXIT.OK;
        });
      });
    });
}
