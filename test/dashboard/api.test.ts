/**
 * The dashboard over real HTTP, on each backend: counts, last hour, dead letter and the per-call
 * timeline for an outbox seeded by a real worker against the local CRM; Replay through the JSON API and
 * a worker delivering the replayed call exactly once more; masking; and the safety checks (foreign
 * `Host` → 421, cross-origin → 403, no token → 401, no CORS headers anywhere).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/config.ts';
import type { SummaryView, CallView } from '../../src/dashboard/view-model.ts';
import { startDashboard, type DashboardServer } from '../../src/dashboard/server.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { BACKENDS, deliverOnce, rawRequest, testItem, type TestOutbox } from './fixture.ts';

const TOKEN = 'test-token-0123456789abcdef';
const PHONE = '+919812345678';
const REASON = `callerNumber ${PHONE} is not valid; write to ops.team@example.com`;

for (const backend of BACKENDS) {
  describe(`dashboard API (${backend.name})`, { skip: backend.skip }, () => {
    let crm: LocalCrm;
    let outbox: TestOutbox;
    let dash: DashboardServer;
    const items = [0, 1, 2, 3, 4].map((i) => testItem(900 + i, { startedAgoMs: 60_000 + i * 1000, ...(i === 2 ? { phone: PHONE } : {}) }));
    const ids = items.map((i) => i.callId);
    const [ok0, ok1, dead2, dead3, ok4] = ids as [string, string, string, string, string];
    const later = testItem(905, { startedAgoMs: 30_000 });
    const json = async <T>(path: string): Promise<T> => {
      const res = await rawRequest(dash.port, path, { headers: { accept: 'application/json' } });
      assert.equal(res.status, 200, `${path}: ${res.body}`);
      return JSON.parse(res.body) as T;
    };
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      rawRequest(dash.port, '/api/dead-letter/replay', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, origin: `http://127.0.0.1:${dash.port}`, 'sec-fetch-site': 'same-origin', ...headers },
        body: JSON.stringify(body),
      });

    before(async () => {
      crm = await startTestCrm();
      outbox = await backend.open();
      await outbox.store.enqueueMany(items);
      const seeded = await deliverOnce(outbox.store, crm, { dead: [dead2, dead3], message: REASON });
      assert.deepEqual({ delivered: seeded.delivered, dead: seeded.dead }, { delivered: 3, dead: 2 });
      await outbox.store.enqueue(later);
      const config = loadConfig({ env: { CRM_OUTBOX: outbox.target }, envFile: null });
      dash = await startDashboard({ config, store: outbox.store, port: 0, token: TOKEN, refreshMs: 200, sampleMs: 60_000, readEveryMs: 0 });
    });
    after(async () => {
      await dash?.close();
      await outbox?.cleanup();
      await crm?.close();
    });

    test('summary: exact counts, the last hour, the dead letter with status, reason and attempts (masked)', async () => {
      const s = await json<SummaryView>('/api/summary');
      assert.deepEqual(s.counts, { pending: 1, in_flight: 0, delivered: 3, dead: 2 });
      assert.equal(typeof s.oldestPendingAt, 'number');
      assert.equal(s.stats.buckets.length, 12);
      assert.equal(s.stats.buckets.reduce((n, b) => n + b.delivered, 0), 3, 'the 3 delivered calls are in the last hour');
      // Summed, not read from the last bucket: the seeding may straddle a 5-minute boundary.
      assert.equal(s.stats.buckets.reduce((n, b) => n + (b.latency?.count ?? 0), 0), 3, 'each with its latency');
      assert.ok(s.stats.buckets.every((b) => b.latency === null || (b.latency.p50Ms >= 0 && b.latency.p50Ms <= b.latency.p95Ms && b.latency.p95Ms <= b.latency.maxMs)));
      assert.equal(s.dead.total, 2);
      assert.deepEqual(new Set(s.dead.rows.map((r) => r.callId)), new Set([dead2, dead3]));
      for (const row of s.dead.rows) {
        assert.equal(row.lastStatus, 400);
        assert.equal(row.attempts, 1);
        assert.equal(row.reason, 'HTTP 400: callerNumber +**********78 is not valid; write to o***@example.com');
      }
      assert.doesNotMatch(JSON.stringify(s), /9812345678|ops\.team@/);
    });

    test('the overview page renders the same counts, escaped and masked', async () => {
      const res = await rawRequest(dash.port, '/');
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      for (const [state, n] of Object.entries({ pending: 1, in_flight: 0, delivered: 3, dead: 2 })) {
        assert.match(res.body, new RegExp(`data-count="${state}">${n}<`));
      }
      assert.match(res.body, new RegExp(`data-replay="${dead2}"`));
      assert.doesNotMatch(res.body, /9812345678|ops\.team@/);
      assert.match(String(res.headers['content-security-policy']), /script-src 'nonce-[^']+'/);
      assert.equal(res.headers['x-frame-options'], 'DENY');
    });

    test('per-call timeline: every request with time, status, duration and outcome', async () => {
      const dead = await json<CallView>(`/api/calls/${encodeURIComponent(dead2)}`);
      assert.equal(dead.state, 'dead');
      assert.equal(dead.callerNumber, '+**********78');
      assert.deepEqual(
        dead.history.map((h) => ({ step: h.step, attempt: h.attempt, status: h.status, outcome: h.outcome })),
        [{ step: 'call-data', attempt: 1, status: 400, outcome: 'dead' }],
      );
      assert.ok(dead.history[0] !== undefined && dead.history[0].at > 0 && dead.history[0].durationMs >= 0);
      const delivered = await json<CallView>(`/api/calls/${encodeURIComponent(ok0)}`);
      assert.deepEqual(
        delivered.history.map((h) => ({ step: h.step, status: h.status, outcome: h.outcome, error: h.error })),
        [{ step: 'call-data', status: 201, outcome: 'delivered', error: null }],
      );
      const page = await rawRequest(dash.port, `/calls/${encodeURIComponent(dead2)}`);
      assert.equal(page.status, 200);
      assert.match(page.body, /<td data-outcome>dead<\/td>/);
      const search = await rawRequest(dash.port, `/calls?callId=${encodeURIComponent(` ${ok1} `)}`);
      assert.equal(search.status, 303);
      assert.equal(search.headers.location, `/calls/${encodeURIComponent(ok1)}`);
      const missing = await rawRequest(dash.port, '/calls/CALL-NOPE');
      assert.equal(missing.status, 404);
      assert.match(missing.body, /data-not-found/);
    });

    test('a foreign Host is refused (421) on every route, before anything is read or changed', async () => {
      for (const path of ['/', '/api/summary', '/metrics', `/calls/${dead2}`]) {
        const res = await rawRequest(dash.port, path, { headers: { host: `rebind.attacker.example:${dash.port}` } });
        assert.equal(res.status, 421, path);
        assert.doesNotMatch(res.body, /CALL-/);
      }
      const res = await post({ all: true }, { host: `rebind.attacker.example:${dash.port}` });
      assert.equal(res.status, 421);
      const ok = await rawRequest(dash.port, '/api/summary', { headers: { host: `localhost:${dash.port}` } });
      assert.equal(ok.status, 200);
      assert.equal((await rawRequest(dash.port, '/api/summary', { headers: { host: '127.0.0.1:1' } })).status, 421, 'the right name on another port');
    });

    test('mutations: cross-origin → 403, no or wrong token → 401, not JSON → 415; nothing moves', async () => {
      const cases: [Record<string, string>, number][] = [
        [{ origin: 'http://evil.example' }, 403],
        [{ origin: 'null' }, 403],
        [{ 'sec-fetch-site': 'cross-site' }, 403],
        [{ 'sec-fetch-site': 'same-site', origin: `http://127.0.0.1:${dash.port}` }, 403],
        [{ authorization: '' }, 401],
        [{ authorization: 'Bearer wrong-token-0123456789' }, 401],
        [{ 'content-type': 'text/plain' }, 415],
      ];
      for (const [headers, status] of cases) {
        const res = await post({ all: true }, headers);
        assert.equal(res.status, status, JSON.stringify(headers));
      }
      assert.equal((await post({ callIds: [] })).status, 400);
      assert.equal((await post({ all: true, callIds: [dead2] })).status, 400);
      const s = await json<SummaryView>('/api/summary');
      assert.deepEqual(s.counts, { pending: 1, in_flight: 0, delivered: 3, dead: 2 });
    });

    test('no CORS headers, and a preflight is refused', async () => {
      const pre = await rawRequest(dash.port, '/api/dead-letter/replay', {
        method: 'OPTIONS',
        headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
      assert.equal(pre.status, 405);
      const answers = [pre, await rawRequest(dash.port, '/api/summary', { headers: { origin: 'http://evil.example' } }), await post({ all: true }, { origin: 'http://evil.example' })];
      for (const res of answers) {
        assert.deepEqual(Object.keys(res.headers).filter((h) => h.startsWith('access-control-')), []);
      }
    });

    test('Replay through the API; the worker sends the call once more and the CRM has it once', async () => {
      const admin = crmAdmin(crm.url);
      const res = await post({ callIds: [dead2, 'CALL-NOT-THERE', ok4] });
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(JSON.parse(res.body), {
        replayed: 1,
        notReplayed: [
          { callId: 'CALL-NOT-THERE', state: null },
          { callId: ok4, state: 'delivered' },
        ],
      });
      assert.deepEqual((await json<SummaryView>('/api/summary')).counts, { pending: 2, in_flight: 0, delivered: 3, dead: 1 });

      const second = await deliverOnce(outbox.store, crm);
      assert.equal(second.delivered, 2, 'the replayed call and the pending one');
      const posts = (await admin.requests()).filter((r) => r.method === 'POST' && r.callId === dead2);
      assert.deepEqual(posts.map((r) => r.status), [400, 201], 'sent exactly once more');
      assert.equal((await admin.calls()).filter((p) => p.callDetails.callId === dead2).length, 1);

      await dash.refresh();
      const s = await json<SummaryView>('/api/summary');
      assert.deepEqual(s.counts, { pending: 0, in_flight: 0, delivered: 5, dead: 1 });
      assert.equal(s.stats.buckets.reduce((n, b) => n + b.delivered, 0), 5, 'two more since the first sample');
      const timeline = await json<CallView>(`/api/calls/${encodeURIComponent(dead2)}`);
      assert.deepEqual(
        timeline.history.map((h) => [h.attempt, h.status, h.outcome]),
        [
          [1, 400, 'dead'],
          [1, 201, 'delivered'],
        ],
      );

      const all = await post({ all: true });
      assert.deepEqual(JSON.parse(all.body), { replayed: 1, notReplayed: [] });
      assert.equal((await outbox.store.get(dead3))?.state, 'pending');
    });

    test('/metrics: queue depth by state and the oldest pending age, from the store at scrape time', async () => {
      const res = await rawRequest(dash.port, '/metrics');
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      for (const [state, n] of Object.entries({ pending: 1, in_flight: 0, delivered: 5, dead: 0 })) {
        assert.match(res.body, new RegExp(`^crm_upload_queue_depth\\{state="${state}"\\} ${n}$`, 'm'));
      }
      const age = /^crm_upload_oldest_pending_age_seconds (\S+)$/m.exec(res.body);
      assert.ok(age?.[1] !== undefined && Number(age[1]) >= 0 && Number(age[1]) < 60);
      assert.match(res.body, /^crm_upload_outbox_up 1$/m);
    });

    test('--show-pii shows phone numbers and emails', async () => {
      const config = loadConfig({ env: { CRM_OUTBOX: outbox.target }, envFile: null });
      const plain = await startDashboard({ config, store: outbox.store, port: 0, token: TOKEN, showPii: true, sampleMs: 60_000 });
      try {
        const res = await rawRequest(plain.port, `/api/calls/${encodeURIComponent(dead2)}`);
        const view = JSON.parse(res.body) as CallView;
        assert.equal(view.callerNumber, PHONE);
        assert.equal(view.history[0]?.error, `HTTP 400: ${REASON}`);
      } finally {
        await plain.close();
      }
    });
  });
}
