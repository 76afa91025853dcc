/**
 * The reference of the `serve` benchmark (issue 16): a bare `node:http` server that accepts
 * `POST /v1/calls`, reads the body whole and answers 202 with a small JSON, nothing else (no parsing, no
 * outbox, no worker). Run in its own process, as `crm-upload serve` is, by `bench/serve.ts`; it prints
 * `listening on http://…` on stderr like every server of the tool, and stops on SIGTERM.
 *
 * Run alone with `node bench/serve-bare.ts [port]`.
 */
import { createServer } from 'node:http';

// The same size and shape as the API's answer to a new call, so that both write a like answer.
const ANSWER = '{"callId":"CALL-20251029-080000-0123abcd","status":"pending","enqueued":true,"warnings":[]}';

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/v1/calls') {
    req.resume();
    res.writeHead(404).end();
    return;
  }
  // Every chunk is kept and joined, as a server that then parses the body must do.
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    Buffer.concat(chunks);
    res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) });
    res.end(ANSWER);
  });
  req.on('error', () => res.destroy());
});

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stderr.write(`listening on http://127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
