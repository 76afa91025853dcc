/**
 * Start and stop the dashboard (`crm-upload dashboard`): the hono app on a Node HTTP server over the
 * configured outbox, the sampler behind "last hour", `/metrics` on a registry of its own, and — with
 * `CRM_ALERT_WEBHOOK_URL` and `CRM_ALERT_BACKLOG_S` — the backlog alert, checked at every sample.
 */
import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import type { Hono } from 'hono';
import type { Registry } from 'prom-client';
import { createAlerter, type Alerter } from '../alerts/alerter.ts';
import { loadConfig, type Config } from '../config/config.ts';
import { ConfigError } from '../errors.ts';
import { listen } from '../http/listen.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { createOutboxGauges, newRegistry } from '../metrics/metrics.ts';
import { openOutbox } from '../delivery/open-delivery.ts';
import { isRedisTarget } from '../outbox/create-outbox.ts';
import type { OutboxStore } from '../outbox/outbox-store.ts';
import { redactRedisUrl } from '../outbox/redis-target.ts';
import { checkTokenStrength } from '../http/token.ts';
import { createDashboardApp } from './app.ts';
import { allowedHosts, hostWithPort, isLoopbackHost, newDashboardToken } from './security.ts';
import { createDeliveryStats, type DeliveryStats } from './stats.ts';
import { DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT } from './defaults.ts';

export { DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT };
/** How often the page polls by default. */
export const DEFAULT_REFRESH_MS = 5_000;
/** How often the server samples the outbox by default (throughput, backlog alert). */
export const DEFAULT_SAMPLE_MS = 5_000;

/** Options of `startDashboard`. */
export interface DashboardOptions {
  /** Default: `loadConfig()`. Reads `outbox`, `dashboardToken`, `alertWebhookUrl`, `alertBacklogS`, `apiKey`. */
  config?: Config;
  /** Use this outbox instead of opening `config.outbox` (it is then left open by `close()`). */
  store?: OutboxStore;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8788; 0 picks a free port. */
  port?: number;
  /** More `Host` values to answer (`name` or `name:port`), e.g. the name of a reverse proxy. */
  allowHosts?: readonly string[];
  /** Show phone numbers and emails; only on a loopback address. */
  showPii?: boolean;
  /** Default `config.dashboardToken`, else a random one (see `DashboardServer.token`). */
  token?: string;
  refreshMs?: number;
  sampleMs?: number;
  /** Overrides of the sampler (tests): how often, at most, the last hour's deliveries are re-read. */
  readEveryMs?: number;
  /** Also expose prom-client's process metrics (CPU, memory, event loop) on `/metrics`; default false. */
  processMetrics?: boolean;
  /** Overrides of the alerter (tests): the 5-minute window. */
  alertMinIntervalMs?: number;
  logger?: Logger;
  now?: () => number;
}

/** A running dashboard. */
export interface DashboardServer {
  /** `http://HOST:PORT` as bound. */
  url: string;
  host: string;
  port: number;
  /** What every mutation needs as `Authorization: Bearer …`. */
  token: string;
  /** Whether the token came from the config (`CRM_DASHBOARD_TOKEN`) rather than being made up now. */
  tokenFromConfig: boolean;
  store: OutboxStore;
  app: Hono;
  registry: Registry;
  stats: DeliveryStats;
  /** The backlog alerter, when alerts are configured. */
  alerter: Alerter | null;
  /** Lines the CLI should print after the address (e.g. that reads are open to the network). */
  warnings: string[];
  /** Take a sample now (throughput, backlog alert). */
  refresh(): Promise<void>;
  /** Stop: no new connections, the sampler and alerts finish, the outbox closes (if opened here). */
  close(): Promise<void>;
}

/** How the outbox is named on the page: the file, or the Redis URL without its password. */
export function outboxDisplayName(target: string): string {
  return isRedisTarget(target) ? redactRedisUrl(target) : target;
}

