/**
 * The distributed outbox on BullMQ and Redis (docs/architecture.md, "Delivery"; issue 7): any number of workers on
 * any number of hosts share one queue, one rate limit and one dead-letter list. It implements the same
 * `OutboxStore` contract as the SQLite store and passes the same contract suite.
 *
 * How the contract maps onto BullMQ, so that BullMQ's own machinery does the work:
 * - an item is a job whose id is the callId (enqueue is idempotent), with the payload, the recording
 *   checkpoint and our counters in its data;
 * - a lease is BullMQ's manual job fetching (`Worker.getNextJob` with the owner as the lock token, the
 *   lease as `lockDuration`); an expired lease comes back through BullMQ's stalled-job check, which
 *   every leasing process runs, so the jobs of a worker that died are recovered;
 * - a retry is `moveToFailed` with attempts left, delayed by a custom backoff (`crm-schedule`): the
 *   delay the worker chose from the schedule with its jitter, or the schedule itself;
 * - a wait (429, Retry-After) is `moveToDelayed`, which does not use up an attempt; the 429's hold is
 *   the shared pacer's (`capabilities.sharedPacer`), one key that every process's pacer and every
 *   lease read, so every worker on every host pauses;
 * - dead is the failed set (`discard` + `moveToFailed`), with its last status and message;
 * - delivered is the completed set; completed jobs are kept, so a re-run finds them and skips them;
 * - the history of attempts is the job's log (`job.log`).
 *
 * Its own keys (under the queue's prefix, `…:crm:…`) index what BullMQ does not: the calls not yet
 * final by enqueue time (the backlog's age), every call by its start time (reconcile), and the shared
 * pacer's slots and hold. What it relies on of BullMQ beyond its public API is in `bullmq-internals.ts`.
 *
 * Durability is Redis's: an enqueue is on disk when it returns only with `appendonly yes` and
 * `appendfsync always`; `openBullmqOutbox` warns when Redis may evict or lose queued calls.
 */
import { randomUUID } from 'node:crypto';
import { Job, Queue, Worker, type JobsOptions, type JobType } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError, CrmUploadError, InputError } from '../errors.ts';
import type { Pacer } from '../pacing/pacer.ts';
import { createRedisPacer, holdLeftMs, type RedisPacerKeys } from '../pacing/redis-pacer.ts';
import type { CallPayload } from '../payload/call-payload.ts';
import { DEFAULT_RETRY_POLICY, delayAfter, type RetryPolicy } from '../policy/retry-policy.ts';
import {
  NO_LOCK_TOKEN,
  delayedDueAt,
  dropLock,
  isRefusal,
  trimEventsBefore,
  leaseOf,
  locksLeftMs,
  logsKey,
  queueSnapshot,
  updateDataIfHeld,
} from './bullmq-internals.ts';
import type {
  AttemptLogEntry,
  DeliveredQuery,
  DeliveredTimeQuery,
  DeliveryTimes,
  EnqueueResult,
  LeaseOptions,
  NewOutboxItem,
  OutboxCounts,
  OutboxItem,
  OutboxState,
  OutboxStore,
  PurgeOptions,
  PurgeResult,
  RecordingCheckpoint,
  Settlement,
  StoreCapabilities,
} from './outbox-store.ts';
import { PLAIN_PAYLOADS, type PayloadCipher, type PayloadEnvelope } from './payload-cipher.ts';
import { redisWriteError } from './redis-write-error.ts';
import { parseRedisTarget, type RedisTarget } from './redis-target.ts';

/** Options of `openBullmqOutbox`. */
export interface BullmqOutboxOptions {
  /**
   * How often each leasing process looks for jobs whose lease (lock) expired, ms. Default: half the
   * lease, between 250 ms and 30 s, so that a dead worker's calls come back within about two leases.
   */
  stalledIntervalMs?: number;
  /** The policy the backoff falls back on when a retry does not say its delay; default docs/architecture.md's. */
  retryPolicy?: RetryPolicy;
  /** Where start-up warnings go (eviction policy, persistence); default stderr. */
  warn?: (message: string) => void;
  /** How long the start-up check waits for Redis, ms; default 5000. */
  connectTimeoutMs?: number;
  /** How payloads are stored: sealed under `CRM_OUTBOX_KEY`, opened with it or an old key; default plain. */
  cipher?: PayloadCipher;
}

/** The job data of one call. */
interface CallJobData {
  /** Tells a new enqueue from one that found the call there already (see `enqueue`). */
  enqueueId: string;
  /** The payload, or its envelope under `CRM_OUTBOX_KEY` (docs/architecture.md, "Stores" → "Payload encryption"). */
  payload: CallPayload | PayloadEnvelope;
  sourceFile: string | null;
  recording: RecordingCheckpoint;
  meta: JobMeta;
}

/** Our counters and last outcome, which BullMQ does not keep in the form the contract needs. */
interface JobMeta {
  rateLimitWaits: number;
  lastStatus: number | null;
  lastError: string | null;
  /** When the job was last made due (a retry or wait), epoch ms. */
  nextAttemptAt: number | null;
  /** Attempts BullMQ counted that the contract does not (a dead without `countAttempt`). */
  uncounted: number;
  updatedAt: number;
  /**
   * The item's `uncertain` flag as last settled or released (absent in jobs written before it existed).
   * An expired lease is told by BullMQ's stalled counter having grown past `stalledSeen`.
   */
  uncertain?: boolean;
  /** BullMQ's stalled counter when the flag was last written. */
  stalledSeen?: number;
}

/** What a delivered job returns (its `returnvalue`). */
interface DeliveredValue {
  status: number | null;
}

