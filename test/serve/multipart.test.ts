/**
 * The streaming multipart reader on its own: every split of the body into chunks gives the same parts
 * (a boundary may straddle two chunks), RFC 7578 details, malformed bodies and the size limit.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ServeRequestError } from '../../src/serve/errors.ts';
import { multipartBoundary, MultipartError, readMultipart, type PartInfo } from '../../src/serve/multipart.ts';

/** The body and boundary a real client (Node's fetch) makes of a form. */
async function encode(form: FormData): Promise<{ bytes: Uint8Array; boundary: string }> {
  const req = new Request('http://x/', { method: 'POST', body: form });
  const boundary = multipartBoundary(req.headers.get('content-type'));
  assert.ok(boundary);
  return { bytes: new Uint8Array(await req.arrayBuffer()), boundary };
}

async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** Read a body into `{info, content}` per part. */
async function parts(source: AsyncIterable<Uint8Array>, boundary: string, maxBytes = 1e9): Promise<{ info: PartInfo; content: Buffer }[]> {
  const out: { info: PartInfo; content: Buffer }[] = [];
  await readMultipart(source, {
    boundary,
    maxBytes,
    onPart(info) {
      const chunks: Buffer[] = [];
      out.push({ info, content: Buffer.alloc(0) });
      const at = out.length - 1;
      return {
        write: (c) => void chunks.push(Buffer.from(c)),
        end: () => {
          (out[at] as { content: Buffer }).content = Buffer.concat(chunks);
        },
      };
    },
  });
  return out;
}

describe('readMultipart', () => {
  test('gives the same parts whatever the chunk sizes', async () => {
    const file = randomBytes(6_000);
    // A file holding the boundary's dashes and CRLFs must come through untouched.
    file.set(Buffer.from('\r\n--\r\n--'), 1000);
    const form = new FormData();
    form.append('call', '{"session":{"items":[]}}');
    form.append('recording', new Blob([file], { type: 'audio/ogg' }), 'number-_919999900001-1761745857.ogg');
    const { bytes, boundary } = await encode(form);
    for (const size of [1, 2, 3, 17, 64, 1000, 8192, bytes.length]) {
      const got = await parts(chunked(bytes, size), boundary);
      assert.equal(got.length, 2, `chunks of ${size}`);
      assert.deepEqual(got[0]?.info, { name: 'call', filename: null, contentType: null });
      assert.equal(got[0]?.content.toString(), '{"session":{"items":[]}}');
      assert.deepEqual(got[1]?.info, { name: 'recording', filename: 'number-_919999900001-1761745857.ogg', contentType: 'audio/ogg' });
      assert.ok(got[1]?.content.equals(file), `file intact with chunks of ${size}`);
    }
  });

  test('RFC details: a preamble, quoted names, filename*, an empty part, an epilogue', async () => {
    const b = 'XyZ';
    const body = [
      'This is the preamble.',
      `--${b}`,
      'Content-Disposition: form-data; name="call"',
      '',
      '{}',
      `--${b}   `,
      `Content-Disposition: form-data; name="recording"; filename="ignored.ogg"; filename*=UTF-8''r%C3%A9union.ogg`,
      'Content-Type: audio/ogg',
      '',
      '',
      `--${b}--`,
      'epilogue',
    ].join('\r\n');
    const got = await parts(chunked(Buffer.from(body), 5), b);
    assert.deepEqual(
      got.map((p) => [p.info.name, p.info.filename, p.content.toString()]),
      [
        ['call', null, '{}'],
        ['recording', 'réunion.ogg', ''],
      ],
    );
  });

  test('malformed bodies are MultipartErrors; the limit is a 413', async () => {
    const b = 'B';
    const cases = [
      'no boundary at all',
      `--${b}\r\nContent-Disposition: form-data; name="call"\r\n\r\n{}`, // no closing boundary
      `--${b}\r\nContent-Type: text/plain\r\n\r\n{}\r\n--${b}--`, // no Content-Disposition
      `--${b}\r\nContent-Disposition: form-data\r\n\r\n{}\r\n--${b}--`, // no name
      `--${b}xx\r\n`,
    ];
    for (const body of cases) await assert.rejects(parts(chunked(Buffer.from(body), 4), b), MultipartError, JSON.stringify(body));

    const form = new FormData();
    form.append('recording', new Blob([new Uint8Array(10_000)]), 'x.ogg');
    const { bytes, boundary } = await encode(form);
    await assert.rejects(parts(chunked(bytes, 1024), boundary, 5_000), (err: unknown) => err instanceof ServeRequestError && err.status === 413);
  });

  test('the boundary of a content type', () => {
    assert.equal(multipartBoundary('multipart/form-data; boundary=abc'), 'abc');
    assert.equal(multipartBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b;c"'), 'a b;c');
    assert.equal(multipartBoundary('multipart/form-data'), null);
    assert.equal(multipartBoundary('multipart/mixed; boundary=abc'), null);
    assert.equal(multipartBoundary(undefined), null);
  });
});
