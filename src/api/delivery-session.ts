/**
 * The outbox and CRM client of one command or library call, opened together and closed together.
 * `send`, `bulk` and the library functions all deliver through `deliverCalls` of the worker: there is
 * no second delivery path.
 */
import type { Config } from '../config/config.ts';
import type { CrmClient } from '../crm/crm-client.ts';
import { createHttpCrmClient } from '../crm/http-crm-client.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { createOutbox } from '../outbox/create-outbox.ts';
import type { OutboxStore } from '../outbox/outbox-store.ts';

/** An open outbox and client. */
export interface DeliverySession {
  store: OutboxStore;
  client: CrmClient;
  logger: Logger;
  /** Close what this session opened (a store passed in by the caller stays open). */
  close(): Promise<void>;
}

/** The CRM client for a config: one keep-alive pool with a socket per concurrent delivery. */
export function crmClientFor(config: Config, logger?: Logger): CrmClient {
  return createHttpCrmClient({
    apiUrl: config.apiUrl,
    uploadUrl: config.uploadUrl,
    apiKey: config.apiKey,
    timeoutMs: config.timeoutMs,
    connections: Math.max(32, config.concurrency),
    logger,
  });
}

/** Open the configured outbox (or use `store`) and a CRM client. */
export async function openDelivery(config: Config, options: { store?: OutboxStore; logger?: Logger } = {}): Promise<DeliverySession> {
  const store = options.store ?? (await createOutbox(config.outbox, { retryScheduleMs: config.retryScheduleMs }));
  const logger = options.logger ?? silentLogger();
  const client = crmClientFor(config, logger);
  let closing: Promise<void> | null = null;
  return {
    store,
    client,
    logger,
    close() {
      closing ??= (async () => {
        await client.close();
        if (!options.store) await store.close();
      })();
      return closing;
    },
  };
}
