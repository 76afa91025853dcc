/**
 * The fault campaign's shared checks (issue 17): every scenario judges the run from the CRM's side, through
 * the local CRM's admin routes, and from the outbox:
 *
 * - every call delivered, stored once, with exactly the payload that was enqueued;
 * - each callId's call-data POSTs under its one Idempotency-Key, every repeat with identical bytes;
 * - repeats within the bound the scenario documents (docs/architecture.md, "Delivery" → "What a crash can
 *   repeat");
 * - each recording uploaded at most once more than needed, under its one key, and stored once;
 * - nothing left in flight in the outbox;
 * - the process still working: a fresh call enqueued afterwards is delivered.
 *
 * `CRM_CHAOS_FULL=1` (`npm run chaos`) selects the long versions of the scenarios; `npm test` runs the
 * short ones.
 */
import assert from 'node:assert/strict';
import { idempotencyKey } from '../../src/crm/idempotency.ts';
import type { OutboxStore } from '../../src/outbox/outbox-store.ts';
import type { CallPayload } from '../../src/payload/call-payload.ts';
import type { CrmAdmin, RequestRecord } from '../helpers/local-crm.ts';

/** True under `npm run chaos`: the long versions of the scenarios. */
export const CHAOS_FULL = process.env.CRM_CHAOS_FULL === '1';

/** True on CI, where a scenario that cannot set up its fault must fail rather than skip. */
export const ON_CI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

/** The CRM paths, as the local CRM logs them. */
export const CALL_DATA_PATH = '/apis/api/public/call-data';
export const UPLOAD_PATH = '/apis/api/public/upload';

/** What a scenario allows. */
export interface CrmCheckOptions {
  /** Most call-data POSTs any one call may have taken (the scenario's documented bound). */
  maxPostsPerCall: number;
  /** Calls sent with a recording, and how many upload requests each needed at best (1). */
  recordings?: readonly string[];
  /** Most upload requests per recording; default 2 (once more than needed). */
  maxUploadsPerRecording?: number;
}

/** What the CRM saw, summed up for a test's diagnostic line. */
export interface CrmCheckReport {
  posts: number;
  uploads: number;
  /** callId → call-data POSTs it took. */
  postsPerCall: Map<string, number>;
  repeatedCalls: number;
}

/** Group records by a key, keeping order. */
export function groupBy<T>(records: readonly T[], key: (r: T) => string | null): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of records) {
    const k = key(r);
    if (k === null) continue;
    out.set(k, [...(out.get(k) ?? []), r]);
  }
  return out;
}

/**
 * Assert, from the CRM's side, that exactly `expected` were delivered, each once, each under one key with
 * identical bytes, within the scenario's bound. `compare` maps a stored payload before comparing it with
 * the enqueued one (a delivered recording adds its URL and figures).
 */
export async function assertCrmSide(
  admin: Pick<CrmAdmin, 'calls' | 'stats' | 'requests'>,
  expected: readonly CallPayload[],
  options: CrmCheckOptions,
  compare: (stored: CallPayload) => CallPayload = (p) => p,
): Promise<CrmCheckReport> {
  const calls = await admin.calls();
  const stats = await admin.stats();
  const wanted = new Map(expected.map((p) => [p.callDetails.callId, p]));
  // Delivered, each once: the CRM holds exactly the expected calls, no copy, no stranger.
  assert.equal(calls.length, expected.length, `the CRM holds ${calls.length} calls, expected ${expected.length}`);
  assert.deepEqual(new Set(calls.map((c) => c.callDetails.callId)), new Set(wanted.keys()));
  for (const stored of calls) assert.deepEqual(compare(stored), wanted.get(stored.callDetails.callId), `payload of ${stored.callDetails.callId}`);
  assert.equal(stats.created, expected.length, `created ${stats.created}, expected ${expected.length}`);

  const requests = await admin.requests();
  const posts = requests.filter((r) => r.method === 'POST' && r.path === CALL_DATA_PATH);
  const byCall = groupBy(posts, (r) => r.callId);
  const postsPerCall = new Map<string, number>();
  for (const [callId, records] of byCall) {
    assert.ok(wanted.has(callId), `a POST of a call never enqueued: ${callId}`);
    assert.deepEqual(uniq(records.map((r) => r.idempotencyKey)), [idempotencyKey(callId, 'call-data')], `${callId} went out under several keys`);
    assert.equal(uniq(records.map((r) => r.bodySha256)).length, 1, `${callId} went out with different bytes`);
    assert.ok(records[0]?.bodySha256, `${callId}: no body hash logged`);
    assert.ok(records.length <= options.maxPostsPerCall, `${callId} took ${records.length} POSTs, more than the bound ${options.maxPostsPerCall}`);
    postsPerCall.set(callId, records.length);
  }
  for (const callId of wanted.keys()) assert.ok(byCall.has(callId), `${callId} was never POSTed`);

  const uploads = requests.filter((r) => r.method === 'POST' && r.path === UPLOAD_PATH);
  const recordings = options.recordings ?? [];
  if (recordings.length > 0 || uploads.length > 0) {
    const keys = new Set(recordings.map((id) => idempotencyKey(id, 'recording')));
    const byKey = groupBy(uploads, (r) => r.idempotencyKey);
    for (const [key, records] of byKey) {
      assert.ok(keys.has(key), `an upload under a key of no recording: ${key}`);
      assert.ok(records.length <= (options.maxUploadsPerRecording ?? 2), `${key}: ${records.length} uploads, more than once more than needed`);
    }
    assert.equal(uploads.filter((r) => r.idempotencyKey === null).length, 0, 'an upload without Idempotency-Key');
    assert.ok(stats.uploadsStored <= recordings.length, `${stats.uploadsStored} recordings stored for ${recordings.length} calls with one`);
  }
  return { posts: posts.length, uploads: uploads.length, postsPerCall, repeatedCalls: [...postsPerCall.values()].filter((n) => n > 1).length };
}

/** Assert that the outbox holds nothing pending or in flight, and `delivered` / `dead` as given. */
export async function assertOutboxSettled(store: OutboxStore, want: { delivered: number; dead?: number }): Promise<void> {
  const counts = await store.counts();
  assert.deepEqual(
    { pending: counts.pending, in_flight: counts.in_flight, delivered: counts.delivered, dead: counts.dead },
    { pending: 0, in_flight: 0, delivered: want.delivered, dead: want.dead ?? 0 },
  );
}

/** The records of one call-data POSTs of `callId`, in order. */
export function postsOf(requests: readonly RequestRecord[], callId: string): RequestRecord[] {
  return requests.filter((r) => r.method === 'POST' && r.path === CALL_DATA_PATH && r.callId === callId);
}

function uniq<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
