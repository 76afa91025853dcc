/**
 * `POST /v1/calls` and `GET /v1/calls/:callId` over real HTTP, into the real outbox, delivered by the
 * in-process worker to the real local CRM: the exact enqueued payload, idempotency, every problem of a
 * bad request named, body limits.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { convertLeadToApiFormat, prepareSession } from '../../src/api/session-api.ts';
import type { CallPayload, Transcription } from '../../src/payload/call-payload.ts';
import { crmAdmin } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import { fixture, getJson, itemCount, LEGACY, LIVEKIT_HISTORY, LOGGER_SESSION, MONGO_EXPORT, postCall, startRig, waitForState, type ServeRig } from './harness.ts';

const CALL_DATA = '/apis/api/public/call-data';

describe('ingest API: POST /v1/calls', () => {
  let rig: ServeRig;
  before(async () => {
    rig = await startRig({}, { maxJsonBytes: 64 * 1024 });
  });
  after(async () => {
    await rig.close();
  });

  /** Call-data POSTs the CRM received for `callId`. */
  async function crmPostsFor(callId: string): Promise<number> {
    const seen = await crmAdmin(rig.crm.url).requests();
    return seen.filter((r) => r.path === CALL_DATA && r.method === 'POST' && r.callId === callId).length;
  }

  test('a transcript-logger session: 202, exactly the payload prepareSession builds, delivered once; a repeat enqueues nothing', async () => {
    const session = fixture(LOGGER_SESSION);
    const expected = prepareSession(session, { config: rig.config }).payload;
    const first = await postCall(rig, { session });
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.deepEqual(first.body, { callId: 'CALL-20251023-075634-7e155942', status: 'pending', enqueued: true, warnings: [] });

    const item = await rig.server.store.get('CALL-20251023-075634-7e155942');
    assert.ok(item);
    assert.deepEqual(item.payload, expected);
    assertValidPayload(item.payload);
    assert.equal(item.recording.path, null);
    assert.equal(item.sourceFile, 'POST /v1/calls');

    const delivered = await waitForState(rig, 'CALL-20251023-075634-7e155942');
    assert.equal(delivered.attempts, 1);
    assert.equal(await crmPostsFor('CALL-20251023-075634-7e155942'), 1);
    const stored = (await crmAdmin(rig.crm.url).calls()).find((p) => p.callDetails.callId === 'CALL-20251023-075634-7e155942');
    assert.deepEqual(stored, expected);

    const countBefore = await itemCount(rig);
    const again = await postCall(rig, { session });
    assert.equal(again.status, 202);
    assert.deepEqual(again.body, { callId: 'CALL-20251023-075634-7e155942', status: 'delivered', enqueued: false, warnings: [] });
    assert.equal(await itemCount(rig), countBefore, 'a repeat adds nothing to the outbox');
    assert.deepEqual(await rig.server.store.get('CALL-20251023-075634-7e155942'), delivered, 'and leaves the item exactly as it was');
    // Long enough for the worker's next poll: a repeat must never reach the CRM.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await crmPostsFor('CALL-20251023-075634-7e155942'), 1);

    const status = await getJson(rig, '/v1/calls/CALL-20251023-075634-7e155942');
    assert.equal(status.status, 200);
    assert.equal(status.body.callId, 'CALL-20251023-075634-7e155942');
    assert.equal(status.body.status, 'delivered');
    assert.equal(status.body.attempts, 1);
    assert.equal(status.body.lastStatus, 201);
    assert.equal(status.body.lastError, null);
    assert.deepEqual(status.body.recording, { attached: false, uploaded: false, note: null });
    assert.equal(typeof status.body.deliveredAt, 'string');
    assert.equal(status.body.payload, undefined, 'the status never carries the payload');
  });

  test('every conversation format is detected by content and enqueued as prepareSession builds it', async () => {
    const livekit = fixture(LIVEKIT_HISTORY);
    // Python's session.history.to_dict(exclude_timestamp=False) gives each item its created_at.
    const items = (livekit.items as Record<string, unknown>[]).map((it, i) => ({ ...it, created_at: 1761733000 + i * 3 }));
    const sessions = [fixture(MONGO_EXPORT), fixture(LEGACY), { ...livekit, items }];
    const answers = await Promise.all(sessions.map((session) => postCall(rig, { session })));
    for (const [i, a] of answers.entries()) {
      assert.equal(a.status, 202, JSON.stringify(a.body));
      const session = sessions[i] as Record<string, unknown>;
      const expected = prepareSession(session, { config: rig.config }).payload;
      assert.equal(a.body.callId, expected.callDetails.callId);
      assert.equal(a.body.enqueued, true);
      const item = await rig.server.store.get(expected.callDetails.callId);
      assert.deepEqual(item?.payload, expected);
      assertValidPayload(item?.payload);
    }
    // Start (UTC) + the session id's tail; a session without one gets one derived from its content, so
    // the two sessions without an id (legacy, LiveKit) get different tails.
    const ids = answers.map((a) => a.body.callId as string);
    assert.equal(ids[0], 'CALL-20251029-135057-99509edf');
    assert.match(ids[1] ?? '', /^CALL-20251007-111256-[0-9a-f]{8}$/);
    assert.match(ids[2] ?? '', /^CALL-20251029-101640-[0-9a-f]{8}$/);
    assert.notEqual(ids[1]?.slice(-8), ids[2]?.slice(-8));
    for (const a of answers) await waitForState(rig, a.body.callId as string);
  });

  test('lead, caller number, callId and per-call ids are the explicit values', async () => {
    const session = fixture(LOGGER_SESSION);
    const lead = { name: 'Ravi Kumar', email: 'ravi@example.com', phone: '9999900007', company: 'Acme', timestamp: '2025-10-23 13:27:00' };
    const body = { session, lead, callerNumber: '9999900005', callId: 'CALL-explicit-0001', campaignId: 'camp-own', voiceAgentId: 'agent-own', clientId: 'client-own' };
    const a = await postCall(rig, body);
    assert.equal(a.status, 202, JSON.stringify(a.body));
    assert.equal(a.body.callId, 'CALL-explicit-0001');

    // The same call prepared by the library with those ids configured, and the lead mapped by the seed's converter.
    const config = { ...rig.config, campaignId: 'camp-own', voiceAgentId: 'agent-own', clientId: 'client-own' };
    const base = prepareSession(session, { config, callerPhone: '9999900005', callId: 'CALL-explicit-0001' }).payload;
    const expected: CallPayload = { ...base, lead: convertLeadToApiFormat(lead, { config }), transcription: { ...(base.transcription as Transcription), lead_generated: true } };
    const item = await rig.server.store.get('CALL-explicit-0001');
    assert.deepEqual(item?.payload, expected);
    assertValidPayload(item?.payload);
    assert.equal(item?.payload.callDetails.callerNumber, '+919999900005');
    assert.equal(item?.payload.lead.timestamp, '2025-10-23T07:57:00.000Z', 'a naive lead time is CRM_SOURCE_TIMEZONE (Asia/Kolkata)');
    await waitForState(rig, 'CALL-explicit-0001');
    assert.equal(await crmPostsFor('CALL-explicit-0001'), 1);
  });

  test('a bad request is a 400 naming every problem by its field path, and nothing is enqueued', async () => {
    const session = fixture(LOGGER_SESSION);
    const items = [...(session.items as unknown[])];
    items[1] = { role: 'user', content: 42, timestamp: 'not a time', source: 'transcription_node' };
    const before = await itemCount(rig);
    const a = await postCall(rig, {
      session: { ...session, items },
      lead: { name: 'Asha', email: true },
      callerNumber: 9999900001,
      recording_path: '/tmp/x.ogg',
    });
    assert.equal(a.status, 400);
    assert.equal(a.body.code, 'E_SERVE_INVALID');
    const fields = (a.body.problems as { field: string; code: string; message: string }[]).map((p) => p.field).sort();
    assert.deepEqual(fields, ['callerNumber', 'lead.email', 'recording_path', 'session.items[1].content', 'session.items[1].timestamp']);
    for (const p of a.body.problems as { field: string; code: string; message: string }[]) {
      assert.equal(typeof p.code, 'string');
      assert.ok((a.body.message as string).includes(p.field), `the message names ${p.field}`);
    }
    assert.equal(await itemCount(rig), before);
  });

  test('not a session, not an object, no session: 400 naming the field', async () => {
    const lead = await postCall(rig, { session: { name: 'Asha', email: 'asha@example.com' } });
    assert.equal(lead.status, 400);
    assert.deepEqual((lead.body.problems as { field: string }[]).map((p) => p.field), ['session']);
    assert.match(lead.body.message as string, /not a conversation session \(detected: lead\)/);

    const none = await postCall(rig, { lead: {} });
    assert.equal(none.status, 400);
    assert.deepEqual((none.body.problems as { field: string }[]).map((p) => p.field), ['session']);

    const list = await postCall(rig, [1, 2]);
    assert.equal(list.status, 400);
    assert.deepEqual((list.body.problems as { field: string }[]).map((p) => p.field), ['']);

    const timeless = await postCall(rig, { session: fixture(LIVEKIT_HISTORY) });
    assert.equal(timeless.status, 400);
    assert.match(timeless.body.message as string, /no start or end time.*exclude_timestamp=False/);

    // The session file posted as the body itself: one problem that says how to send it.
    const total = async (): Promise<number> => {
      const c = await rig.server.store.counts();
      return c.pending + c.in_flight + c.delivered + c.dead;
    };
    const before = await total();
    const bare = await postCall(rig, fixture(LOGGER_SESSION));
    assert.equal(bare.status, 400);
    assert.deepEqual(bare.body.problems, [{ field: 'session', code: 'E_SERVE_INVALID', message: 'the body is a conversation itself: send it as {"session": <the conversation>, …}' }]);
    assert.equal(await total(), before, 'nothing enqueued');
  });

  test('malformed JSON is a 400, another content type a 415', async () => {
    const bad = await postCall(rig, null, { raw: '{"session": {' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message as string, /malformed JSON/);
    const empty = await postCall(rig, null, { raw: '' });
    assert.equal(empty.status, 400);
    const form = await postCall(rig, null, { raw: 'session=1', type: 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 415);
    assert.equal(form.body.code, 'E_SERVE_MEDIA_TYPE');
  });

  test('a body over the limit is a 413, by Content-Length or while streaming', async () => {
    const big = JSON.stringify({ session: fixture(LOGGER_SESSION), lead: { name: 'x'.repeat(70 * 1024) } });
    const declared = await postCall(rig, null, { raw: big });
    assert.equal(declared.status, 413);
    assert.equal(declared.body.code, 'E_SERVE_TOO_LARGE');

    // Chunked (no Content-Length): refused once the limit is crossed.
    const chunked = await new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const headers = { 'content-type': 'application/json', 'transfer-encoding': 'chunked', authorization: `Bearer ${rig.server.token}` };
      const req = httpRequest(rig.url('/v1/calls'), { method: 'POST', headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      for (let i = 0; i < 8; i++) req.write(big.slice(i * 10_000, (i + 1) * 10_000));
      req.end();
    });
    assert.equal(chunked.status, 413);
    assert.equal(chunked.body.code, 'E_SERVE_TOO_LARGE');

    // The server is still fine afterwards.
    assert.equal((await getJson(rig, '/healthz')).status, 200);
  });

  test('GET an unknown call or route is a 404; /healthz answers', async () => {
    const unknown = await getJson(rig, '/v1/calls/CALL-nope');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, 'E_SERVE_NOT_FOUND');
    assert.equal((await getJson(rig, '/v2/nothing')).status, 404);
    const health = await getJson(rig, '/healthz');
    assert.deepEqual(health.body, { status: 'ok', worker: true });
  });
});

