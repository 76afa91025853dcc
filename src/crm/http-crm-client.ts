/**
 * The CRM client over undici (docs/architecture.md, "Delivery"): one keep-alive connection pool per client,
 * redirects never followed, every failure returned as a `CrmResult` rather than thrown, and a deadline
 * on every request so that a silent server can never hang the worker.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { openRecordingConfined } from '../fs/open-recording.ts';
import { redactUrl } from '../log/mask.ts';
import { multipartFileBody } from './multipart-file-body.ts';
import type { Logger } from '../log/logger.ts';
import { RequestSentTracker } from './request-sent.ts';
import type { CallPayload } from '../payload/call-payload.ts';
import type { CrmClient, CrmResult, ListCallDataQuery, RequestOptions } from './crm-client.ts';

/** Options of `createHttpCrmClient`. */
export interface HttpCrmClientOptions {
  /** Full URL of `call-data` (POST and GET). */
  apiUrl: string;
  /** Full URL of `upload`. */
  uploadUrl: string;
  /** Bearer token; sent as `Authorization`, never logged. */
  apiKey?: string | null;
  /** Deadline of one call-data or list request (headers, body and whole exchange). */
  timeoutMs: number;
  /** Most sockets open to one origin; default 32. */
  connections?: number;
  /** Debug logs of each exchange (no token, no body). */
  logger?: Logger;
  /**
   * Folders whose recordings must really be inside them when uploaded (serve's recordings and uploads
   * folders): see `src/fs/open-recording.ts`. Every recording is opened without following links anyway.
   */
  confineRecordingsTo?: readonly string[];
}

/**
 * Upload deadline growth: the base timeout plus one second per 256 KiB, i.e. a floor of 256 KiB/s on
 * the link. A 2 MB recording gets base + 8 s; a 100 MB one base + 400 s.
 */
export const UPLOAD_BYTES_PER_SECOND = 256 * 1024;

/** The deadline of uploading a file of `sizeBytes`: `timeoutMs + size / 256 KiB` seconds. */
export function uploadTimeoutMs(timeoutMs: number, sizeBytes: number): number {
  return timeoutMs + Math.ceil((sizeBytes / UPLOAD_BYTES_PER_SECOND) * 1000);
}

// JSON answers are kept whole (a list page can hold 1000 calls); beyond this they are cut like text.
const MAX_JSON_BYTES = 64 * 1024 * 1024;
const MAX_TEXT_CHARS = 2048;
const BACKSTOP_MS = 1_000;

const USER_AGENT = `crm-upload/${packageVersion()}`;

