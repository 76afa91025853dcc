/**
 * Start and stop the ingest API (`crm-upload serve`): the hono app on a Node HTTP server, over the
 * configured outbox, with the delivery worker running in the same process unless told otherwise.
 * Stopping is graceful: no new connections, requests in flight finish (their enqueues commit), the
 * worker lets its deliveries finish and releases the rest, then the outbox closes.
 */
import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import type { Hono } from 'hono';
import { loadConfig, type Config } from '../config/config.ts';
import type { CrmClient } from '../crm/crm-client.ts';
import { ConfigError } from '../errors.ts';
import { listen } from '../http/listen.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { openDelivery, openOutbox } from '../delivery/open-delivery.ts';
import type { OutboxStore } from '../outbox/outbox-store.ts';
import type { WorkerHandle, WorkerSummary } from '../worker/worker.ts';
import { createHttpCrmClient } from '../crm/http-crm-client.ts';
import { defaultUploadsDir } from '../config/recording-folders.ts';
import { ensurePrivateDir } from '../fs/private-files.ts';
import { allowedHosts } from '../http/host-allowlist.ts';
import { checkTokenStrength, newToken } from '../http/token.ts';
import { createIngestApp, type IngestEnv } from './app.ts';
import { isLoopbackHost } from './auth.ts';
import { createEnqueueBatcher } from './enqueue-batcher.ts';
import { removeStaleTemps } from './uploaded-recording.ts';
import { createUploadGate, DEFAULT_MAX_CONCURRENT_UPLOADS, DEFAULT_MIN_FREE_BYTES } from './upload-gate.ts';
import { DEFAULT_HOST, DEFAULT_MAX_JSON_BYTES, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_PORT } from './defaults.ts';

export { DEFAULT_HOST, DEFAULT_MAX_JSON_BYTES, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_PORT };
// How long close() lets requests in flight finish before dropping their connections.
const CLOSE_GRACE_MS = 10_000;
/**
 * The slowest uplink an agent's upload is sized for: 1 Mbit/s (125 000 bytes/s). The request timeout lets
 * the largest allowed body arrive at that rate: 512 MiB → 4295 s (about 72 minutes) plus a minute.
 */
export const SLOW_UPLINK_BYTES_PER_S = 125_000;
/** Default time a client has to send its request headers (slowloris): 30 s. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 30_000;
/** Largest request header block, bytes (beyond it Node answers 431). */
export const MAX_HEADER_BYTES = 16 * 1024;

/** The request timeout that lets `maxUploadBytes` arrive over the slow uplink: size ÷ rate, plus a minute. */
export function requestTimeoutFor(maxUploadBytes: number): number {
  return Math.ceil(maxUploadBytes / SLOW_UPLINK_BYTES_PER_S) * 1000 + 60_000;
}

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
  /** More `Host` values to answer (`name` or `name:port`), e.g. a reverse proxy's name; the rest get 421. */
  allowHosts?: readonly string[];
  /** Most multipart uploads at once (default 16); the next gets a 503 with Retry-After. */
  maxConcurrentUploads?: number;
  /** Free space the uploads folder keeps, bytes (default 512 MiB); a recording eating into it gets a 503. */
  minFreeBytes?: number;
  /** Time to send the request headers (default 30 s). */
  headersTimeoutMs?: number;
  /** Time to send a whole request (default `requestTimeoutFor(maxUploadBytes)`, about 72 min for 512 MiB). */
  requestTimeoutMs?: number;
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
  /** What every `/v1` request needs as `Authorization: Bearer …`: `CRM_INGEST_TOKEN`, or one made up at start. */
  token: string;
  /** Whether the token came from `CRM_INGEST_TOKEN` (never printed) rather than being generated now (printed once). */
  tokenFromConfig: boolean;
  app: Hono<IngestEnv>;
  /** Stop gracefully (see the module comment); safe to call twice. Resolves to the worker's summary. */
  close(): Promise<WorkerSummary | null>;
}

