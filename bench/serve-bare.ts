/**
 * The references of the `serve` benchmark (issue 16), each in its own process as `crm-upload serve` is,
 * started by `bench/serve.ts`:
 *
 * - bare (no argument): a `node:http` server that accepts `POST /v1/calls`, reads the body whole and
 *   answers 202 with a small JSON, nothing else (no parsing, no outbox, no worker): the ceiling of this
 *   machine and load generator.
 * - durable (`--durable FILE`): the same server, but it parses the body and commits it to a SQLite file
 *   in WAL mode with `synchronous=FULL` before it answers, the bodies that arrived in the same turn of the
 *   event loop in one transaction: the least any server that answers only once a call is on disk does
 *   (docs/architecture.md, "Durability"), without the API's validation, matching or worker.
 *
 * Both print `listening on http://…` on stderr like every server of the tool, and stop on SIGTERM.
 * Run alone with `node bench/serve-bare.ts [--durable FILE] [port]`.
 */
import { createServer, type ServerResponse } from 'node:http';
import { DatabaseSync } from 'node:sqlite';

// The same size and shape as the API's answer to a new call, so that both write a like answer.
const ANSWER = '{"callId":"CALL-20251029-080000-0123abcd","status":"pending","enqueued":true,"warnings":[]}';

const args = process.argv.slice(2);
const durableAt = args.indexOf('--durable');
const dbFile = durableAt === -1 ? null : args.splice(durableAt, 2)[1];

function answer(res: ServerResponse): void {
  res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) });
  res.end(ANSWER);
}

/** Commit the bodies of one turn together, then answer each (group commit, as serve's batcher does). */
function durableSink(file: string): (body: Buffer, res: ServerResponse) => void {
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO calls (payload) VALUES (?)');
  let turn: { payload: string; res: ServerResponse }[] = [];
  const commit = (): void => {
    const group = turn;
    turn = [];
    db.exec('BEGIN IMMEDIATE');
    for (const g of group) insert.run(g.payload);
    db.exec('COMMIT');
    for (const g of group) answer(g.res);
  };
  return (body, res) => {
    let payload: string;
    try {
      payload = JSON.stringify(JSON.parse(body.toString('utf8')));
    } catch {
      res.writeHead(400).end();
      return;
    }
    turn.push({ payload, res });
    if (turn.length === 1) setImmediate(commit);
  };
}

const sink = dbFile === null || dbFile === undefined ? (_body: Buffer, res: ServerResponse) => answer(res) : durableSink(dbFile);

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/v1/calls') {
    req.resume();
    res.writeHead(404).end();
    return;
  }
  // Every chunk is kept and joined, as a server that then parses the body must do.
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => sink(Buffer.concat(chunks), res));
  req.on('error', () => res.destroy());
});

server.listen(Number(args[0] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stderr.write(`listening on http://127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
