/**
 * The composition root (docs/architecture.md, "Composition root"): the one place that builds delivery
 * from a `Config` — the outbox store, the pacer, the CRM client and the retry policy. Every command, the
 * library API, the LiveKit integration, `serve`, the dashboard and the TranscriptLogger open their
 * outbox and their workers through here, so each piece is chosen once, the same way everywhere.
 */
import { isAbsolute, resolve } from 'node:path';
import { retryPolicyOf, type Config } from '../config/config.ts';
import { confinedRecordingFolders } from '../config/recording-folders.ts';
import type { CrmClient } from '../crm/crm-client.ts';
import { createHttpCrmClient } from '../crm/http-crm-client.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { createOutbox, isRedisTarget, type CreateOutboxOptions } from '../outbox/create-outbox.ts';
import type { OutboxStore } from '../outbox/outbox-store.ts';
import { payloadCipherOf } from '../outbox/payload-cipher.ts';
import type { Pacer } from '../pacing/pacer.ts';
import type { RetryPolicy } from '../policy/retry-policy.ts';
import { pacerFor } from '../worker/pacer-for.ts';
import { deliverCalls, type DeliverCallsOptions, type DeliverySummary } from '../worker/deliver-calls.ts';
import { startWorker, type WorkerHandle, type WorkerOptions } from '../worker/worker.ts';

/**
 * Where an outbox comes from, as the library options take it: an open store (used as it is and left
 * open), a target (a SQLite path, relative to `config.cwd`, or a Redis URL), or nothing (`config.outbox`).
 */
export type OutboxOption = OutboxStore | string | undefined;

/** The outbox target `option` names: `config.outbox` unless a path or URL is given. */
export function outboxTargetOf(config: Pick<Config, 'outbox' | 'cwd'>, option?: string): string {
  if (option === undefined || option.trim() === '') return config.outbox;
  return isRedisTarget(option) || isAbsolute(option) ? option.trim() : resolve(config.cwd, option);
}

/** An outbox and whether the caller opened it here (and must close it). */
export interface OpenedOutbox {
  store: OutboxStore;
  /** True when opened here: close it when done; false for a store the caller passed in. */
  owned: boolean;
}

/**
 * Open the outbox `option` names (see `OutboxOption`) with the configured retry policy. `options.writer`
 * chooses where a SQLite store opened here writes (see `CreateOutboxOptions.writer`); a store passed in
 * is used as it is.
 */
export async function openOutbox(config: Config, option?: OutboxOption, options: Pick<CreateOutboxOptions, 'writer'> = {}): Promise<OpenedOutbox> {
  if (typeof option === 'object') return { store: option, owned: false };
  // Payloads sealed at rest under CRM_OUTBOX_KEY when set (docs/architecture.md, "Stores" → "Payload encryption").
  const store = await createOutbox(outboxTargetOf(config, option), { retryPolicy: retryPolicyOf(config), cipher: payloadCipherOf(config), writer: options.writer });
  return { store, owned: true };
}

/** The CRM client for a config: one keep-alive pool with a socket per concurrent delivery. */
export function crmClientFor(config: Config, logger?: Logger): CrmClient {
  return createHttpCrmClient({
    apiUrl: config.apiUrl,
    uploadUrl: config.uploadUrl,
    apiKey: config.apiKey,
    timeoutMs: config.timeoutMs,
    // Enough sockets for every delivery the worker may run, above CRM_CONCURRENCY too when the user
    // allows it (CRM_MAX_CONCURRENCY): a request queued for a socket would hold a paced slot unused.
    connections: Math.max(32, config.concurrency, config.maxConcurrency ?? 0),
    logger,
    // A recording in serve's folders must really be there when uploaded (a link planted after ingest).
    confineRecordingsTo: confinedRecordingFolders(config),
  });
}

/** What `openDelivery` takes besides the config. */
export interface OpenDeliveryOptions {
  /** The outbox: an open store (left open by `close`), a target, or `config.outbox` when absent. */
  store?: OutboxOption;
  /** A CRM client to use instead of one built from the config (left open by `close`). */
  client?: CrmClient;
  logger?: Logger;
  /** Where a SQLite outbox opened here writes (see `CreateOutboxOptions.writer`); ignored for a store passed in and for Redis. */
  writer?: CreateOutboxOptions['writer'];
}

/**
 * What a caller adds to a worker of a `Delivery`: the store, client, pacer and retry policy are the
 * delivery's; `config` defaults to the delivery's (a command may change its concurrency).
 */
export type WorkerExtras = Partial<Omit<WorkerOptions, 'store' | 'client' | 'pacer' | 'retryPolicy'>>;

/** Everything delivery needs, built once from a config. */
export interface Delivery {
  readonly config: Config;
  readonly store: OutboxStore;
  readonly client: CrmClient;
  /** One pacer for every worker of this delivery: the store's shared one when it declares one. */
  readonly pacer: Pacer;
  readonly retryPolicy: RetryPolicy;
  readonly logger: Logger;
  /** Start a worker on these pieces; `options` add to them (callIds, hooks, once, …). */
  startWorker(options?: WorkerExtras): WorkerHandle;
  /** Deliver the listed calls now on a worker of these pieces (`send`, `bulk`, the library's uploads). */
  deliverCalls(options: Omit<WorkerExtras, 'callIds'> & Omit<DeliverCallsOptions, Exclude<keyof WorkerOptions, 'callIds'>>): Promise<DeliverySummary>;
  /** Close what this delivery opened (a store or client passed in stays open). Idempotent. */
  close(): Promise<void>;
}

/** The former name of `Delivery`. */
export type DeliverySession = Delivery;

/** Build delivery from `config`: open the outbox, choose its pacer, make the CRM client and the retry policy. */
export async function openDelivery(config: Config, options: OpenDeliveryOptions = {}): Promise<Delivery> {
  const opened = await openOutbox(config, options.store, { writer: options.writer });
  return deliveryOn(config, opened, options);
}

/**
 * Build delivery on an outbox already open (`openDelivery` without the open): for a caller that keeps
 * its own store, such as the TranscriptLogger. `close` closes the store only when `owned`.
 */
export function deliveryOn(config: Config, outbox: OpenedOutbox, options: Omit<OpenDeliveryOptions, 'store'> = {}): Delivery {
  const { store, owned } = outbox;
  const logger = options.logger ?? silentLogger();
  const client = options.client ?? crmClientFor(config, logger);
  const pacer = pacerFor(store, config.rateLimit);
  const retryPolicy = retryPolicyOf(config);
  let closing: Promise<void> | null = null;
  return {
    config,
    store,
    client,
    pacer,
    retryPolicy,
    logger,
    startWorker(extra = {}) {
      return startWorker({ logger, config, ...extra, store, client, pacer, retryPolicy });
    },
    deliverCalls(extra) {
      return deliverCalls({ logger, config, ...extra, store, client, pacer, retryPolicy });
    },
    close() {
      closing ??= (async () => {
        if (options.client === undefined) await client.close();
        if (owned) await store.close();
      })();
      return closing;
    },
  };
}
