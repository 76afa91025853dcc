/**
 * What the outbox says when its storage refuses (sqlite-write-error.ts, redis-write-error.ts), row by row:
 * the code, that the message names the outbox and the way out, and that other errors pass unchanged.
 * The real refusals (a full tmpfs, a held lock, a damaged file, Redis at maxmemory) are
 * test/chaos/disk.test.ts's and test/chaos/redis.test.ts's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrmUploadError, isCrmUploadError } from '../../src/errors.ts';
import { redisWriteError } from '../../src/outbox/redis-write-error.ts';
import { OutboxWriteError, sqliteWriteError } from '../../src/outbox/sqlite-write-error.ts';

function sqliteError(errcode: number, message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_SQLITE_ERROR', errcode });
}

const PATH = '/var/lib/crm-upload/outbox.db';
// [SQLite errcode (extended codes keep the primary in the low byte), op, code, words the message holds]
const rows: [number, string, string, RegExp][] = [
  [13, 'enqueue', 'E_OUTBOX_FULL', /^cannot write to the outbox \/var\/lib\/crm-upload\/outbox\.db: the disk is full \(SQLite 13: .*\); nothing of this enqueue was committed\. Free space/],
  [5, 'settleAndLease', 'E_OUTBOX_BUSY', /stayed locked by another process's write for longer than the busy timeout \(5000 ms\)/],
  [517, 'enqueue', 'E_OUTBOX_BUSY', /SQLite 517/], // SQLITE_BUSY_SNAPSHOT
  [11, 'counts', 'E_OUTBOX_CORRUPT', /is damaged \(SQLite 11: .*\); the counts failed\. Stop every process using it, move it aside .* restore a backup/],
  [26, 'open', 'E_OUTBOX_CORRUPT', /is damaged/],
  [8, 'enqueue', 'E_OUTBOX_READONLY', /cannot be written .*owner and mode/],
  [778, 'enqueue', 'E_OUTBOX_IO', /an I\/O error \(SQLite 778/], // SQLITE_IOERR_WRITE
];
for (const [errcode, op, code, words] of rows) {
  test(`sqliteWriteError: SQLite ${errcode} during ${op} → ${code}`, () => {
    const err = sqliteWriteError(sqliteError(errcode, 'database said no'), PATH, op, 5_000);
    assert.ok(err instanceof OutboxWriteError && isCrmUploadError(err, code as never), String(err));
    assert.match(err.message, words);
    assert.equal(err.context.file, PATH);
    assert.equal(err.context.op, op);
  });
}

test('sqliteWriteError leaves other errors as they are', () => {
  const ours = new CrmUploadError('closed', { code: 'E_OUTBOX_CLOSED' });
  const plain = new TypeError('lease limit must be a whole number');
  const constraint = sqliteError(19, 'UNIQUE constraint failed');
  for (const e of [ours, plain, constraint, 'text']) assert.equal(sqliteWriteError(e, PATH, 'enqueue', 5_000), e);
});

test('redisWriteError: an OOM refusal is E_OUTBOX_FULL naming the queue; other errors pass', () => {
  const oom = new Error("OOM command not allowed when used memory > 'maxmemory'. script: abc, on @user_script:507.");
  const err = redisWriteError(oom, 'redis://:***@redis.internal:6379/?prefix=crm', 'enqueue');
  assert.ok(isCrmUploadError(err, 'E_OUTBOX_FULL'));
  assert.equal(
    err.message,
    "cannot add to the outbox redis://:***@redis.internal:6379/?prefix=crm: Redis is out of memory (maxmemory, noeviction) (OOM command not allowed when used memory > 'maxmemory'); nothing of this enqueue was kept. Raise Redis's maxmemory or free memory, then enqueue again",
  );
  const other = new Error('Connection is closed.');
  assert.equal(redisWriteError(other, 'redis://x', 'enqueue'), other);
});