describe('ingest API: ids', () => {
  test('no ids in the request or the session, and none configured: 400 naming each field and its variable', async () => {
    const rig = await startRig({ CRM_CAMPAIGN_ID: undefined, CRM_VOICE_AGENT_ID: undefined, CRM_CLIENT_ID: undefined });
    try {
      const session = fixture(LOGGER_SESSION);
      const a = await postCall(rig, { session, voiceAgentId: 'agent-own' });
      assert.equal(a.status, 400);
      const problems = a.body.problems as { field: string; code: string; message: string }[];
      assert.deepEqual(problems.map((p) => p.field), ['campaignId', 'clientId']);
      assert.ok(problems.every((p) => p.code === 'E_SERVE_MISSING_ID'));
      assert.match(problems[0]?.message ?? '', /CRM_CAMPAIGN_ID is not set/);
      assert.match(problems[1]?.message ?? '', /CRM_CLIENT_ID is not set/);
      assert.equal(await itemCount(rig), 0);

      // The ids the session itself carries are enough.
      const own = { ...session, metadata: { campaign_metadata: { campaignId: 'c1', voiceAgentId: 'v1', clientId: 'k1' } } };
      const ok = await postCall(rig, { session: own });
      assert.equal(ok.status, 202, JSON.stringify(ok.body));
      const item = await rig.server.store.get(ok.body.callId as string);
      assert.deepEqual([item?.payload.campaignId, item?.payload.voiceAgentId, item?.payload.client], ['c1', 'v1', 'k1']);
      assert.deepEqual(item?.payload, prepareSession(own, { config: rig.config }).payload);
    } finally {
      await rig.close();
    }
  });
});
