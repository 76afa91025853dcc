/**
 * A `multipart/form-data` body of one file, streamed from an open handle (RFC 7578). undici's FormData
 * wants a Blob, and a file-backed Blob reopens the file by its path — exactly what a confined upload must
 * not do (`src/fs/open-recording.ts`); this reads only the handle, exactly `size` bytes, with the length
 * known up front.
 */
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/** A body ready for `undici.request`. */
export interface MultipartFileBody {
  body: AsyncIterable<Uint8Array>;
  /** Total bytes. */
  length: number;
  /** `multipart/form-data; boundary=…`. */
  contentType: string;
}

/** A quoted-string parameter value: `"` and `\` escaped, line breaks and other controls dropped. */
function quoted(value: string): string {
  return `"${value.replace(/[\u0000-\u001f\u007f]/g, '').replace(/["\\]/g, '\\$&')}"`;
}

/** The body of one `field` part holding `size` bytes of `handle` as `filename` of type `type`. */
export function multipartFileBody(handle: FileHandle, size: number, field: string, filename: string, type: string): MultipartFileBody {
  const boundary = `----crm-upload-${randomBytes(16).toString('hex')}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name=${quoted(field)}; filename=${quoted(filename)}\r\nContent-Type: ${type}\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield head;
    let offset = 0;
    const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 256 * 1024));
    while (offset < size) {
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - offset), offset);
      if (bytesRead === 0) throw Object.assign(new Error('the recording got shorter while it was uploaded'), { code: 'ECHANGED' });
      offset += bytesRead;
      // Copied: the buffer is reused for the next read while undici may still hold this chunk.
      yield Buffer.from(buf.subarray(0, bytesRead));
    }
    yield tail;
  }
  return { body: chunks(), length: head.length + size + tail.length, contentType: `multipart/form-data; boundary=${boundary}` };
}
