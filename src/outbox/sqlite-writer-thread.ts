/**
 * Entry point of an outbox's writer thread (see `sqlite-writer.ts`): opens its own connection to the
 * file and runs the requests it is sent, one at a time, in order, replying to each once it has returned
 * — for a write, once it is committed with `synchronous=FULL`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteOutboxConnection } from './sqlite-connection.ts';
import { serializeError, type WriteRequest, type WriterData, type WriterMessage } from './sqlite-writer.ts';

const port = parentPort;
if (port === null) throw new Error('sqlite-writer-thread.ts runs as a worker thread only');

const data = workerData as WriterData;
let conn: SqliteOutboxConnection | null = null;
try {
  conn = new SqliteOutboxConnection(data.path, data.busyTimeoutMs);
  port.postMessage({ kind: 'ready' } satisfies WriterMessage);
} catch (err) {
  port.postMessage({ kind: 'failed', error: serializeError(err) } satisfies WriterMessage);
}

port.on('message', (req: WriteRequest) => {
  let reply: WriterMessage;
  try {
    if (conn === null) throw new Error('the outbox writer thread has no connection');
    let result: unknown;
    switch (req.op) {
      case 'close':
        conn.close();
        conn = null;
        result = undefined;
        break;
      case 'enqueue':
        result = conn.enqueue(...(req.args as Parameters<SqliteOutboxConnection['enqueue']>));
        break;
      case 'settleAndLease':
        result = conn.settleAndLease(...(req.args as Parameters<SqliteOutboxConnection['settleAndLease']>));
        break;
      case 'release':
        result = conn.release(...(req.args as Parameters<SqliteOutboxConnection['release']>));
        break;
      case 'checkpointRecording':
        result = conn.checkpointRecording(...(req.args as Parameters<SqliteOutboxConnection['checkpointRecording']>));
        break;
      case 'replay':
        result = conn.replay(...(req.args as Parameters<SqliteOutboxConnection['replay']>));
        break;
      case 'requeue':
        result = conn.requeue(...(req.args as Parameters<SqliteOutboxConnection['requeue']>));
        break;
      case 'purge':
        result = conn.purge(...(req.args as Parameters<SqliteOutboxConnection['purge']>));
        break;
      default:
        throw new TypeError(`unknown outbox writer request ${String((req as { op: unknown }).op)}`);
    }
    reply = { kind: 'reply', id: req.id, ok: true, result };
  } catch (err) {
    reply = { kind: 'reply', id: req.id, ok: false, error: serializeError(err) };
  }
  port.postMessage(reply);
});
