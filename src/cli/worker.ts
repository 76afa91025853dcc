/**
 * `crm-upload worker [--once] [--concurrency N] [--metrics-port N] [--metrics-host H] [--verify-before-resend MODE]`: deliver what is
 * due from the outbox, until SIGINT or SIGTERM (a graceful stop, exit 0), or with `--once` until nothing
 * is due now. With `--metrics-port`, `/metrics` (Prometheus) is served beside it; with
 * `CRM_ALERT_WEBHOOK_URL`, a call going dead is alerted, and with `CRM_ALERT_BACKLOG_S` too, a backlog.
 */
import type { Command } from 'commander';
import { createAlerter, deadCallOf, type Alerter } from '../alerts/alerter.ts';
import { startBacklogWatch, type BacklogWatch } from '../alerts/backlog-watch.ts';
import { openDelivery } from '../delivery/open-delivery.ts';
import type { DeliveryMetricHooks } from '../metrics/metrics.ts';
import type { MetricsServer } from '../metrics/metrics-server.ts';
import type { OutboxItem, Settlement } from '../outbox/outbox-store.ts';
import type { AttemptReport } from '../worker/deliver-item.ts';
import { installSignalHandlers } from '../worker/signals.ts';
import { VERIFY_BEFORE_RESEND_MODES } from '../config/config.ts';
import { defaultUploadsDir } from '../config/recording-folders.ts';
import { CliExit, cliLogger, configFrom, EXIT, runAction, say, type GlobalOptions } from './context.ts';

interface WorkerFlags {
  once?: boolean;
  concurrency?: string;
  metricsPort?: string;
  metricsHost?: string;
  verifyBeforeResend?: string;
}

/** Register the `worker` command. */
export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('deliver what is due from the outbox; --once exits when nothing is due now')
    .option('--once', 'deliver what is due now, then exit')
    .option('--concurrency <n>', 'deliveries at once (CRM_CONCURRENCY)')
    .option('--metrics-port <n>', 'serve Prometheus /metrics on this port (0 picks a free one)')
    .option('--metrics-host <host>', 'address of /metrics', '127.0.0.1')
    .option('--verify-before-resend <mode>', 'auto|always|never: ask the CRM whether it holds a call before re-sending it after an uncertain attempt (CRM_VERIFY_BEFORE_RESEND, default auto)')
    .action(async (flags: WorkerFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        if (flags.concurrency !== undefined && !/^[1-9]\d*$/.test(flags.concurrency.trim())) {
          throw new CliExit(EXIT.USAGE, `error: --concurrency must be a whole number ≥ 1, got "${flags.concurrency}"`);
        }
        if (flags.verifyBeforeResend !== undefined && !(VERIFY_BEFORE_RESEND_MODES as readonly string[]).includes(flags.verifyBeforeResend.trim())) {
          throw new CliExit(EXIT.USAGE, `error: --verify-before-resend must be one of ${VERIFY_BEFORE_RESEND_MODES.join(', ')}, got "${flags.verifyBeforeResend}"`);
        }
        const metricsPort = flags.metricsPort?.trim();
        if (metricsPort !== undefined && (!/^\d+$/.test(metricsPort) || Number(metricsPort) > 65535)) {
          throw new CliExit(EXIT.USAGE, `error: --metrics-port must be a whole number from 0 to 65535, got "${flags.metricsPort}"`);
        }
        const config = configFrom({ CRM_CONCURRENCY: flags.concurrency?.trim(), CRM_VERIFY_BEFORE_RESEND: flags.verifyBeforeResend?.trim() });
        const logger = cliLogger(globals);
        // Its close() runs once, whichever of the normal end and a signal comes first.
        const session = await openDelivery(config, { logger });

        let metrics: DeliveryMetricHooks | null = null;
        let metricsServer: MetricsServer | null = null;
        let alerter: Alerter | null = null;
        let backlog: BacklogWatch | null = null;
        // Closed once, after the worker: the last outcomes are counted and alerted before the end.
        let extrasClosed: Promise<void> | null = null;
        const closeExtras = (): Promise<void> => {
          extrasClosed ??= (async () => {
            await backlog?.stop();
            await alerter?.close();
            await metricsServer?.close();
          })();
          return extrasClosed;
        };
        try {
          if (metricsPort !== undefined) {
            // Loaded only with --metrics-port: prom-client and the HTTP stack cost every worker without it.
            const [{ createDeliveryMetrics, createOutboxGauges, newRegistry }, { startMetricsServer }] = await Promise.all([import('../metrics/metrics.ts'), import('../metrics/metrics-server.ts')]);
            const registry = newRegistry({ processMetrics: true });
            createOutboxGauges(registry, session.store);
            metrics = createDeliveryMetrics(registry);
            metricsServer = await startMetricsServer({ registry, host: flags.metricsHost, port: Number(metricsPort) });
            say(`metrics on ${metricsServer.url}`);
          }
          if (config.alertWebhookUrl !== null) {
            alerter = createAlerter({ webhookUrl: config.alertWebhookUrl, source: 'worker', logger, secrets: [config.apiKey, config.dashboardToken, config.ingestToken] });
            if (config.alertBacklogS !== null) backlog = startBacklogWatch({ store: session.store, alerter, thresholdS: config.alertBacklogS, logger });
          }
        } catch (err) {
          await closeExtras();
          await session.close();
          throw err;
        }

        const onAttempt = (report: AttemptReport, item: OutboxItem): void => metrics?.onAttempt(report, item);
        const onSettled = (settlement: Settlement, item: OutboxItem): void => {
          metrics?.onSettled(settlement, item);
          const dead = alerter === null ? null : deadCallOf(settlement, item);
          if (dead !== null) alerter?.dead(dead);
        };
        // CRM_RETENTION: the worker purges delivered calls past it as it goes (docs/architecture.md, "Stores" → "Retention").
        const retention = typeof config.retentionMs === 'number' ? { olderThanMs: config.retentionMs, uploadsDir: defaultUploadsDir(config) } : undefined;
        const handle = session.startWorker({ once: flags.once === true, onAttempt, onSettled, ...(retention ? { retention } : {}) });
        const uninstall = installSignalHandlers({
          stop: () => handle.stop(),
          cleanup: async () => {
            await closeExtras();
            await session.close();
          },
          onSignal: (signal, second) => say(second ? `${signal}: exiting now` : `${signal}: finishing in-flight deliveries…`),
        });
        try {
          const s = await handle.done;
          say(`worker: ${s.delivered} delivered, ${s.retried} to retry, ${s.waited} rate-limited, ${s.dead} dead, ${s.released} released`);
          return s.dead > 0 ? EXIT.FAILED : EXIT.OK;
        } finally {
          uninstall();
          await closeExtras();
          await session.close();
        }
      });
    });
}
