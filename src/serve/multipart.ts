/**
 * A streaming multipart/form-data reader (RFC 7578). Node's own `Request.formData()` holds every file in
 * memory; a call recording can be hundreds of megabytes, so parts are handed to a sink chunk by chunk as
 * they arrive, and the sink (a file on disk) sets the pace.
 */
import { tooLarge } from './errors.ts';
import type { BodyChunks } from './read-body.ts';

/** What a part's headers say. */
export interface PartInfo {
  /** The form field name (`name` of Content-Disposition). */
  name: string;
  /** The file name, when the part is a file (`filename` or `filename*`); null for a plain field. */
  filename: string | null;
  contentType: string | null;
}

/** Where a part's content goes; `write` is awaited before more of the body is read. */
export interface PartSink {
  write(chunk: Uint8Array): Promise<void> | void;
  /** The part is complete. */
  end(): Promise<void> | void;
}

/** Options of `readMultipart`. */
export interface MultipartOptions {
  boundary: string;
  /** Limit of the whole body, in bytes (413 beyond it). */
  maxBytes: number;
  /** Called when a part starts; returns where its content goes. May throw to refuse the part. */
  onPart(info: PartInfo): Promise<PartSink> | PartSink;
}

/** A multipart body that cannot be parsed. */
export class MultipartError extends Error {}

// Longest header block a part may have; real clients send two or three short lines.
const MAX_HEADER_BYTES = 16 * 1024;
// Bytes before the first boundary that are skipped (RFC 2046 preamble) before giving up.
const MAX_PREAMBLE_BYTES = 64 * 1024;
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** The boundary of a `multipart/form-data` content type, or null when it has none. */
export function multipartBoundary(contentType: string | undefined | null): string | null {
  if (!contentType || !/^\s*multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2] ?? null;
  return boundary !== null && boundary.length >= 1 && boundary.length <= 200 ? boundary : null;
}

/** A parameter of a header value (`name="call"`, `filename*=UTF-8''x.ogg`), unquoted. */
function headerParam(value: string, key: string): string | null {
  const re = new RegExp(`;\\s*${key}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;]*))`, 'i');
  const m = re.exec(value);
  if (!m) return null;
  if (m[1] !== undefined) return m[1].replace(/\\(.)/g, '$1');
  return (m[2] ?? '').trim();
}

/** Parse a part's header block into what it says. */
function parsePartHeaders(block: string): PartInfo {
  const headers = new Map<string, string>();
  for (const line of block.split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartError(`malformed part header line "${line.slice(0, 80)}"`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const disposition = headers.get('content-disposition');
  if (disposition === undefined || !/^form-data\b/i.test(disposition)) throw new MultipartError('a part has no Content-Disposition: form-data header');
  const name = headerParam(disposition, 'name');
  if (name === null || name === '') throw new MultipartError('a part has no field name');
  let filename = headerParam(disposition, 'filename');
  const extended = headerParam(disposition, 'filename\\*');
  if (extended !== null) {
    // RFC 5987: charset'language'percent-encoded; only UTF-8 (and its ASCII subset) is seen in practice.
    const m = /^([\w-]*)'[^']*'(.*)$/.exec(extended);
    try {
      filename = decodeURIComponent(m?.[2] ?? extended);
    } catch {
      throw new MultipartError('a part has a malformed filename*');
    }
  }
  return { name, filename, contentType: headers.get('content-type') ?? null };
}

/**
 * Read a multipart body, handing each part to the sink `onPart` gives for it. Throws a MultipartError
 * for a malformed body, a 413 ServeRequestError beyond `maxBytes`, and whatever `onPart` or a sink throws.
 */
export async function readMultipart(chunks: BodyChunks, options: MultipartOptions): Promise<void> {
  // The leading CRLF makes the first boundary look like every other one.
  const delimiter = Buffer.from(`\r\n--${options.boundary}`);
  let buf: Buffer = Buffer.from(CRLF);
  // Widened: `step` changes it, which flow analysis of the loop below cannot see.
  let state = 'preamble' as 'preamble' | 'after-delimiter' | 'headers' | 'body' | 'done';
  let sink: PartSink | null = null;
  let total = 0;
  let skipped = 0;

  /** Advance through what `buf` holds; returns when more bytes are needed (or the body is done). */
  const step = async (): Promise<void> => {
    for (;;) {
      if (state === 'preamble') {
        const at = buf.indexOf(delimiter);
        if (at < 0) {
          const keep = Math.min(buf.length, delimiter.length - 1);
          skipped += buf.length - keep;
          if (skipped > MAX_PREAMBLE_BYTES) throw new MultipartError('no multipart boundary found at the start of the body');
          buf = buf.subarray(buf.length - keep);
          return;
        }
        buf = buf.subarray(at + delimiter.length);
        state = 'after-delimiter';
      } else if (state === 'after-delimiter') {
        // Transport padding (spaces, tabs) may follow a boundary before its CRLF.
        let i = 0;
        while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
        if (buf.length - i < 2) return;
        if (buf[i] === 0x2d && buf[i + 1] === 0x2d) {
          state = 'done';
          return;
        }
        if (buf[i] !== 0x0d || buf[i + 1] !== 0x0a) throw new MultipartError('malformed multipart boundary line');
        buf = buf.subarray(i + 2);
        state = 'headers';
      } else if (state === 'headers') {
        let block: string;
        if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) {
          block = '';
          buf = buf.subarray(2);
        } else {
          const end = buf.indexOf(HEADER_END);
          // Over the limit whether the block arrived in pieces or in one chunk.
          if ((end < 0 ? buf.length : end) > MAX_HEADER_BYTES) throw new MultipartError(`a part's headers are over ${MAX_HEADER_BYTES} bytes`);
          if (end < 0) return;
          block = buf.subarray(0, end).toString('utf8');
          buf = buf.subarray(end + HEADER_END.length);
        }
        sink = await options.onPart(parsePartHeaders(block));
        state = 'body';
      } else if (state === 'body') {
        const at = buf.indexOf(delimiter);
        const current = sink as PartSink;
        if (at < 0) {
          // The tail may be the start of the delimiter: keep it for the next chunk.
          const safe = buf.length - (delimiter.length - 1);
          if (safe > 0) {
            await current.write(buf.subarray(0, safe));
            buf = buf.subarray(safe);
          }
          return;
        }
        if (at > 0) await current.write(buf.subarray(0, at));
        await current.end();
        sink = null;
        buf = buf.subarray(at + delimiter.length);
        state = 'after-delimiter';
      } else {
        return;
      }
    }
  };

  for await (const chunk of chunks) {
    total += chunk.byteLength;
    if (total > options.maxBytes) throw tooLarge(options.maxBytes, 'the multipart body');
    if (state === 'done') continue; // the epilogue, ignored (RFC 2046)
    // Copied: the sinks may hold on to what they are given while the next chunk arrives.
    buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk]);
    await step();
  }
  if (state !== 'done') throw new MultipartError('the multipart body ends before its closing boundary');
}
