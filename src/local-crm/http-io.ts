/**
 * Small helpers of the local CRM for reading requests and writing JSON answers with node:http.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Largest JSON body accepted (the CLI refuses larger inputs anyway). */
export const MAX_JSON_BODY = 50 * 1024 * 1024;

/** Write a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** The whole body, or `'too-large'` once over `limit` (the rest is still drained so the socket stays usable). */
export async function readBody(req: IncomingMessage, limit: number = MAX_JSON_BODY): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return size > limit ? 'too-large' : Buffer.concat(chunks);
}

/**
 * Parse a JSON body: `{ ok: true, value }`, or a message fit for a 400/413; `sha256` is the hex digest of
 * the body's bytes (null when too large), for the request log.
 */
export async function readJson(
  req: IncomingMessage,
): Promise<({ ok: true; value: unknown } | { ok: false; status: number; message: string }) & { sha256: string | null }> {
  const raw = await readBody(req);
  if (raw === 'too-large') return { ok: false, status: 413, message: `request body is larger than ${MAX_JSON_BODY} bytes`, sha256: null };
  const sha256 = createHash('sha256').update(raw).digest('hex');
  try {
    return { ok: true, value: JSON.parse(raw.toString('utf8')) as unknown, sha256 };
  } catch {
    return { ok: false, status: 400, message: 'request body is not valid JSON', sha256 };
  }
}

/**
 * Read and discard the rest of a request. Answering before the client has sent its body (a 429 on a
 * large upload) would make Node close the connection, and the client would see a reset, not the 429.
 */
export async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded) return;
  for await (const _ of req) {
    // discard
  }
}

/** The headers of a request as a Fetch `Headers` object. */
export function toHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
  }
  return headers;
}

/** Sleep `ms`; the timer does not keep a closed server's process alive. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