/** Name of the custom backoff strategy (docs/architecture.md's schedule with jitter). */
export const BACKOFF_TYPE = 'crm-schedule';
// The worker decides when an item is exhausted (CRM_MAX_ATTEMPTS) and then settles it dead, which
// discards the job: BullMQ's own attempt limit must never cut in first.
const JOB_ATTEMPTS = 1_000_000;
// A job that stalls (its worker died) is recovered however often that happens: losing a call because
// workers crashed is exactly what the outbox is for.
const MAX_STALLED = 1_000_000;
const BULL_NAME = 'call';
// Job fetches sent together by one lease.
const LEASE_ROUND = 8;
// The lease of the worker that settles jobs leased elsewhere (its lock duration is never used).
const DEFAULT_LEASE_MS = 60_000;
const PENDING_TYPES: JobType[] = ['wait', 'paused', 'prioritized', 'delayed', 'waiting-children'];

/** An error that carries the delay a retry was settled with, for the backoff strategy. */
class RetryError extends Error {
  readonly delayMs: number;
  constructor(message: string, delayMs: number) {
    super(message);
    this.name = 'RetryError';
    this.delayMs = delayMs;
  }
}

/**
 * Connect to the Redis of `url` and open the queue it names. Redis unreachable: a ConfigError naming the
 * URL without its password (the CLI exits 2). An eviction policy other than `noeviction`: a loud warning,
 * since Redis could then silently drop queued calls.
 */
export async function openBullmqOutbox(url: string, options: BullmqOutboxOptions = {}): Promise<BullmqOutboxStore> {
  const target = parseRedisTarget(url);
  const warn = options.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  await checkRedis(target, options.connectTimeoutMs ?? 5_000, warn);
  return new BullmqOutboxStore(target, options);
}

