/**
 * The local CRM: a real HTTP server implementing the CRM's three endpoints (docs/architecture.md, top) with fault
 * injection, for demos, tests and benchmarks. Every non-admin request goes through the same pipeline:
 * log → storm / rate limit → random fault → handler, answering `latencyMs` after the request arrived.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_PREFIX, handleAdmin } from './admin-routes.ts';
import { FaultInjector } from './faults.ts';
import { delay, drain, sendJson } from './http-io.ts';
import { FaultSettingError, type LocalCrmOptions } from './options.ts';
import {
  CALL_DATA_PATH,
  getRecording,
  listCallData,
  postCallData,
  postUpload,
  RECORDINGS_PATH,
  UPLOAD_PATH,
  type CrmContext,
} from './public-routes.ts';
import { RequestLog } from './request-log.ts';
import { CrmStore } from './store.ts';

export type { LocalCrmOptions } from './options.ts';

/** In-process access to a running server's data, log and faults (the admin routes use the same). */
export interface LocalCrmState {
  store: CrmStore;
  faults: FaultInjector;
  log: RequestLog;
}

/** A running local CRM. */
export interface LocalCrm {
  /** Origin, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** Full URL of call-data (POST and GET). */
  callDataUrl: string;
  /** Full URL of the recording upload. */
  uploadUrl: string;
  port: number;
  state: LocalCrmState;
  /** Stop listening and drop every connection, hung ones included. Safe to call twice. */
  close(): Promise<void>;
}

/** Start a local CRM; resolves once it listens. Bad options reject with a FaultSettingError naming the option. */
export async function startLocalCrm(options: LocalCrmOptions = {}): Promise<LocalCrm> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new FaultSettingError('port', `must be a whole number 0–65535, got ${port}`);
  const host = options.host ?? '127.0.0.1';
  const faults = new FaultInjector(options, options.seed, options.strangeAnswer);
  const ctx: CrmContext = { store: new CrmStore(options.dataDir), faults, log: new RequestLog(), origin: '' };

  const server = createServer((req, res) => {
    handle(ctx, req, res).catch((err: unknown) => {
      // The client may be gone (timeout, reset): then there is nobody to tell.
      if (res.headersSent || res.destroyed) res.destroy();
      else sendJson(res, 500, { success: false, message: `local CRM error: ${err instanceof Error ? err.message : String(err)}` });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  // A wildcard address is not one a client can use; loopback reaches it.
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  ctx.origin = `http://${shown}:${actual}`;

  let closing: Promise<void> | null = null;
  return {
    url: ctx.origin,
    callDataUrl: `${ctx.origin}${CALL_DATA_PATH}`,
    uploadUrl: `${ctx.origin}${UPLOAD_PATH}`,
    port: actual,
    state: { store: ctx.store, faults: ctx.faults, log: ctx.log },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Idle keep-alive sockets and hung requests would otherwise hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function handle(ctx: CrmContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', ctx.origin);
  if (url.pathname === ADMIN_PREFIX || url.pathname.startsWith(`${ADMIN_PREFIX}/`)) return handleAdmin(ctx, req, res, url);

  const record = ctx.log.start(req.method ?? 'GET', url.pathname, url.search.slice(1), req.headers);
  res.on('finish', () => {
    record.status = res.statusCode;
  });

  const gate = ctx.faults.gate();
  if (gate.kind === 'storm429' || gate.kind === 'rateLimit') {
    ctx.log.fault(record, gate.kind);
    await drain(req);
    return sendJson(res, 429, { success: false, message: 'Too many requests, please try again later.' }, { 'retry-after': String(gate.retryAfterS) });
  }
  // The answer comes `latencyMs` after the request arrived, as from a remote server: its own work
  // (reading and validating the body) happens within that time, not after it.
  const { latencyMs } = ctx.faults.settings;
  const answerAt = latencyMs > 0 ? delay(latencyMs) : null;
  if (answerAt !== null) ctx.log.fault(record, 'latency');
  /** Wait for the answer time; false when the client gave up meanwhile (then nothing is processed). */
  const waitToAnswer = async (): Promise<boolean> => {
    if (answerAt === null) return true;
    await answerAt;
    // A call that timed out on the client's side is not stored behind a later test's back.
    return !req.socket.destroyed;
  };
  if (gate.kind !== 'pass' && !(await waitToAnswer())) return;
  switch (gate.kind) {
    case 'hang':
      // Never answered: the client's deadline ends it, or close() does.
      ctx.log.fault(record, 'hang');
      return;
    case 'reset':
      ctx.log.fault(record, 'reset');
      req.socket.destroy();
      return;
    case 'fail':
      ctx.log.fault(record, 'fail');
      await drain(req);
      return sendJson(res, gate.status, { success: false, message: `injected fault: HTTP ${gate.status}` });
    case 'pass':
      break;
  }

  const method = req.method ?? 'GET';
  if (url.pathname === CALL_DATA_PATH && method === 'POST') return postCallData(ctx, req, res, record, waitToAnswer);
  if (!(await waitToAnswer())) return;
  if (url.pathname === CALL_DATA_PATH && method === 'GET') return listCallData(ctx, url, res);
  if (url.pathname === UPLOAD_PATH && method === 'POST') return postUpload(ctx, req, res, record);
  if (url.pathname.startsWith(RECORDINGS_PATH) && method === 'GET') {
    return getRecording(ctx, decodeURIComponent(url.pathname.slice(RECORDINGS_PATH.length)), res);
  }
  await drain(req);
  const known = url.pathname === CALL_DATA_PATH || url.pathname === UPLOAD_PATH;
  sendJson(res, known ? 405 : 404, { success: false, message: `${known ? 'method not allowed' : 'not found'}: ${method} ${url.pathname}` });
}
