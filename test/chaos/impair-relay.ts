/**
 * The impairing TCP relay: where the kernel has no `sch_netem` (a Firecracker VM without modules), the
 * network chaos tests (test/chaos/network.test.ts) run this inside the CRM's network namespace, listening
 * on that namespace's veth address and forwarding to the local CRM on that namespace's loopback. The
 * worker, in the other namespace, reaches the CRM only through it. Each direction's chunks are held as
 * test/chaos/impair-schedule.ts decides (the mapping from netem's delay and loss is explained there).
 *
 *   node impair-relay.ts --listen 10.x.y.2:0 --target 127.0.0.1:PORT --delay 100-300 --loss 0.05
 *     --rto 200-1000 --reset 0.01 --seed N
 *
 * Prints `listening on http://HOST:PORT` on stderr once bound, and on SIGTERM one line `impair-relay
 * {json}` on stdout (connections, chunks, lost chunks, resets) before it exits. Only the addresses it is
 * given are bound or dialled: nothing leaves the test's namespaces. No backpressure: a held chunk is kept in
 * memory, which the tests' few kilobytes per call allow.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { chunkFate, seededDraw, type Impairment } from './impair-schedule.ts';

/** What the relay did, printed on SIGTERM for the test's diagnostic and checks. */
export interface RelayStats {
  connections: number;
  chunks: number;
  lostChunks: number;
  resets: number;
  seed: number;
}

/** Bytes of one direction held until their time, released in order by one timer. */
class HeldQueue {
  readonly #items: { at: number; release: () => void }[] = [];
  #timer: NodeJS.Timeout | undefined;

  push(at: number, release: () => void): void {
    this.#items.push({ at, release });
    if (this.#items.length === 1) this.#pump();
  }

  /** When the last queued item is released (now if none). */
  lastAt(): number {
    return this.#items.at(-1)?.at ?? 0;
  }

  clear(): void {
    this.#items.length = 0;
    clearTimeout(this.#timer);
  }

  #pump(): void {
    clearTimeout(this.#timer);
    const now = Date.now();
    while (this.#items[0] !== undefined && this.#items[0].at <= now) this.#items.shift()?.release();
    const next = this.#items[0];
    if (next !== undefined) this.#timer = setTimeout(() => this.#pump(), next.at - now);
  }
}

function hostPort(value: string): { host: string; port: number } {
  const i = value.lastIndexOf(':');
  return { host: value.slice(0, i), port: Number(value.slice(i + 1)) };
}

function range(value: string): [number, number] {
  const [low, high = low] = value.split('-').map(Number);
  return [low ?? 0, high ?? 0];
}

function main(): void {
  const { values } = parseArgs({
    options: {
      listen: { type: 'string' },
      target: { type: 'string' },
      delay: { type: 'string', default: '0' },
      loss: { type: 'string', default: '0' },
      rto: { type: 'string', default: '200-1000' },
      reset: { type: 'string', default: '0' },
      seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    },
  });
  if (values.listen === undefined || values.target === undefined) throw new Error('impair-relay needs --listen HOST:PORT and --target HOST:PORT');
  const impairment: Impairment = { delayMs: range(values.delay), lossRate: Number(values.loss), rtoMs: range(values.rto), resetRate: Number(values.reset) };
  const stats: RelayStats = { connections: 0, chunks: 0, lostChunks: 0, resets: 0, seed: Number(values.seed) };
  const draw = seededDraw(stats.seed);
  const listen = hostPort(values.listen);
  const target = hostPort(values.target);

  // allowHalfOpen: a client's FIN must not end our side while its answer is still held in the queue.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    stats.connections += 1;
    const upstream = createConnection({ ...target, allowHalfOpen: true });
    const queues = [new HeldQueue(), new HeldQueue()];
    const reset = (): void => {
      stats.resets += 1;
      for (const q of queues) q.clear();
      // RST both ways, as a connection killed by a loss burst or a lost middlebox state looks to each end.
      for (const s of [client, upstream]) if (!s.destroyed) s.resetAndDestroy();
    };
    const forward = (from: Socket, to: Socket, queue: HeldQueue): void => {
      from.on('data', (chunk: Buffer) => {
        stats.chunks += 1;
        const fate = chunkFate(impairment, queue.lastAt(), Date.now(), draw);
        if (fate.kind === 'reset') return reset();
        if (fate.losses > 0) stats.lostChunks += 1;
        queue.push(fate.at, () => {
          if (!to.destroyed) to.write(chunk);
        });
      });
      // The FIN travels behind the bytes before it; an abrupt close (error) goes through at once.
      from.on('end', () => queue.push(Math.max(queue.lastAt(), Date.now()), () => to.end()));
      from.on('close', (hadError) => {
        if (hadError) {
          for (const q of queues) q.clear();
          if (!to.destroyed) to.resetAndDestroy();
        } else queue.push(Math.max(queue.lastAt(), Date.now()), () => to.destroySoon());
      });
      from.on('error', () => undefined); // reported by 'close' with hadError
    };
    forward(client, upstream, queues[0] as HeldQueue);
    forward(upstream, client, queues[1] as HeldQueue);
  });
  server.on('error', (err) => {
    process.stderr.write(`impair-relay: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(listen.port, listen.host, () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : listen.port;
    process.stderr.write(`listening on http://${listen.host}:${port} (impair-relay, seed ${stats.seed})\n`);
  });
  process.once('SIGTERM', () => {
    process.stdout.write(`impair-relay ${JSON.stringify(stats)}\n`, () => process.exit(0));
  });
}

main();
