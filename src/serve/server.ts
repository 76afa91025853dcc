/**
 * Start and stop the ingest API (`crm-upload serve`): the hono app on a Node HTTP server, over the
 * configured outbox, with the delivery worker running in the same process unless told otherwise.
 * Stopping is graceful: no new connections, requests in flight finish (their enqueues commit), the
 * worker lets its deliveries finish and releases the rest, then the outbox closes.
 */
import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import type { Hono } from 'hono';
import { loadConfig, type Config } from '../config/config.ts';
import type { CrmClient } from '../crm/crm-client.ts';
import { ConfigError } from '../errors.ts';
import { listen } from '../http/listen.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { openDelivery, openOutbox } from '../delivery/open-delivery.ts';
import { isRedisTarget } from '../outbox/create-outbox.ts';
import type { OutboxStore } from '../outbox/outbox-store.ts';
import type { WorkerHandle, WorkerSummary } from '../worker/worker.ts';
import { createIngestApp, type IngestEnv } from './app.ts';
import { isLoopbackHost } from './auth.ts';
import { createEnqueueBatcher } from './enqueue-batcher.ts';
import { removeStaleTemps } from './uploaded-recording.ts';

/** Default address: this machine only. */
export const DEFAULT_HOST = '127.0.0.1';
/** Default port of `crm-upload serve`. */
export const DEFAULT_PORT = 8787;
/** Default limit of a JSON body (and of the `call` field of a multipart body). */
export const DEFAULT_MAX_JSON_BYTES = 10 * 1024 * 1024;
/** Default limit of a multipart body (the recording is streamed to disk, never held in memory). */
export const DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024;
// How long close() lets requests in flight finish before dropping their connections.
const CLOSE_GRACE_MS = 10_000;

/** Options of `startIngestServer`. */
export interface IngestServerOptions {
  /** Default: `loadConfig()` (environment and `.env`). */
  config?: Config;
  /** Default 127.0.0.1. Anything but loopback needs `CRM_INGEST_TOKEN`. */
  host?: string;
  /** Default 8787; 0 picks a free port (see `IngestServer.port`). */
  port?: number;
  /** Run the delivery worker in this process, over the same outbox (default true); false only enqueues. */
  worker?: boolean;
  /** Use this outbox instead of opening `config.outbox` (it is then left open by `close()`). */
  store?: OutboxStore;
  /** The worker's CRM client; default one for `config` (closed by `close()`). */
  client?: CrmClient;
  /** Logs of the API and the worker; default silent. */
  logger?: Logger;
  /** Where uploaded recordings are kept; default `ingest-recordings/` beside a SQLite outbox, else `.crm-upload/ingest-recordings/`. */
  uploadsDir?: string;
  /** Limit of a JSON body (and of a multipart body's `call` field), bytes; default 10 MiB. Beyond it: 413. */
  maxJsonBytes?: number;
  /** Limit of a whole multipart body, recording included, bytes; default 512 MiB. Beyond it: 413. */
  maxUploadBytes?: number;
  /**
   * Let @hono/node-server replace the process's global `Request` and `Response` with its lighter ones
   * (about a quarter less CPU per request in the HTTP layer). Off by default: a library must not change
   * globals under its host; `crm-upload serve`, which owns its process, turns it on.
   */
  overrideGlobalObjects?: boolean;
}

/** A running ingest API. */
export interface IngestServer {
  /** `http://HOST:PORT` as bound. */
  url: string;
  host: string;
  port: number;
  store: OutboxStore;
  /** The in-process worker, or null with `worker: false`. */
  worker: WorkerHandle | null;
  /** Where uploaded recordings are kept. */
  uploadsDir: string;
  app: Hono<IngestEnv>;
  /** Stop gracefully (see the module comment); safe to call twice. Resolves to the worker's summary. */
  close(): Promise<WorkerSummary | null>;
}

/** The default folder of uploaded recordings for a config. */
export function defaultUploadsDir(config: Pick<Config, 'outbox' | 'cwd'>): string {
  return isRedisTarget(config.outbox) ? resolve(config.cwd, '.crm-upload', 'ingest-recordings') : join(dirname(config.outbox), 'ingest-recordings');
}

/** `http://host:port`, with an IPv6 address in brackets. */
function originOf(host: string, port: number): string {
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

function checkLimit(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(`${name} must be a whole number of bytes ≥ 1, got ${String(value)}`);
  return v;
}

/**
 * Start the ingest API; resolves once it listens. Throws a ConfigError for a bind to anything but
 * loopback without `CRM_INGEST_TOKEN`, a bad port, or an address already in use.
 */
export async function startIngestServer(options: IngestServerOptions = {}): Promise<IngestServer> {
  const config = options.config ?? loadConfig();
  // `[::1]` as written in URLs is `::1` to listen().
  const host = (options.host ?? DEFAULT_HOST).trim().replace(/^\[(.*)\]$/, '$1');
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`the port must be a whole number from 0 to 65535, got ${port}`);
  if (host === '') throw new ConfigError('the host is empty');
  if (!isLoopbackHost(host) && config.ingestToken === null) {
    throw new ConfigError(`CRM_INGEST_TOKEN is required to listen on ${host}, which is not loopback: set it, or bind 127.0.0.1`, {
      variable: 'CRM_INGEST_TOKEN',
    });
  }
  const maxJsonBytes = checkLimit('maxJsonBytes', options.maxJsonBytes, DEFAULT_MAX_JSON_BYTES);
  const maxUploadBytes = checkLimit('maxUploadBytes', options.maxUploadBytes, DEFAULT_MAX_UPLOAD_BYTES);
  const logger = options.logger ?? silentLogger();
  const uploadsDir = resolve(options.uploadsDir ?? defaultUploadsDir(config));
  await removeStaleTemps(uploadsDir);

  const { store } = await openOutbox(config, options.store);
  const batcher = createEnqueueBatcher(store);
  const runWorker = options.worker ?? true;
  const app = createIngestApp({ config, store, batcher, uploadsDir, maxJsonBytes, maxUploadBytes, logger, token: config.ingestToken, worker: runWorker });
  const server = createAdaptorServer({ fetch: app.fetch, hostname: host, overrideGlobalObjects: options.overrideGlobalObjects === true }) as Server;
  let actual: number;
  try {
    actual = await listen(server, port, host);
  } catch (err) {
    if (!options.store) await store.close();
    throw err;
  }

  // Delivery on the same store (left open by the delivery: this server closes it below).
  const delivery = runWorker ? await openDelivery(config, { store, logger, ...(options.client ? { client: options.client } : {}) }) : null;
  const worker = delivery === null ? null : delivery.startWorker();

  let closing: Promise<WorkerSummary | null> | null = null;
  const close = (): Promise<WorkerSummary | null> => {
    closing ??= (async () => {
      await new Promise<void>((done) => {
        const timer = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          done();
        });
        server.closeIdleConnections();
      });
      await batcher.idle();
      let summary: WorkerSummary | null = null;
      try {
        if (worker !== null) {
          await worker.stop();
          summary = await worker.done;
        }
      } finally {
        await delivery?.close();
        if (!options.store) await store.close();
      }
      return summary;
    })();
    return closing;
  };

  return { url: originOf(host, actual), host, port: actual, store, worker, uploadsDir, app, close };
}
