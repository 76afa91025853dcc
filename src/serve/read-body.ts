/**
 * Reading a request body within a byte limit. A body is read from the Node request itself (the
 * `incoming` binding of @hono/node-server) when there is one, so that nothing is copied into a web
 * stream first; a body over the limit is refused as soon as the limit is crossed (or at once, when
 * `Content-Length` already says so), without reading the rest.
 */
import type { IncomingMessage } from 'node:http';
import { tooLarge } from './errors.ts';

/** Chunks of a request body, pulled one at a time (a slow consumer pauses the client). */
export type BodyChunks = AsyncIterable<Uint8Array>;

// Chunks held before the socket is paused: enough to keep a fast disk busy, little memory.
const HIGH_WATER_CHUNKS = 8;

/**
 * The chunks of a Node request. Unlike the stream's own async iterator, stopping early (a `break`,
 * an error) only stops listening: the request is not destroyed, so the server can still answer (a
 * 413, a 400) and the HTTP layer drains or closes the connection afterwards.
 */
export function nodeBodyChunks(incoming: IncomingMessage): BodyChunks {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      const queue: Buffer[] = [];
      let ended = incoming.readableEnded;
      let failure: Error | null = null;
      let wake: (() => void) | null = null;
      const notify = (): void => {
        const w = wake;
        wake = null;
        w?.();
      };
      const onData = (chunk: Buffer): void => {
        queue.push(chunk);
        if (queue.length >= HIGH_WATER_CHUNKS) incoming.pause();
        notify();
      };
      const onEnd = (): void => {
        ended = true;
        notify();
      };
      const onError = (err: Error): void => {
        failure ??= err;
        notify();
      };
      const onClose = (): void => {
        if (!ended) failure ??= new Error('the client closed the connection before the body ended');
        notify();
      };
      const detach = (): void => {
        incoming.off('data', onData);
        incoming.off('end', onEnd);
        incoming.off('error', onError);
        incoming.off('close', onClose);
      };
      if (!ended) {
        incoming.on('data', onData);
        incoming.on('end', onEnd);
        incoming.on('error', onError);
        incoming.on('close', onClose);
      }
      return {
        async next(): Promise<IteratorResult<Uint8Array>> {
          for (;;) {
            const chunk = queue.shift();
            if (chunk !== undefined) {
              if (queue.length < HIGH_WATER_CHUNKS / 2 && incoming.isPaused() && !ended) incoming.resume();
              return { value: chunk, done: false };
            }
            if (failure !== null) {
              detach();
              throw failure;
            }
            if (ended) {
              detach();
              return { value: undefined, done: true };
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
        },
        async return(): Promise<IteratorResult<Uint8Array>> {
          detach();
          if (!ended) incoming.pause();
          return { value: undefined, done: true };
        },
      };
    },
  };
}

/** The body of a request: from the Node request when there is one, else from the web request. */
export function bodyChunks(request: Request, incoming: IncomingMessage | undefined): BodyChunks {
  if (incoming !== undefined) return nodeBodyChunks(incoming);
  const body = request.body;
  if (body === null) return { [Symbol.asyncIterator]: async function* () {} };
  return body as unknown as BodyChunks;
}

/**
 * The declared `Content-Length`, or null when absent (a chunked body) or malformed. A malformed value
 * is left to the HTTP parser, which refuses it before any handler runs.
 */
export function declaredLength(header: string | undefined | null): number | null {
  if (header === undefined || header === null || !/^\s*\d+\s*$/.test(header)) return null;
  return Number(header);
}

/** Refuse at once a body whose declared length is over `limit`. */
export function checkDeclaredLength(header: string | undefined | null, limit: number, what: string): void {
  const length = declaredLength(header);
  if (length !== null && length > limit) throw tooLarge(limit, what);
}

/** Read a whole body of at most `limit` bytes; a 413 ServeRequestError as soon as it is over. */
export async function readLimited(chunks: BodyChunks, limit: number, what: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.byteLength;
    if (total > limit) throw tooLarge(limit, what);
    parts.push(chunk);
  }
  return Buffer.concat(parts, total);
}
