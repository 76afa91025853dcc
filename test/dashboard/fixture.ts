/**
 * Shared set-up of the dashboard, metrics, alerts and reconcile tests: an outbox on each backend (SQLite
 * always; BullMQ when Redis answers, or must), a CRM client to a local CRM, seeding through a real worker
 * (so items have a real history), raw HTTP requests that can set `Host`, and a webhook receiver.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CrmClient } from '../../src/crm/crm-client.ts';
import { createHttpCrmClient } from '../../src/crm/http-crm-client.ts';
import { createOutbox } from '../../src/outbox/create-outbox.ts';
import type { NewOutboxItem, OutboxStore } from '../../src/outbox/outbox-store.ts';
import type { CallPayload } from '../../src/payload/call-payload.ts';
import { startWorker, type WorkerConfig, type WorkerOptions, type WorkerSummary } from '../../src/worker/worker.ts';
import { crmAdmin, type LocalCrm } from '../helpers/local-crm.ts';
import { makePayload } from '../helpers/payloads.ts';
import { dropPrefix, redisOutboxUrl, redisSkipReason } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** An open outbox for one test. */
export interface TestOutbox {
  store: OutboxStore;
  /** Its `CRM_OUTBOX` value (for a CLI child or `loadConfig`). */
  target: string;
  cleanup(): Promise<void>;
}

/** One backend to run a test against. */
export interface Backend {
  name: 'SQLite' | 'BullMQ';
  /** Why its tests are skipped here, or undefined when they run. */
  skip: string | undefined;
  open(): Promise<TestOutbox>;
}

const redisSkip = await redisSkipReason();

/** SQLite always; BullMQ when Redis answers (and, where REDIS_URL or CI=true is set, always: a missing one fails). */
export const BACKENDS: readonly Backend[] = [
  {
    name: 'SQLite',
    skip: undefined,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'crm-dash-'));
      const target = join(dir, 'outbox.db');
      const store = await createOutbox(target);
      return {
        store,
        target,
        cleanup: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'BullMQ',
    skip: redisSkip ?? undefined,
    async open() {
      const { url, prefix } = redisOutboxUrl('dash');
      const store = await createOutbox(url, { warn: () => undefined });
      return {
        store,
        target: url,
        cleanup: async () => {
          await store.close();
          await dropPrefix(prefix);
        },
      };
    },
  },
];

/** Fast delivery settings: no pacing, a short schedule. */
export function fastConfig(over: Partial<WorkerConfig> = {}): WorkerConfig {
  return { timeoutMs: 3_000, rateLimit: 0, concurrency: 4, maxAttempts: 5, retryScheduleMs: [20, 50], recordingWaitMs: 1_000, ...over };
}

/** A client of the local CRM. */
export function crmClient(crm: LocalCrm, timeoutMs = 3_000): CrmClient {
  return createHttpCrmClient({ apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl, timeoutMs });
}

/**
 * Outbox item `i`: `makePayload(i)`, optionally started `startedAgoMs` before now (a backfill of old calls:
 * the dashboard counts them when they are delivered, not when they started).
 */
export function testItem(i: number, options: { startedAgoMs?: number; recordingPath?: string | null; phone?: string } = {}): NewOutboxItem {
  const overrides: Parameters<typeof makePayload>[1] = {};
  if (options.startedAgoMs !== undefined) {
    const start = Date.now() - options.startedAgoMs;
    overrides.callDetails = { startTime: new Date(start).toISOString(), endTime: new Date(start + 42_000).toISOString() };
  }
  const payload: CallPayload = makePayload(i, overrides);
  if (options.phone !== undefined) {
    payload.callDetails.callerNumber = options.phone;
    payload.caller = { phoneNumber: options.phone };
  }
  return { callId: payload.callDetails.callId, payload, recordingPath: options.recordingPath ?? null, sourceFile: `/data/conversations/call-${i}.json` };
}

/**
 * Deliver what is due through a real worker against the local CRM, with `dead` callIds forced to a 400
 * (`message` as the CRM's reason) for this run only.
 */
export async function deliverOnce(
  store: OutboxStore,
  crm: LocalCrm,
  options: { dead?: readonly string[]; message?: string; hooks?: Pick<WorkerOptions, 'onAttempt' | 'onSettled'>; config?: WorkerConfig } = {},
): Promise<WorkerSummary> {
  const admin = crmAdmin(crm.url);
  const dead = options.dead ?? [];
  if (dead.length > 0) await admin.faults({ forceStatus: dead.map((callId) => ({ status: 400, callId, message: options.message ?? 'callerNumber is not valid' })) });
  const client = crmClient(crm);
  try {
    return await startWorker({ store, client, config: options.config ?? fastConfig(), once: true, ...options.hooks }).done;
  } finally {
    await client.close();
    if (dead.length > 0) await admin.faults({ forceStatus: null });
  }
}

/** An answer read by `rawRequest`. */
export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP request with exactly the headers given, `Host` included (fetch would not let a test set it),
 * to 127.0.0.1:`port`.
 */
export function rawRequest(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: { host: `127.0.0.1:${port}`, ...options.headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A webhook receiver: a real HTTP server that keeps every JSON body it is sent. */
export interface Receiver {
  url: string;
  bodies: unknown[];
  /** Requests seen, with their method and content type. */
  requests: { method: string; contentType: string | undefined }[];
  /** Resolves once `count` bodies have arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<unknown[]>;
  close(): Promise<void>;
}

/** Start a receiver on a free port. */
export async function startReceiver(): Promise<Receiver> {
  const bodies: unknown[] = [];
  const requests: Receiver['requests'] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', contentType: req.headers['content-type'] });
      try {
        bodies.push(JSON.parse(text) as unknown);
      } catch {
        bodies.push(text);
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/T000/B000/secret-part`;
  return {
    url,
    bodies,
    requests,
    waitFor(count, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (bodies.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(bodies.slice());
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the receiver got ${bodies.length} bodies, not ${count}, within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/** Poll `check` until it returns something other than undefined/false, or fail after `timeoutMs`. */
export function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  return waitFor(what, check, timeoutMs, everyMs);
}
