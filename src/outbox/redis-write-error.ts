/**
 * Redis's refusals of an enqueue, said clearly (docs/architecture.md, "Stores" → "BullMQ"): a Redis at
 * `maxmemory` with `noeviction` answers "OOM command not allowed…", which names neither the outbox nor the
 * way out. Turned into an `OutboxWriteError` (`E_OUTBOX_FULL`) naming the queue's URL (password hidden).
 */
import { OutboxWriteError } from './sqlite-write-error.ts';

/** `err` as an OutboxWriteError when Redis refused for lack of memory; any other error as it is. Pure. */
export function redisWriteError(err: unknown, shownUrl: string, op: string): unknown {
  if (!(err instanceof Error) || !/^OOM\b/.test(err.message)) return err;
  const words = err.message.split('.')[0] ?? err.message;
  return new OutboxWriteError(
    `cannot add to the outbox ${shownUrl}: Redis is out of memory (maxmemory, noeviction) (${words}); nothing of this ${op} was kept. Raise Redis's maxmemory or free memory, then enqueue again`,
    { code: 'E_OUTBOX_FULL', file: shownUrl, op, cause: err },
  );
}