/** The default folder of uploaded recordings for a config (shared with every worker's upload confinement). */
export { defaultUploadsDir };

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
  // A token always: a page in a browser on this machine must not reach /v1 (docs/architecture.md, "Security").
  checkTokenStrength('CRM_INGEST_TOKEN', config.ingestToken, isLoopbackHost(host));
  const token = config.ingestToken ?? newToken();
  const maxConcurrentUploads = checkLimit('maxConcurrentUploads', options.maxConcurrentUploads, DEFAULT_MAX_CONCURRENT_UPLOADS);
  const minFreeBytes = Math.max(0, options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES);
  const requestTimeout = checkLimit('requestTimeoutMs', options.requestTimeoutMs, requestTimeoutFor(maxUploadBytes));
  const headersTimeout = Math.min(requestTimeout, checkLimit('headersTimeoutMs', options.headersTimeoutMs, DEFAULT_HEADERS_TIMEOUT_MS));
  const logger = options.logger ?? silentLogger();
  const uploadsDir = resolve(options.uploadsDir ?? defaultUploadsDir(config));
  await ensurePrivateDir(uploadsDir);
  await removeStaleTemps(uploadsDir);

  // Commits on the SQLite writer thread from the first request, not only once the worker delivers at
  // full speed: a commit on this thread would hold every request in flight while the disk syncs
  // (docs/architecture.md, "Throughput"). Each request still answers once its item is committed.
  const { store } = await openOutbox(config, options.store, { writer: 'thread' });
  const batcher = createEnqueueBatcher(store);
  const runWorker = options.worker ?? true;
  let allowed: ReadonlySet<string> = new Set();
  const uploads = createUploadGate(maxConcurrentUploads);
  const app = createIngestApp({
    config,
    store,
    batcher,
    uploadsDir,
    maxJsonBytes,
    maxUploadBytes,
    uploads,
    minFreeBytes,
    logger,
    token,
    allowedHosts: () => allowed,
    worker: runWorker,
  });
  const server = createAdaptorServer({
    fetch: app.fetch,
    hostname: host,
    overrideGlobalObjects: options.overrideGlobalObjects === true,
    // Explicit, not Node's defaults (docs/architecture.md, "Security" → "The ingest door"): see SLOW_UPLINK_BYTES_PER_S.
    // Node checks both timeouts every connectionsCheckingInterval (30 s by default): a quarter of the header one.
    serverOptions: { headersTimeout, requestTimeout, maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(headersTimeout / 4))) },
  }) as Server;
  let actual: number;
  try {
    actual = await listen(server, port, host);
    allowed = allowedHosts(host, actual, options.allowHosts ?? []);
  } catch (err) {
    server.close();
    if (!options.store) await store.close();
    throw err;
  }
  // Uploads from serve's own folders must really be there when the worker reads them (a link planted later).
  const confinedClient =
    runWorker && !options.client
      ? createHttpCrmClient({
          apiUrl: config.apiUrl,
          uploadUrl: config.uploadUrl,
          apiKey: config.apiKey,
          timeoutMs: config.timeoutMs,
          connections: Math.max(32, config.concurrency),
          logger,
          confineRecordingsTo: [uploadsDir, ...(config.recordingsDir === null ? [] : [config.recordingsDir])],
        })
      : null;

  // Delivery on the same store (left open by the delivery: this server closes it below).
  const client = options.client ?? confinedClient;
  const delivery = runWorker ? await openDelivery(config, { store, logger, ...(client ? { client } : {}) }) : null;
  // CRM_RETENTION: the recordings kept here go with their calls once these are past it (docs/architecture.md, "Stores" → "Retention").
  const retention = typeof config.retentionMs === 'number' ? { retention: { olderThanMs: config.retentionMs, uploadsDir } } : {};
  const worker = delivery === null ? null : delivery.startWorker(retention);

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
        await confinedClient?.close();
        if (!options.store) await store.close();
      }
      return summary;
    })();
    return closing;
  };

  return { url: originOf(host, actual), host, port: actual, store, worker, uploadsDir, token, tokenFromConfig: config.ingestToken !== null, app, close };
}
