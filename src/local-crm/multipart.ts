/**
 * Reading the `file` field of a multipart upload. Node's own Fetch implementation parses the stream,
 * which spares a dependency; it holds the file in memory, which is fine for a test server.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { toHeaders } from './http-io.ts';

/** The uploaded file of a multipart request. */
export interface UploadedFile {
  name: string;
  type: string;
  data: Buffer;
}

/** Parse the request as multipart/form-data and return its `file` field, or why it cannot. */
export async function readMultipartFile(req: IncomingMessage, field = 'file'): Promise<{ ok: true; file: UploadedFile } | { ok: false; message: string }> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\b/i.test(type)) {
    return { ok: false, message: `expected multipart/form-data with a "${field}" field, got content-type "${type}"` };
  }
  let form: FormData;
  try {
    const body = Readable.toWeb(req) as WebReadableStream<Uint8Array>;
    const request = new Request('http://local-crm/upload', {
      method: 'POST',
      headers: toHeaders(req),
      body: body as ReadableStream<Uint8Array>,
      duplex: 'half',
    });
    form = await request.formData();
  } catch (err) {
    return { ok: false, message: `malformed multipart body: ${err instanceof Error ? err.message : String(err)}` };
  }
  const value = form.get(field);
  if (value === null || typeof value === 'string') return { ok: false, message: `multipart field "${field}" (a file) is missing` };
  return { ok: true, file: { name: value.name, type: value.type, data: Buffer.from(await value.arrayBuffer()) } };
}