/** Create the undici-backed client. Call `close()` to release its sockets. */
export function createHttpCrmClient(options: HttpCrmClientOptions): CrmClient {
  const agent = new Agent({
    connections: options.connections ?? 32,
    // Idle sockets are kept for reuse; undici also honours the server's `Keep-Alive: timeout` hint.
    keepAliveTimeout: 4_000,
    headersTimeout: options.timeoutMs + BACKSTOP_MS,
    bodyTimeout: options.timeoutMs + BACKSTOP_MS,
  });
  const log = options.logger;

  // The API key goes to the CRM's own origin only (CRM_API_URL's): an upload URL on another origin gets no
  // Authorization header (docs/architecture.md, "Security" → "Secrets").
  const keyOrigin = new URL(options.apiUrl).origin;
  const baseHeaders = (idempotencyKey: string | null, url: string): Record<string, string> => {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: 'application/json' };
    if (idempotencyKey !== null) headers['idempotency-key'] = idempotencyKey;
    if (options.apiKey && new URL(url).origin === keyOrigin) headers.authorization = `Bearer ${options.apiKey}`;
    return headers;
  };

  async function exchange(args: {
    method: 'GET' | 'POST';
    url: string;
    headers: Record<string, string>;
    body?: string | Readable;
    timeoutMs: number;
    idempotencyKey: string | null;
    signal?: AbortSignal;
  }): Promise<CrmResult> {
    const started = performance.now();
    const elapsed = (): number => Math.round(performance.now() - started);
    // Our own timer rather than AbortSignal.timeout: it is cleared on completion, and we can tell our
    // deadline apart from the caller's abort. One controller for both, the caller's abort forwarded by a
    // listener removed at the end: AbortSignal.any would build a composite signal with weak references
    // and finalizers for every request of the worker's hot path (issue 16).
    const controller = new AbortController();
    const deadline = { aborted: false, reason: undefined as unknown };
    const timer = setTimeout(() => {
      deadline.aborted = true;
      deadline.reason = new Error(`no complete answer within ${args.timeoutMs} ms`);
      controller.abort(deadline.reason);
    }, args.timeoutMs);
    const caller = args.signal;
    const onCallerAbort = (): void => controller.abort(caller?.reason);
    if (caller?.aborted) onCallerAbort();
    else caller?.addEventListener('abort', onCallerAbort, { once: true });
    const signal = controller.signal;
    // Tells, when the request fails, whether it had been written whole (docs/architecture.md, "Delivery" →
    // "Uncertain attempts").
    const tracker = new RequestSentTracker(agent);
    try {
      const res = await request(args.url, {
        dispatcher: tracker,
        method: args.method,
        headers: args.headers,
        body: args.body,
        signal,
        // undici's own timers are coarse (they fire up to ~0.5 s early): our deadline decides, and
        // these only back it up.
        headersTimeout: args.timeoutMs + BACKSTOP_MS,
        bodyTimeout: args.timeoutMs + BACKSTOP_MS,
      });
      const headers = flattenHeaders(res.headers);
      const body = await readBody(res.body, headers['content-type'] ?? '');
      const result: CrmResult = { kind: 'response', status: res.statusCode, headers, body, durationMs: elapsed() };
      log?.debug({ method: args.method, url: redactUrl(args.url), status: res.statusCode, durationMs: result.durationMs, idempotencyKey: args.idempotencyKey }, 'crm response');
      return result;
    } catch (err) {
      const result = toErrorResult(err, deadline, caller, elapsed(), tracker.sent);
      log?.debug({ method: args.method, url: redactUrl(args.url), error: result.error, message: result.message, durationMs: result.durationMs, idempotencyKey: args.idempotencyKey }, 'crm request failed');
      return result;
    } finally {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onCallerAbort);
    }
  }

  return {
    postCallData(payload: CallPayload, opts: RequestOptions): Promise<CrmResult> {
      return exchange({
        method: 'POST',
        url: options.apiUrl,
        headers: { ...baseHeaders(opts.idempotencyKey, options.apiUrl), 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        timeoutMs: options.timeoutMs,
        idempotencyKey: opts.idempotencyKey,
        signal: opts.signal,
      });
    },

    async uploadRecording(path: string, opts: RequestOptions): Promise<CrmResult> {
      const started = performance.now();
      let opened;
      try {
        // No link followed, a regular file, inside its folder: then streamed from that handle only.
        opened = await openRecordingConfined(path, options.confineRecordingsTo ?? []);
      } catch (err) {
        return { kind: 'error', error: 'file', message: `cannot read recording: ${errorText(err)}`, durationMs: Math.round(performance.now() - started) };
      }
      try {
        // Streamed from disk, so a large recording never sits in memory.
        const form = multipartFileBody(opened.handle, opened.size, 'file', basename(path), audioType(path));
        return await exchange({
          method: 'POST',
          url: options.uploadUrl,
          headers: { ...baseHeaders(opts.idempotencyKey, options.uploadUrl), 'content-type': form.contentType, 'content-length': String(form.length) },
          body: Readable.from(form.body, { objectMode: false }),
          timeoutMs: uploadTimeoutMs(options.timeoutMs, opened.size),
          idempotencyKey: opts.idempotencyKey,
          signal: opts.signal,
        });
      } finally {
        await opened.handle.close().catch(() => undefined);
      }
    },

    listCallData(query: ListCallDataQuery): Promise<CrmResult> {
      const url = new URL(options.apiUrl);
      for (const [k, v] of Object.entries(query)) {
        if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
      }
      return exchange({
        method: 'GET',
        url: url.toString(),
        headers: baseHeaders(null, options.apiUrl),
        timeoutMs: options.timeoutMs,
        idempotencyKey: null,
      });
    },

    async close(): Promise<void> {
      await agent.close();
    },
  };
}