/** Start the dashboard; resolves once it listens. */
export async function startDashboard(options: DashboardOptions = {}): Promise<DashboardServer> {
  const config = options.config ?? loadConfig();
  const host = (options.host ?? DEFAULT_DASHBOARD_HOST).trim();
  const port = options.port ?? DEFAULT_DASHBOARD_PORT;
  if (host === '') throw new ConfigError('the host is empty');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`the port must be a whole number from 0 to 65535, got ${port}`);
  const loopback = isLoopbackHost(host);
  const showPii = options.showPii === true;
  if (showPii && !loopback) throw new ConfigError(`--show-pii is only allowed on a loopback address, not ${host}: the pages are readable by anyone who can reach it`);
  const token = options.token ?? config.dashboardToken ?? newDashboardToken();
  if (token.length < 16) throw new ConfigError('CRM_DASHBOARD_TOKEN must be at least 16 characters', { variable: 'CRM_DASHBOARD_TOKEN' });
  checkTokenStrength('CRM_DASHBOARD_TOKEN', token, loopback);
  const logger = options.logger ?? silentLogger();
  const refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
  const sampleMs = options.sampleMs ?? DEFAULT_SAMPLE_MS;
  const now = options.now ?? Date.now;

  const { store } = await openOutbox(config, options.store);
  const registry = newRegistry({ processMetrics: options.processMetrics === true });
  createOutboxGauges(registry, store, { now });
  const stats = createDeliveryStats(store, { now, ...(options.readEveryMs === undefined ? {} : { readEveryMs: options.readEveryMs }) });
  const alerter =
    config.alertWebhookUrl !== null && config.alertBacklogS !== null
      ? createAlerter({
          webhookUrl: config.alertWebhookUrl,
          source: 'dashboard',
          logger,
          now,
          secrets: [config.apiKey, token, config.ingestToken],
          ...(options.alertMinIntervalMs === undefined ? {} : { minIntervalMs: options.alertMinIntervalMs }),
        })
      : null;

  let allowed: ReadonlySet<string> = new Set();
  const app = createDashboardApp({
    store,
    token,
    readsNeedToken: !loopback,
    allowedHosts: () => allowed,
    showPii,
    stats,
    registry,
    refreshMs,
    outboxName: outboxDisplayName(config.outbox),
    logger,
    now,
  });
  // overrideGlobalObjects: false — a library must not replace the process's global Request/Response.
  const server = createAdaptorServer({ fetch: app.fetch, hostname: host, overrideGlobalObjects: false }) as Server;
  let actual: number;
  try {
    actual = await listen(server, port, host);
  } catch (err) {
    if (!options.store) await store.close();
    throw err;
  }
  try {
    allowed = allowedHosts(host, actual, options.allowHosts ?? []);
  } catch (err) {
    server.close();
    if (!options.store) await store.close();
    throw err;
  }

  const warnings: string[] = [];
  if (!loopback) warnings.push(`listening on ${host}, not loopback: every page, JSON and /metrics needs the token (Bearer, or the Basic password in a browser)`);

  const sample = async (): Promise<void> => {
    try {
      const counts = await stats.sample();
      alerter?.backlog(counts, config.alertBacklogS ?? 0);
    } catch (err) {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'dashboard: the outbox did not answer a sample');
    }
  };
  let sampling: Promise<void> = sample();
  const timer = setInterval(() => {
    sampling = sample();
  }, sampleMs);
  timer.unref();
  await sampling;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${hostWithPort(host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, actual)}`,
    host,
    port: actual,
    token,
    tokenFromConfig: options.token === undefined && config.dashboardToken !== null,
    store,
    app,
    registry,
    stats,
    alerter,
    warnings,
    refresh: sample,
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await new Promise<void>((done) => {
          server.close(() => done());
          // The page's polls keep connections alive; nothing in flight is worth waiting for.
          server.closeIdleConnections();
          setTimeout(() => server.closeAllConnections(), 2_000).unref();
        });
        await sampling;
        await alerter?.close();
        if (!options.store) await store.close();
      })();
      return closing;
    },
  };
}