/** The start-up check: reachable, and configured so that it keeps what it is given. */
async function checkRedis(target: RedisTarget, timeoutMs: number, warn: (m: string) => void): Promise<void> {
  const probe = new Redis(target.connectionUrl, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // A failed connection is reported through connect(); the client must not also throw it as an event.
  probe.on('error', () => undefined);
  try {
    try {
      await probe.connect();
      await probe.ping();
    } catch (err) {
      throw new ConfigError(`cannot reach Redis at ${target.shown} (CRM_OUTBOX): ${(err as Error).message}`, { variable: 'CRM_OUTBOX', cause: err });
    }
    try {
      const [, policy] = (await probe.config('GET', 'maxmemory-policy')) as [string, string];
      if (policy !== undefined && policy !== 'noeviction') {
        warn(
          `Redis at ${target.shown} has maxmemory-policy=${policy}: under memory pressure it may EVICT QUEUED CALLS without a word. ` +
            'Set maxmemory-policy noeviction for the outbox.',
        );
      }
      const [, aof] = (await probe.config('GET', 'appendonly')) as [string, string];
      const [, save] = (await probe.config('GET', 'save')) as [string, string];
      if (aof === 'no' && (save === undefined || save.trim() === '')) {
        warn(`Redis at ${target.shown} keeps nothing on disk (appendonly no, no save): a Redis restart loses every queued call.`);
      }
    } catch {
      // Managed Redis often refuses CONFIG; the check is advice, not a condition.
    }
  } finally {
    probe.disconnect();
  }
}

/** The BullMQ outbox. Open it with `openBullmqOutbox`. */
export class BullmqOutboxStore implements OutboxStore {
  /** @inheritdoc */
  readonly capabilities: StoreCapabilities = {
    selectiveLease: false,
    sharedPacer: (requestsPerMinute: number): Pacer => createRedisPacer(this.redis, this.#pacerKeys, requestsPerMinute),
  };
  /** The target, with the password redacted in `shown`. */
  readonly target: RedisTarget;
  /**
   * Redis commands of this store. It fails fast (a command fails after a few reconnects) until the
   * process leases, then waits out an outage like the leasing connection (`#workerFor`).
   */
  readonly redis: Redis;
  readonly #queue: Queue<CallJobData, DeliveredValue>;
  readonly #options: BullmqOutboxOptions;
  readonly #cipher: PayloadCipher;
  /** Leasing workers by lease length (BullMQ's lock duration is a worker setting). */
  readonly #workers = new Map<number, Worker<CallJobData, DeliveredValue>>();
  /** Jobs this store leased, with their lock tokens, so that settling them needs no extra round trip. */
  readonly #leased = new Map<string, Job<CallJobData, DeliveredValue>>();
  #workerRedis: Redis | null = null;
  #closed = false;
  /** The shared pacer's keys; the hold (`pause`) is the queue's one rate-limit hold. */
  get #pacerKeys(): RedisPacerKeys {
    // The names of before (`pacer:last:…`), so that processes of both versions share one timeline.
    return { slot: this.key('pacer'), shift: this.key('pacer:last:shift'), second: this.key('pacer:last:second'), pause: this.key('pacer:pause') };
  }

  /** Use `openBullmqOutbox`, which checks Redis first. */
  constructor(target: RedisTarget, options: BullmqOutboxOptions = {}) {
    this.target = target;
    this.#options = options;
    this.#cipher = options.cipher ?? PLAIN_PAYLOADS;
    this.redis = new Redis(target.connectionUrl, redisOptions(false));
    this.redis.on('error', () => undefined);
    this.#queue = new Queue<CallJobData, DeliveredValue>(target.queue, { connection: this.redis, prefix: target.prefix });
    this.#queue.on('error', () => undefined);
  }

  /** A key of crm-upload's own under the queue's prefix (`bull:crm-upload:crm:<name>`). */
  key(name: string): string {
    return this.#queue.toKey(`crm:${name}`);
  }

  /** @inheritdoc */
  async enqueue(item: NewOutboxItem): Promise<EnqueueResult> {
    const [result] = await this.enqueueMany([item]);
    if (result === undefined) throw new Error('the outbox returned no enqueue result');
    return result;
  }

  /**
   * @inheritdoc
   * One `addBulk` (a MULTI); then each job's stored data tells whether this enqueue created it: BullMQ
   * answers an existing job id without a word, and only the enqueue that created a job finds its own
   * `enqueueId` in it.
   */
  async enqueueMany(items: NewOutboxItem[]): Promise<EnqueueResult[]> {
    this.#open();
    if (items.length === 0) return [];
    const now = Date.now();
    const jobs = items.map((item) => {
      checkNewItem(item);
      const data: CallJobData = {
        enqueueId: randomUUID(),
        payload: this.#cipher.seal(item.callId, item.payload),
        sourceFile: item.sourceFile ?? null,
        recording: { path: item.recordingPath, url: null, size: null, duration: null, note: null },
        meta: { rateLimitWaits: 0, lastStatus: null, lastError: null, nextAttemptAt: null, uncounted: 0, updatedAt: now },
      };
      return { name: BULL_NAME, data, opts: jobOptions(item.callId, now) };
    });
    try {
      await this.#queue.addBulk(jobs);
    } catch (err) {
      // Redis does not roll a transaction back: the jobs of this batch added before Redis refused one
      // are taken out again, so that a refused enqueue leaves nothing behind (docs/architecture.md,
      // "Stores" → "BullMQ").
      await this.#undoEnqueue(items, jobs);
      throw redisWriteError(err, this.target.shown, 'enqueue');
    }
    const stored = await Promise.all(items.map((item) => this.redis.hget(this.#queue.toKey(item.callId), 'data')));
    const mine = items.map((_, i) => stored[i]?.includes((jobs[i] as { data: CallJobData }).data.enqueueId) === true);
    // The states of the calls that were there already, read together (a re-run finds thousands).
    const states = await Promise.all(items.map((item, i) => (mine[i] ? 'pending' : this.#stateOf(item.callId))));
    const results: EnqueueResult[] = items.map((item, i) => ({ callId: item.callId, enqueued: mine[i] === true, state: states[i] as OutboxState }));
    const created = items
      .filter((_, i) => mine[i])
      .map((item) => ({ callId: item.callId, start: Date.parse(item.payload.callDetails?.startTime ?? '') }));
    if (created.length > 0) {
      const m = this.redis.multi();
      for (const c of created) {
        m.zadd(this.key('open'), 'NX', now, c.callId);
        m.zadd(this.key('start'), Number.isFinite(c.start) ? c.start : 0, c.callId);
      }
      // ioredis answers a refused command of a MULTI as a value, not a rejection.
      const refused = (await m.exec())?.find(([e]) => e !== null)?.[0];
      if (refused) {
        await this.#undoEnqueue(items, jobs);
        throw redisWriteError(refused, this.target.shown, 'enqueue');
      }
    }
    return results;
  }

  /**
   * Take out what a refused enqueue added: the jobs it created (those holding its own `enqueueId`) and
   * their index entries. Removal needs no memory, so it works on a Redis at `maxmemory`; a job a worker
   * has already leased stays and is delivered.
   */
  async #undoEnqueue(items: readonly NewOutboxItem[], jobs: readonly { data: CallJobData }[]): Promise<void> {
    const stored = await Promise.all(items.map((item) => this.redis.hget(this.#queue.toKey(item.callId), 'data').catch(() => null)));
    for (const [i, item] of items.entries()) {
      const enqueueId = jobs[i]?.data.enqueueId;
      if (enqueueId === undefined || stored[i]?.includes(enqueueId) !== true) continue;
      await this.#queue.remove(item.callId).catch(() => 0);
      await this.redis.multi().zrem(this.key('open'), item.callId).zrem(this.key('start'), item.callId).exec().catch(() => null);
    }
  }

  /** @inheritdoc */
  async lease(options: LeaseOptions): Promise<OutboxItem[]> {
    this.#open();
    checkLease(options, options.owner);
    if (options.callIds !== undefined) {
      throw new CrmUploadError('the BullMQ outbox hands out jobs in its own order and cannot lease chosen calls', { code: 'E_OUTBOX_UNSUPPORTED' });
    }
    if (options.limit === 0) return [];
    // The CRM said "too many" (a 429's hold through the shared pacer): no process takes jobs until it ends.
    if ((await holdLeftMs(this.redis, this.#pacerKeys.pause)) > 0) return [];
    const worker = await this.#workerFor(options.leaseMs);
    // One fetch is one script call; they go out a few at a time, and stop at the first round that comes
    // back short, so that an idle queue costs a handful of calls per poll rather than `limit`.
    const jobs: Job<CallJobData, DeliveredValue>[] = [];
    while (jobs.length < options.limit) {
      const round = Math.min(LEASE_ROUND, options.limit - jobs.length);
      const got = await Promise.all(Array.from({ length: round }, () => worker.getNextJob(options.owner, { block: false })));
      const fetched = got.filter((j): j is Job<CallJobData, DeliveredValue> => j !== undefined);
      jobs.push(...fetched);
      if (fetched.length < round) break;
    }
    const now = Date.now();
    for (const job of jobs) {
      // A job the stalled check moved back (its holder's lease expired in flight) may have been sent:
      // uncertain (docs/architecture.md, "Delivery" → "Uncertain attempts"). Kept on the held job, so the
      // settlement writes it; a job that stalls again is told by the counter again.
      const meta = job.data.meta;
      const stalled = job.stalledCounter > (meta.stalledSeen ?? 0);
      if (stalled) job.data = { ...job.data, meta: { ...meta, uncertain: true, stalledSeen: job.stalledCounter } };
      this.#leased.set(job.id as string, job);
    }
    return jobs.map((job) => toItem(this.#cipher, job, 'in_flight', { owner: options.owner, until: now + options.leaseMs, dueAt: null }));
  }

  /** @inheritdoc */
  async settleAndLease(owner: string, settlements: readonly Settlement[], lease: Omit<LeaseOptions, 'owner'>): Promise<OutboxItem[]> {
    this.#open();
    checkLease(lease, owner);
    settlements.forEach(checkSettlement);
    await this.settle(owner, settlements);
    return this.lease({ ...lease, owner });
  }

  /**
   * @inheritdoc
   * Checked whole before anything is written; then each settlement is one BullMQ move (and, for a
   * failure, an update of our counters first), all of them at once.
   */
  async settle(owner: string, settlements: readonly Settlement[]): Promise<void> {
    this.#open();
    settlements.forEach(checkSettlement);
    await Promise.all(settlements.map((s) => this.#settleOne(owner, s)));
  }

  /** @inheritdoc */
  async checkpointRecording(callId: string, checkpoint: Partial<Omit<RecordingCheckpoint, 'path'>>): Promise<void> {
    this.#open();
    for (const key of ['size', 'duration'] as const) {
      const v = checkpoint[key];
      if (v !== undefined && v !== null && !Number.isFinite(v)) throw new TypeError(`recording ${key} must be a finite number, got ${v}`);
    }
    const job = await this.#job(callId);
    if (job === undefined) throw new CrmUploadError(`no outbox item ${callId} to checkpoint the recording on`, { code: 'E_OUTBOX_MISSING', callId });
    const recording = { ...job.data.recording };
    for (const key of ['url', 'size', 'duration', 'note'] as const) {
      if (checkpoint[key] !== undefined) Object.assign(recording, { [key]: checkpoint[key] });
    }
    // In the job's data (BullMQ's updateData), before the call-data POST: a retry on any host finds it.
    await job.updateData({ ...job.data, recording, meta: { ...job.data.meta, updatedAt: Date.now() } });
    const held = this.#leased.get(callId);
    if (held !== undefined) held.data = { ...held.data, recording };
  }

  /**
   * @inheritdoc
   * BullMQ puts a job given back at the head of the wait list, so they go back latest-due first, one
   * after another, and come out again in their due order.
   */
  async release(owner: string, callIds: readonly string[], options: { uncertain?: readonly string[] } = {}): Promise<void> {
    this.#open();
    const uncertain = new Set(options.uncertain ?? []);
    const jobs: Job<CallJobData, DeliveredValue>[] = [];
    for (const callId of new Set(callIds)) {
      const job = this.#leased.get(callId) ?? (await this.#job(callId));
      if (job !== undefined) jobs.push(job);
    }
    jobs.sort((a, b) => dueOf(b) - dueOf(a) || b.timestamp - a.timestamp);
    for (const job of jobs) {
      try {
        const id = job.id as string;
        const meta = job.data.meta;
        // Written only while we hold the lease, as a failure's counters are (see `#fail`).
        if (uncertain.has(id) || (meta.uncertain === true && meta.stalledSeen !== undefined)) {
          const marked = { ...meta, uncertain: meta.uncertain === true || uncertain.has(id), stalledSeen: job.stalledCounter };
          if (!(await updateDataIfHeld(this.redis, this.#queue, id, owner, { ...job.data, meta: marked }))) continue;
        }
        await job.moveToWait(owner);
        this.#leased.delete(job.id as string);
      } catch (err) {
        if (!isRefusal(err)) throw err;
      }
    }
  }

  /** @inheritdoc */
  async get(callId: string): Promise<OutboxItem | null> {
    this.#open();
    const job = await this.#job(callId);
    if (job === undefined) return null;
    const bull = await job.getState();
    return this.#toStoredItem(job, bull);
  }

  /** @inheritdoc */
  async states(callIds: readonly string[]): Promise<Map<string, OutboxState>> {
    this.#open();
    const out = new Map<string, OutboxState>();
    const unique = [...new Set(callIds)];
    const states = await Promise.all(unique.map((id) => this.#queue.getJobState(id)));
    unique.forEach((id, i) => {
      const s = mapState(states[i] ?? 'unknown');
      if (s !== null) out.set(id, s);
    });
    return out;
  }

  /** @inheritdoc */
  async counts(): Promise<OutboxCounts> {
    this.#open();
    const c = await this.#queue.getJobCounts('wait', 'paused', 'prioritized', 'delayed', 'waiting-children', 'active', 'completed', 'failed');
    const pending = (c.wait ?? 0) + (c.paused ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0) + (c['waiting-children'] ?? 0);
    const [next, oldest] = await Promise.all([this.nextDueAt(), this.redis.zrange(this.key('open'), 0, 0, 'WITHSCORES')]);
    return {
      pending,
      in_flight: c.active ?? 0,
      delivered: c.completed ?? 0,
      dead: c.failed ?? 0,
      nextAttemptAt: next,
      oldestPendingAt: oldest[1] === undefined ? null : Number(oldest[1]),
    };
  }

  /**
   * @inheritdoc
   * The queue's rate-limit hold (a 429's Retry-After) puts every due time off until it ends.
   */
  async nextDueAt(options: { callIds?: readonly string[] } = {}): Promise<number | null> {
    this.#open();
    const now = Date.now();
    let next: number | null;
    if (options.callIds !== undefined) {
      next = await this.#nextDueOf(options.callIds, now);
    } else {
      const { dueNow, earliestDelayed, active } = await queueSnapshot(this.redis, this.#queue);
      const times: number[] = [];
      if (dueNow > 0) times.push(now);
      if (earliestDelayed !== null) times.push(earliestDelayed);
      if (active.length > 0) times.push(...(await this.#leaseEnds(active, now)));
      next = times.length === 0 ? null : Math.min(...times);
    }
    if (next === null) return null;
    const held = await holdLeftMs(this.redis, this.#pacerKeys.pause);
    return held > 0 ? Math.max(next, now + held) : next;
  }

  /**
   * @inheritdoc
   * Reads only the ids and enqueue times of the state's jobs, then the jobs of the page: a long
   * dead-letter list costs a small read per job, not its payload.
   */
  async list(options: { state: OutboxState; limit?: number; offset?: number }): Promise<OutboxItem[]> {
    this.#open();
    const types: JobType[] = { pending: PENDING_TYPES, in_flight: ['active'] as JobType[], delivered: ['completed'] as JobType[], dead: ['failed'] as JobType[] }[options.state];
    const ids = [...new Set(await this.#queue.getRanges(types, 0, -1, true))];
    const stamps = await Promise.all(ids.map((id) => this.redis.hget(this.#queue.toKey(id), 'timestamp')));
    // "Oldest first" is by enqueue time; BullMQ's sets are ordered by other things (due or finish times).
    const order = ids.map((id, i) => ({ id, t: Number(stamps[i] ?? 0) })).sort((a, b) => a.t - b.t || a.id.localeCompare(b.id));
    const offset = options.offset ?? 0;
    const page = order.slice(offset, options.limit === undefined ? undefined : offset + options.limit);
    const items = await Promise.all(page.map(async ({ id }) => {
      const job = await this.#job(id);
      return job === undefined ? null : this.#toStoredItem(job, null, options.state);
    }));
    return items.filter((i): i is OutboxItem => i !== null);
  }

  /** @inheritdoc */
  async replay(target: readonly string[] | 'all'): Promise<number> {
    this.#open();
    const ids = target === 'all' ? await this.#queue.getRanges(['failed'], 0, -1, true) : [...new Set(target)];
    return this.#reprocess(ids, 'failed');
  }

  /** @inheritdoc */
  async requeue(callIds: readonly string[]): Promise<number> {
    this.#open();
    return this.#reprocess([...new Set(callIds)], 'completed');
  }

  /** @inheritdoc */
  async listDelivered(query: DeliveredQuery = {}): Promise<OutboxItem[]> {
    this.#open();
    const from = query.startFrom === undefined ? '-inf' : String(query.startFrom);
    const to = query.startTo === undefined ? '+inf' : String(query.startTo);
    const ids = await this.redis.zrangebyscore(this.key('start'), from, to);
    const scores = await Promise.all(ids.map((id) => this.redis.zscore(this.#queue.toKey('completed'), id)));
    const delivered = ids.filter((_, i) => scores[i] !== null);
    const offset = query.offset ?? 0;
    const page = delivered.slice(offset, query.limit === undefined ? undefined : offset + query.limit);
    const items = await Promise.all(page.map(async (id) => {
      const job = await this.#job(id);
      return job === undefined ? null : this.#toStoredItem(job, null, 'delivered');
    }));
    return items.filter((i): i is OutboxItem => i !== null);
  }

  /**
   * @inheritdoc
   * BullMQ's completed set is scored by finish time (ms), which is the delivery: one range read gives the
   * ids and delivery times (ties come back by member, i.e. callId), then one field per job, the enqueue time.
   */
  async listDeliveredByTime(query: DeliveredTimeQuery): Promise<DeliveryTimes[]> {
    this.#open();
    const to = query.to === undefined ? '+inf' : String(query.to);
    const flat =
      query.limit === undefined
        ? await this.redis.zrangebyscore(this.#queue.toKey('completed'), String(query.from), to, 'WITHSCORES')
        : await this.redis.zrangebyscore(this.#queue.toKey('completed'), String(query.from), to, 'WITHSCORES', 'LIMIT', query.offset ?? 0, query.limit);
    const found: { callId: string; deliveredAt: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) found.push({ callId: flat[i] as string, deliveredAt: Number(flat[i + 1]) });
    const stamps = await Promise.all(found.map((f) => this.redis.hget(this.#queue.toKey(f.callId), 'timestamp')));
    // A job removed between the two reads (requeued, or cleaned by hand) has no timestamp: left out.
    return found.flatMap((f, i) => (stamps[i] === null || stamps[i] === undefined ? [] : [{ ...f, createdAt: Number(stamps[i]) }]));
  }

  /**
   * @inheritdoc
   * BullMQ's own `clean` removes the jobs (hash and log) in one script per call, by finish time: the completed
   * set (scored by finish time, the delivery) for delivered, the failed set for dead. The grace it takes is
   * counted from its own clock reading, a moment later than ours, so it is given 1 ms more: an item delivered
   * at `deliveredBefore` or a few ms earlier may stay until the next purge, never one delivered later. The
   * store's own index entries go with them, and the queue's events before the cut (with `dead`, all of them).
   * Redis keeps removed data in its AOF and RDB files until they are
   * next rewritten (docs/architecture.md, "Stores" → "Retention").
   */
  async purge(options: PurgeOptions): Promise<PurgeResult> {
    this.#open();
    const { limit, deliveredBefore } = options;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new TypeError(`purge limit must be a whole number ≥ 1, got ${limit}`);
    if (deliveredBefore !== undefined && !Number.isFinite(deliveredBefore)) throw new TypeError(`purge deliveredBefore must be a time in epoch ms, got ${deliveredBefore}`);
    const completed = this.#queue.toKey('completed');
    const failed = this.#queue.toKey('failed');
    const cap = (n: number): number => (limit === undefined ? n : Math.min(n, limit));
    if (options.dryRun === true) {
      const delivered = deliveredBefore === undefined ? 0 : cap(await this.redis.zcount(completed, '-inf', `(${deliveredBefore}`));
      const dead = options.dead === true ? cap(await this.redis.zcard(failed)) : 0;
      return { delivered, dead, recordingPaths: [] };
    }
    // The recording paths are read first: `clean` answers only ids. A job delivered meanwhile is newer than
    // the cut, and the sets are cleaned oldest first, as read.
    const paths = new Map<string, string>();
    const readPaths = async (ids: readonly string[]): Promise<void> => {
      const data = await Promise.all(ids.map((id) => this.redis.hget(this.#queue.toKey(id), 'data')));
      for (const [i, text] of data.entries()) {
        const path = text === null || text === undefined ? null : (JSON.parse(text) as CallJobData).recording?.path ?? null;
        if (path !== null) paths.set(ids[i] as string, path);
      }
    };
    let delivered: string[] = [];
    if (deliveredBefore !== undefined) {
      const cut = `(${deliveredBefore}`;
      await readPaths(limit === undefined ? await this.redis.zrangebyscore(completed, '-inf', cut) : await this.redis.zrangebyscore(completed, '-inf', cut, 'LIMIT', 0, limit));
      delivered = await this.#queue.clean(Math.max(0, Date.now() - deliveredBefore + 1), limit ?? 0, 'completed');
    }
    let dead: string[] = [];
    if (options.dead === true) {
      await readPaths(await this.redis.zrange(failed, 0, limit === undefined ? -1 : limit - 1));
      dead = await this.#queue.clean(0, limit ?? 0, 'failed');
    }
    const removed = [...delivered, ...dead];
    if (removed.length > 0) {
      await this.redis.multi().zrem(this.key('start'), ...removed).zrem(this.key('open'), ...removed).exec();
      // The event stream names the jobs and quotes a dead one's failure: its entries go up to the cut (with
      // dead, up to now), as history, since nothing here reads them back (bullmq-internals.ts, use 6).
      await trimEventsBefore(this.redis, this.#queue, dead.length > 0 ? Date.now() : (deliveredBefore ?? 0));
    }
    const recordingPaths = [...new Set(removed.flatMap((id) => paths.get(id) ?? []))];
    return { delivered: delivered.length, dead: dead.length, recordingPaths };
  }

  /** @inheritdoc */
  async history(callId: string): Promise<AttemptLogEntry[]> {
    this.#open();
    const { logs } = await this.#queue.getJobLogs(callId, 0, -1, true);
    const out: AttemptLogEntry[] = [];
    for (const line of logs) {
      try {
        out.push(JSON.parse(line) as AttemptLogEntry);
      } catch {
        // A log line written by something else than crm-upload: not part of the attempt history.
      }
    }
    return out;
  }

  /** @inheritdoc */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#workers.values()].map((w) => w.close(true)));
    this.#workers.clear();
    await this.#queue.close();
    this.#workerRedis?.disconnect();
    this.redis.disconnect();
  }

  /** Stop every worker on every host from leasing (BullMQ's global pause); in-flight jobs finish. */
  async pause(): Promise<void> {
    this.#open();
    await this.#queue.pause();
  }

  /** Undo `pause`. */
  async resume(): Promise<void> {
    this.#open();
    await this.#queue.resume();
  }

  /** How many processes are leasing from this queue now (BullMQ's worker connections), for `status`. */
  async workers(): Promise<number> {
    this.#open();
    return this.#queue.getWorkersCount();
  }

  /** Empty the queue and every key of it (tests, and `obliterate` by an operator). */
  async obliterate(): Promise<void> {
    this.#open();
    await this.#queue.obliterate({ force: true });
    const pacer = this.#pacerKeys;
    // `pacer:last` is the last-grant key older versions wrote.
    await this.redis.del(this.key('open'), this.key('start'), pacer.slot, pacer.shift, pacer.second, pacer.pause, this.key('pacer:last'));
  }

  async #settleOne(owner: string, s: Settlement): Promise<void> {
    const held = this.#leased.get(s.callId);
    // A job this store did not lease is read through a worker (any of this store's, else one made for
    // it): a retry's backoff strategy is a worker setting, and BullMQ looks it up on the queue object
    // the job was read with.
    const job = held ?? (await this.#job(s.callId, this.#workers.values().next().value ?? (await this.#workerFor(DEFAULT_LEASE_MS))));
    if (job === undefined) return;
    const applied = s.kind === 'delivered' ? await this.#deliver(job, owner, s.status) : await this.#fail(job, owner, s);
    if (!applied) return;
    this.#leased.delete(s.callId);
    const m = this.redis.multi();
    if (s.kind === 'delivered' || s.kind === 'dead') m.zrem(this.key('open'), s.callId);
    const logKey = logsKey(this.#queue, s.callId);
    for (const entry of s.log ?? []) m.rpush(logKey, JSON.stringify(entry));
    await m.exec();
  }

  /**
   * Completed, whoever reports it, as long as the job is in flight: a 2xx is a fact about the CRM. With
   * the owner's lock when it still holds one, else without (token '0'), which BullMQ refuses for a job
   * that is not active — one moved back by the stalled check is then simply sent again, same key.
   */
  async #deliver(job: Job<CallJobData, DeliveredValue>, owner: string, status: number | null): Promise<boolean> {
    for (const token of [owner, NO_LOCK_TOKEN]) {
      try {
        await job.moveToCompleted({ status }, token, false);
        // Without a token BullMQ leaves the lock in place: the holder's next move must find it gone.
        if (token === NO_LOCK_TOKEN) await dropLock(this.redis, this.#queue, job.id as string);
        return true;
      } catch (err) {
        if (!isRefusal(err)) throw err;
      }
    }
    return false;
  }

  /** A retry, wait or dead: only while `owner` holds the lock; our counters first, then the move. */
  async #fail(job: Job<CallJobData, DeliveredValue>, owner: string, s: Exclude<Settlement, { kind: 'delivered' }>): Promise<boolean> {
    const now = Date.now();
    const meta: JobMeta = {
      ...job.data.meta,
      lastStatus: s.status,
      lastError: s.error,
      nextAttemptAt: s.kind === 'dead' ? job.data.meta.nextAttemptAt : s.nextAttemptAt,
      rateLimitWaits: job.data.meta.rateLimitWaits + (s.kind === 'wait' ? 1 : 0),
      uncounted: job.data.meta.uncounted + (s.kind === 'dead' && !s.countAttempt ? 1 : 0),
      updatedAt: now,
      uncertain: s.uncertain ?? job.data.meta.uncertain ?? false,
      stalledSeen: job.stalledCounter,
    };
    // Written only while we hold the lease (checked in the same script), so a stale owner changes
    // nothing and it never lands on top of another owner's checkpoint.
    const id = job.id as string;
    if (!(await updateDataIfHeld(this.redis, this.#queue, id, owner, { ...job.data, meta }))) return false;
    job.data = { ...job.data, meta };
    try {
      if (s.kind === 'wait') {
        await job.moveToDelayed(Math.max(s.nextAttemptAt, now), owner);
      } else if (s.kind === 'retry') {
        await job.moveToFailed(new RetryError(s.error, Math.max(0, s.nextAttemptAt - now)), owner, false);
      } else {
        job.discard();
        await job.moveToFailed(new Error(s.error), owner, false);
      }
      return true;
    } catch (err) {
      if (isRefusal(err)) return false;
      throw err;
    }
  }

  /** Failed or completed jobs back to waiting, attempts and waits reset; how many moved. */
  async #reprocess(callIds: readonly string[], from: 'failed' | 'completed'): Promise<number> {
    let moved = 0;
    const now = Date.now();
    for (const callId of callIds) {
      const job = await this.#job(callId);
      if (job === undefined || (await job.getState()) !== from) continue;
      const meta: JobMeta = { ...job.data.meta, rateLimitWaits: 0, uncounted: 0, nextAttemptAt: now, updatedAt: now };
      // A delivered job's last status is its returnvalue, which the move back drops.
      if (from === 'completed') meta.lastStatus = job.returnvalue?.status ?? meta.lastStatus;
      await job.updateData({ ...job.data, meta });
      try {
        await job.retry(from, { resetAttemptsMade: true, resetAttemptsStarted: true });
      } catch (err) {
        if (isRefusal(err)) continue;
        throw err;
      }
      await this.redis.zadd(this.key('open'), job.timestamp, callId);
      moved += 1;
    }
    return moved;
  }

  /** The leasing worker for leases of `leaseMs` (created once, with its stalled-job check running). */
  async #workerFor(leaseMs: number): Promise<Worker<CallJobData, DeliveredValue>> {
    let worker = this.#workers.get(leaseMs);
    if (worker !== undefined) return worker;
    this.#workerRedis ??= (() => {
      const r = new Redis(this.target.connectionUrl, redisOptions(true));
      r.on('error', () => undefined);
      return r;
    })();
    const policy = this.#options.retryPolicy ?? DEFAULT_RETRY_POLICY;
    worker = new Worker<CallJobData, DeliveredValue>(this.target.queue, null, {
      connection: this.#workerRedis,
      prefix: this.target.prefix,
      autorun: false,
      lockDuration: leaseMs,
      stalledInterval: this.#options.stalledIntervalMs ?? Math.min(30_000, Math.max(250, Math.round(leaseMs / 2))),
      maxStalledCount: MAX_STALLED,
      settings: {
        // docs/architecture.md's schedule with ±20% jitter; a retry settled by our worker says its delay itself.
        backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
          err instanceof RetryError ? err.delayMs : delayAfter(policy, attemptsMade),
      },
    });
    worker.on('error', () => undefined);
    this.#workers.set(leaseMs, worker);
    // A leasing process is a worker: an outcome, a due time or a pacer slot asked of Redis while it
    // restarts must wait for it, as BullMQ's own worker commands do, rather than fail and end the worker
    // (docs/architecture.md, "Stores" → "BullMQ"). ioredis reads this setting at each reconnect.
    this.redis.options.maxRetriesPerRequest = null;
    // Manual fetching does not start BullMQ's stalled-job check on its own; every leasing process runs
    // it, so a lease left by a process that died comes back wherever workers still run.
    await worker.startStalledCheckTimer();
    return worker;
  }

  async #job(callId: string, via: Queue<CallJobData, DeliveredValue> | Worker<CallJobData, DeliveredValue> = this.#queue): Promise<Job<CallJobData, DeliveredValue> | undefined> {
    return (await Job.fromId<CallJobData, DeliveredValue>(via, callId)) ?? undefined;
  }

  async #stateOf(callId: string): Promise<OutboxState> {
    const s = mapState(await this.#queue.getJobState(callId));
    if (s === null) throw new Error(`outbox item ${callId} was enqueued but cannot be read back`);
    return s;
  }

  /** When the leases of these active jobs end (now for a lock already gone). */
  async #leaseEnds(active: readonly string[], now: number): Promise<number[]> {
    return (await locksLeftMs(this.redis, this.#queue, active)).map((left) => now + left);
  }

  async #nextDueOf(callIds: readonly string[], now: number): Promise<number | null> {
    const unique = [...new Set(callIds)];
    const states = await Promise.all(unique.map((id) => this.#queue.getJobState(id)));
    const times = await Promise.all(
      unique.map(async (id, i): Promise<number | null> => {
        switch (states[i]) {
          case 'waiting':
          case 'prioritized':
          case 'waiting-children':
            return now;
          case 'delayed':
            return (await delayedDueAt(this.redis, this.#queue, id)) ?? now;
          case 'active':
            return (await this.#leaseEnds([id], now))[0] ?? now;
          default:
            return null;
        }
      }),
    );
    const known = times.filter((t): t is number => t !== null);
    return known.length === 0 ? null : Math.min(...known);
  }

  /** The item as stored: state, lease (from the lock) and due time (from the delayed set) read now. */
  async #toStoredItem(job: Job<CallJobData, DeliveredValue>, bull: string | null, known?: OutboxState): Promise<OutboxItem> {
    const state = known ?? mapState(bull ?? (await job.getState())) ?? 'pending';
    const id = job.id as string;
    if (state === 'in_flight') {
      const { owner, leftMs } = await leaseOf(this.redis, this.#queue, id);
      return toItem(this.#cipher, job, state, { owner, until: leftMs <= 0 ? null : Date.now() + leftMs, dueAt: null });
    }
    if (state === 'pending') {
      return toItem(this.#cipher, job, state, { owner: null, until: null, dueAt: await delayedDueAt(this.redis, this.#queue, id) });
    }
    return toItem(this.#cipher, job, state, { owner: null, until: null, dueAt: null });
  }

  #open(): void {
    if (this.#closed) throw new CrmUploadError(`the outbox ${this.target.shown} is closed`, { code: 'E_OUTBOX_CLOSED' });
  }
}

/** ioredis settings: a worker's connection must wait out Redis outages (BullMQ requires it). */
function redisOptions(worker: boolean): RedisOptions {
  return worker ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 3, enableReadyCheck: true };
}

/** When a job was (last) made due. */
function dueOf(job: Job<CallJobData, DeliveredValue>): number {
  return job.data.meta.nextAttemptAt ?? job.timestamp;
}

function jobOptions(callId: string, now: number): JobsOptions {
  return {
    jobId: callId,
    timestamp: now,
    attempts: JOB_ATTEMPTS,
    backoff: { type: BACKOFF_TYPE },
    // Delivered and dead jobs are kept: a re-run must find them (and skip them), dead-letter lists them.
    removeOnComplete: false,
    removeOnFail: false,
  };
}

function mapState(s: string): OutboxState | null {
  switch (s) {
    case 'waiting':
    case 'wait':
    case 'paused':
    case 'prioritized':
    case 'delayed':
    case 'waiting-children':
      return 'pending';
    case 'active':
      return 'in_flight';
    case 'completed':
      return 'delivered';
    case 'failed':
      return 'dead';
    default:
      return null;
  }
}

function toItem(
  cipher: PayloadCipher,
  job: Job<CallJobData, DeliveredValue>,
  state: OutboxState,
  live: { owner: string | null; until: number | null; dueAt: number | null },
): OutboxItem {
  const data = job.data;
  const meta = data.meta;
  const delivered = state === 'delivered';
  const finished = job.finishedOn ?? null;
  return {
    callId: job.id as string,
    payload: cipher.open(job.id as string, data.payload),
    sourceFile: data.sourceFile,
    state,
    attempts: Math.max(0, job.attemptsMade - meta.uncounted),
    rateLimitWaits: meta.rateLimitWaits,
    nextAttemptAt: live.dueAt ?? meta.nextAttemptAt ?? job.timestamp,
    leaseOwner: state === 'in_flight' ? live.owner : null,
    leaseUntil: state === 'in_flight' ? live.until : null,
    lastStatus: delivered ? (job.returnvalue?.status ?? null) : meta.lastStatus,
    lastError: delivered ? null : meta.lastError,
    recording: data.recording,
    createdAt: job.timestamp,
    updatedAt: Math.max(job.timestamp, meta.updatedAt, job.processedOn ?? 0, finished ?? 0),
    deliveredAt: delivered ? finished : null,
    uncertain: !delivered && meta.uncertain === true,
  };
}

function checkNewItem(item: NewOutboxItem): void {
  if (typeof item.callId !== 'string' || item.callId === '') throw new InputError('an outbox item needs a non-empty callId', { code: 'E_OUTBOX_ITEM' });
  // BullMQ reserves ids that are whole numbers for its own counter, and ':' separates its keys.
  if (/^\d+$/.test(item.callId) || item.callId.includes(':')) {
    throw new InputError(`callId ${item.callId} cannot be a BullMQ job id (digits only, or a ':')`, { code: 'E_OUTBOX_ITEM', callId: item.callId });
  }
  if (item.payload === null || typeof item.payload !== 'object') {
    throw new InputError(`outbox item ${item.callId} has no payload object`, { code: 'E_OUTBOX_ITEM', callId: item.callId });
  }
}

function checkLease(options: Omit<LeaseOptions, 'owner'>, owner: string): void {
  const { limit, leaseMs } = options;
  if (!Number.isInteger(limit) || limit < 0) throw new TypeError(`lease limit must be a whole number ≥ 0, got ${limit}`);
  if (!Number.isFinite(leaseMs) || leaseMs <= 0) throw new TypeError(`leaseMs must be > 0, got ${leaseMs}`);
  if (owner === '' || owner === '0') throw new TypeError(`lease owner must not be empty or "0", got "${owner}"`);
}

function checkSettlement(s: Settlement): void {
  const kind = (s as { kind?: unknown }).kind;
  if (typeof s.callId !== 'string' || s.callId === '') throw new TypeError('a settlement needs a callId');
  if (kind !== 'delivered' && kind !== 'retry' && kind !== 'wait' && kind !== 'dead') {
    throw new TypeError(`unknown settlement ${JSON.stringify(s)}`);
  }
  if ((kind === 'retry' || kind === 'wait') && !Number.isFinite((s as { nextAttemptAt?: unknown }).nextAttemptAt)) {
    throw new TypeError(`settlement of ${s.callId} needs a nextAttemptAt`);
  }
}