/** The MIME type of a recording, from its extension. */
export function audioType(path: string): string {
  const ext = extname(path).toLowerCase();
  if (ext === '.ogg' || ext === '.opus') return 'audio/ogg';
  if (ext === '.wav') return 'audio/wav';
  return 'application/octet-stream';
}

function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

// The body is always read to its end, so the socket goes back to the pool instead of being dropped.
async function readBody(body: AsyncIterable<Buffer>, contentType: string): Promise<unknown> {
  const isJson = /\bjson\b/i.test(contentType);
  const limit = isJson ? MAX_JSON_BYTES : MAX_TEXT_CHARS * 4;
  const chunks: Buffer[] = [];
  let kept = 0;
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (kept < limit) {
      const part = chunk.subarray(0, limit - kept);
      chunks.push(part);
      kept += part.length;
    }
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (isJson && total <= MAX_JSON_BYTES) {
    if (text.trim() === '') return null;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // A server that says JSON and sends something else: keep the text for the reason.
    }
  }
  return text.length > MAX_TEXT_CHARS ? `${text.slice(0, MAX_TEXT_CHARS)}…` : text;
}

type CrmErrorResult = Extract<CrmResult, { kind: 'error' }>;

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const FILE_CODES = new Set(['ENOENT', 'EACCES', 'EISDIR', 'EPERM', 'EMFILE', 'ELOOP', 'ENOTFILE', 'EOUTSIDE', 'ECHANGED']);

/** Whether our own deadline fired, and with what reason. */
interface Deadline {
  aborted: boolean;
  reason: unknown;
}

function toErrorResult(err: unknown, deadline: Deadline, callerSignal: AbortSignal | undefined, durationMs: number, requestSent: boolean): CrmErrorResult {
  const raw = (err as { code?: unknown } | null)?.code;
  const name = (err as { name?: unknown } | null)?.name;
  // The code and whether the request was written whole tell an uncertain failure from a certain one
  // (src/crm/attempt-certainty.ts); undici often wraps the system error, whose code is then the cause's.
  const code = typeof raw === 'string' ? raw : codeOfCause(err);
  const facts = { ...(code === undefined ? {} : { code }), requestSent };
  if (deadline.aborted || (code !== undefined && TIMEOUT_CODES.has(code))) {
    return { kind: 'error', error: 'timeout', message: deadline.aborted ? errorText(deadline.reason) : errorText(err), durationMs, ...facts };
  }
  if (callerSignal?.aborted) return { kind: 'error', error: 'network', message: `aborted: ${errorText(callerSignal.reason)}`, durationMs, ...facts, aborted: true };
  // Reading the recording failed mid-stream (deleted, or changed after the upload started).
  if ((code !== undefined && FILE_CODES.has(code)) || name === 'NotReadableError') {
    return { kind: 'error', error: 'file', message: `cannot read recording: ${errorText(err)}`, durationMs, ...facts };
  }
  return { kind: 'error', error: 'network', message: errorText(err), durationMs, ...facts };
}

function codeOfCause(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown } | null)?.cause;
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${typeof code === 'string' ? `${code} ` : ''}${err.message}${cause}`;
  }
  return String(err);
}

function packageVersion(): string {
  try {
    // src/crm/x.ts and dist/crm/x.js are both two levels below the package root.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}
