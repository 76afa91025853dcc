/**
 * `crm-upload worker [--once] [--concurrency N]`: deliver what is due from the outbox, until SIGINT or
 * SIGTERM (a graceful stop, exit 0), or with `--once` until nothing is due now.
 */
import type { Command } from 'commander';
import { openDelivery } from '../api/delivery-session.ts';
import { installSignalHandlers } from '../worker/signals.ts';
import { startWorker } from '../worker/worker.ts';
import { CliExit, cliLogger, configFrom, EXIT, runAction, say, type GlobalOptions } from './context.ts';

interface WorkerFlags {
  once?: boolean;
  concurrency?: string;
}

/** Register the `worker` command. */
export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('deliver what is due from the outbox; --once exits when nothing is due now')
    .option('--once', 'deliver what is due now, then exit')
    .option('--concurrency <n>', 'deliveries at once (CRM_CONCURRENCY)')
    .action(async (flags: WorkerFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        if (flags.concurrency !== undefined && !/^[1-9]\d*$/.test(flags.concurrency.trim())) {
          throw new CliExit(EXIT.USAGE, `error: --concurrency must be a whole number ≥ 1, got "${flags.concurrency}"`);
        }
        const config = configFrom({ CRM_CONCURRENCY: flags.concurrency?.trim() });
        const logger = cliLogger(globals);
        // Its close() runs once, whichever of the normal end and a signal comes first.
        const session = await openDelivery(config, { logger });
        const handle = startWorker({ store: session.store, client: session.client, config, logger, once: flags.once === true });
        const uninstall = installSignalHandlers({
          stop: () => handle.stop(),
          cleanup: () => session.close(),
          onSignal: (signal, second) => say(second ? `${signal}: exiting now` : `${signal}: finishing in-flight deliveries…`),
        });
        try {
          const s = await handle.done;
          say(`worker: ${s.delivered} delivered, ${s.retried} to retry, ${s.waited} rate-limited, ${s.dead} dead, ${s.released} released`);
          return s.dead > 0 ? EXIT.FAILED : EXIT.OK;
        } finally {
          uninstall();
          await session.close();
        }
      });
    });
}
