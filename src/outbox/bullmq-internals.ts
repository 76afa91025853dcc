/**
 * Every BullMQ internal the BullMQ store relies on, in one place (docs/architecture.md, "BullMQ
 * adapter"). BullMQ's public API does not offer these, and a minor release may change any of them, so
 * each is named here with why the store needs it, and `test/outbox/bullmq-internals.test.ts` checks each
 * against the installed BullMQ: an upgrade that changes one fails that test, not a delivery. The
 * package.json range of bullmq is pinned to the versions those tests have passed on.
 *
 * What is relied on:
 * 1. Key layout: a job's hash is `toKey(id)`, its lock `toKey(id):lock` (the lock token as value, the
 *    lease left as its TTL), its log `toKey(id):logs`; the queue's lists `wait`, `paused`, `active`
 *    and sorted sets `prioritized`, `delayed`. The store reads leases and due times from them because
 *    the public getters load whole jobs, one round trip each.
 * 2. The delayed set's score is the due time shifted left by 12 bits (a counter in the low bits).
 * 3. `job.updateData` checks no lock; the store needs "write only while this owner holds the lease".
 * 4. A move refused because the lock or the state is not what it asks for throws an Error whose message
 *    names it; the store tells those refusals (a stale owner, nothing to do) from real failures.
 * 5. `moveToCompleted` with the token '0' skips the lock check but leaves the lock in place.
 * 6. The queue's event stream `events`: BullMQ's scripts append an entry per job event (the job's id, a
 *    failed job's message) with ids that are epoch ms, capped by length only. `queue.clean` leaves it, so a
 *    purge trims it by time (docs/architecture.md, "Stores" → "Retention").
 */
import type { Redis } from 'ioredis';

/** What the adapter needs of a BullMQ Queue or Worker: its key builder. */
export interface QueueKeys {
  toKey(name: string): string;
}

/** BullMQ keeps a delayed job's due time in its score, shifted left by 12 bits (use 2). */
export const DELAY_SCORE_SHIFT = 0x1000;

/** The due time (epoch ms) a delayed-set score stands for (use 2). */
export function dueAtOfScore(score: string | number): number {
  return Math.floor(Number(score) / DELAY_SCORE_SHIFT);
}

/** The key of a job's lock (use 1): its value is the lock token, its TTL the lease left. */
export function lockKey(queue: QueueKeys, jobId: string): string {
  return `${queue.toKey(jobId)}:lock`;
}

/** The key of a job's log list (use 1), which `job.log` appends to. */
export function logsKey(queue: QueueKeys, jobId: string): string {
  return `${queue.toKey(jobId)}:logs`;
}

/** When a delayed job is due (epoch ms), or null when it is not in the delayed set (use 2). */
export async function delayedDueAt(redis: Redis, queue: QueueKeys, jobId: string): Promise<number | null> {
  const score = await redis.zscore(queue.toKey('delayed'), jobId);
  return score === null ? null : dueAtOfScore(score);
}

/** The lease of an active job: its lock's token and how long it has left (ms, 0 when gone) (use 1). */
export async function leaseOf(redis: Redis, queue: QueueKeys, jobId: string): Promise<{ owner: string | null; leftMs: number }> {
  const key = lockKey(queue, jobId);
  const [owner, ttl] = await Promise.all([redis.get(key), redis.pttl(key)]);
  return { owner, leftMs: owner === null || ttl <= 0 ? 0 : ttl };
}

/** How long each lock of these jobs has left, ms (0 when gone) (use 1). */
export async function locksLeftMs(redis: Redis, queue: QueueKeys, jobIds: readonly string[]): Promise<number[]> {
  const ttls = await Promise.all(jobIds.map((id) => redis.pttl(lockKey(queue, id))));
  return ttls.map((t) => Math.max(0, t));
}

/**
 * What is waiting in the queue, read from its keys in one go (use 1): jobs due now (wait, prioritized,
 * paused), the earliest delayed due time, and the ids of the active jobs.
 */
export async function queueSnapshot(redis: Redis, queue: QueueKeys): Promise<{ dueNow: number; earliestDelayed: number | null; active: string[] }> {
  const k = (name: string): string => queue.toKey(name);
  const [wait, prioritized, paused, delayed, active] = await Promise.all([
    redis.llen(k('wait')),
    redis.zcard(k('prioritized')),
    redis.llen(k('paused')),
    redis.zrange(k('delayed'), 0, 0, 'WITHSCORES'),
    redis.lrange(k('active'), 0, -1),
  ]);
  return { dueNow: wait + prioritized + paused, earliestDelayed: delayed[1] === undefined ? null : dueAtOfScore(delayed[1]), active };
}

// KEYS[1] job key, KEYS[2] active list; ARGV[1] lock token, ARGV[2] job id, ARGV[3] data.
const UPDATE_IF_HELD = `
if redis.call('GET', KEYS[1] .. ':lock') ~= ARGV[1] then return 0 end
if not redis.call('LPOS', KEYS[2], ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[3])
return 1
`;

/**
 * `job.updateData` with the lock check it lacks (use 3): writes `data` only while `token` holds the
 * job's lock and the job is active, in one script. False when nothing was written.
 */
export async function updateDataIfHeld(redis: Redis, queue: QueueKeys, jobId: string, token: string, data: unknown): Promise<boolean> {
  const written = await redis.eval(UPDATE_IF_HELD, 2, queue.toKey(jobId), queue.toKey('active'), token, jobId, JSON.stringify(data));
  return Number(written) === 1;
}

/**
 * After `moveToCompleted(value, '0')`, which skips the lock check (use 5) but leaves the lock: remove it,
 * so that the former holder's next move finds it gone and is refused.
 */
export async function dropLock(redis: Redis, queue: QueueKeys, jobId: string): Promise<void> {
  await redis.del(lockKey(queue, jobId));
}

/** The key of the queue's event stream (use 6). */
export function eventsKey(queue: QueueKeys): string {
  return queue.toKey('events');
}

/** Remove the queue's events recorded before `before` (epoch ms), which name jobs and quote their failures (use 6). */
export async function trimEventsBefore(redis: Redis, queue: QueueKeys, before: number): Promise<void> {
  await redis.xtrim(eventsKey(queue), 'MINID', `${Math.max(0, Math.floor(before))}-0`);
}

/** The token that makes BullMQ skip the lock check of a move (use 5). */
export const NO_LOCK_TOKEN = '0';

// The messages BullMQ's scripts give for a move that is not the caller's to make (use 4).
const REFUSAL = /Missing lock|not owned|Lock mismatch|is not in the active state|not in the (active|failed|completed)|Missing key|does not exist/i;

/** BullMQ's answer that a move is not ours to make (lock missing or not ours, job not active) (use 4). */
export function isRefusal(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return REFUSAL.test(message);
}
