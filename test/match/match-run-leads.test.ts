import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { matchRun } from '../../src/match/match-run.ts';
import type { CallRecord, LeadRecord } from '../../src/ingest/call-record.ts';
import { call, createLead, istLead, leadAttachments, utc, warningLines } from './factories.ts';

/**
 * The scenario: three calls within 10 minutes of each other (UTC 10:00–10:08) and one lead
 * file per call, named and timed in naive IST (5 h 30 min ahead).
 */
const A = call({ file: '/data/conversations/a.json', sessionId: 'session_A', startTime: utc('10:00:00'), endTime: utc('10:02:00') });
const B = call({
  file: '/data/conversations/b.json',
  sessionId: 'session_B',
  startTime: utc('10:03:00'),
  endTime: utc('10:05:00'),
  toolCalls: [createLead({ name: 'Ravi Menon', email: 'ravi.menon@example.com', phone: '+91 90000 00002' }, utc('10:04:10'))],
});
// A legacy conversation: derived session id, timed by its items.
const C = call({
  file: '/data/conversations/legacy/conversation_20251029_153600.json',
  format: 'legacy-conversation',
  sessionId: 'session_20251029_100600_abcdef01',
  sessionIdDerived: true,
  startTime: utc('10:06:00'),
  endTime: utc('10:08:00'),
  timesFrom: 'items',
});
/** Same session id as A; also written during A. */
const L1 = istLead('15:31:30', { sessionId: 'session_A', fields: { name: 'Asha Rao' } });
/** Only its create_lead arguments tie it to B: written between A and B, in both margins. */
const L2 = istLead('15:32:30', { fields: { name: 'RAVI  MENON', email: 'Ravi.Menon@example.com', phone: '9000000002' } });
/** Only its time ties it to C: written during C. */
const L3 = istLead('15:37:00', { fields: { name: 'Meera Iyer', email: 'meera@example.com' } });
/** Fits two calls: 10:13 UTC is within 10 minutes after B and C but more than 10 minutes after A. */
const L4 = istLead('15:43:00', { fields: { name: 'Kiran Das' } });

describe('matchRun: leads, the issue scenario', () => {
  test('each lead goes to its own call, by session id, create_lead arguments and time window', () => {
    const result = matchRun({ calls: [A, B, C], leads: [L3, L2, L1], recordings: [], manifests: [] });
    assert.deepEqual(leadAttachments(result), [
      ['session_A', L1.file, 'session_id'],
      ['session_B', L2.file, 'create_lead'],
      ['session_20251029_100600_abcdef01', L3.file, 'time_window'],
    ]);
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(result.unmatchedLeads, []);
    assert.equal(L1.file, '/data/leads/lead_20251029_153130.json');
    assert.equal(L1.time, '2025-10-29T10:01:30.000Z');
  });

  test('a fourth lead that fits two calls goes to neither, is warned about and listed as unmatched', () => {
    const result = matchRun({ calls: [A, B, C], leads: [L1, L2, L3, L4], recordings: [], manifests: [] });
    assert.deepEqual(leadAttachments(result), [
      ['session_A', L1.file, 'session_id'],
      ['session_B', L2.file, 'create_lead'],
      ['session_20251029_100600_abcdef01', L3.file, 'time_window'],
    ]);
    assert.deepEqual(warningLines(result), [
      `W_AMBIGUOUS_LEAD ${L4.file} ${B.file} ${C.file}`,
      `W_UNMATCHED_LEAD ${L4.file}`,
    ]);
    assert.match(result.warnings[0]!.message, /fits 2 calls by time \(within 2 min before to 10 min after the call\)/);
    assert.deepEqual(result.unmatchedLeads, [L4.file]);
  });

  test('the create_lead lead is not taken by time, and would be ambiguous by time alone', () => {
    const noToolCall: CallRecord = { ...B, toolCalls: [] };
    const result = matchRun({ calls: [A, noToolCall, C], leads: [L1, L2, L3], recordings: [], manifests: [] });
    assert.deepEqual(leadAttachments(result), [
      ['session_A', L1.file, 'session_id'],
      ['session_B', null, undefined],
      ['session_20251029_100600_abcdef01', L3.file, 'time_window'],
    ]);
    // 10:02:30 lies in A's and B's margins; A already has L1 but still counts as a possible origin.
    assert.deepEqual(warningLines(result), [`W_AMBIGUOUS_LEAD ${L2.file} ${A.file} ${noToolCall.file}`, `W_UNMATCHED_LEAD ${L2.file}`]);
  });
});

describe('matchRun: the time window', () => {
  const P = call({ file: '/data/p.json', sessionId: 'session_P', startTime: utc('10:00:00'), endTime: utc('10:02:00') });
  const Q = call({ file: '/data/q.json', sessionId: 'session_Q', startTime: utc('10:03:00'), endTime: utc('10:05:00') });
  const rows: { name: string; at: string; expect: [string | null, string | null]; how?: string; warnings: string[] }[] = [
    { name: 'written during Q, also in P\'s margin → Q (first pass)', at: '10:04:00', expect: [null, 'x'], how: 'time_window', warnings: [] },
    { name: 'written during P → P', at: '10:01:00', expect: ['x', null], how: 'time_window', warnings: [] },
    { name: 'start of Q, inclusive', at: '10:03:00', expect: [null, 'x'], how: 'time_window', warnings: [] },
    { name: 'only in P\'s margin (before P) → P (second pass)', at: '09:58:30', expect: ['x', null], how: 'time_window_margin', warnings: [] },
    { name: 'only in Q\'s margin (10 min after) → Q', at: '10:14:00', expect: [null, 'x'], how: 'time_window_margin', warnings: [] },
    { name: 'between the calls, in both margins → none, ambiguous', at: '10:02:30', expect: [null, null], warnings: ['W_AMBIGUOUS_LEAD x /data/p.json /data/q.json', 'W_UNMATCHED_LEAD x'] },
    { name: 'after both margins → none', at: '10:15:01', expect: [null, null], warnings: ['W_UNMATCHED_LEAD x'] },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const l: LeadRecord = istLead('00:00:00', { file: 'x', time: utc(row.at) });
      const result = matchRun({ calls: [P, Q], leads: [l], recordings: [], manifests: [] });
      assert.deepEqual(result.bundles.map((b) => b.lead?.file ?? null), row.expect);
      const attached = result.bundles.find((b) => b.lead !== null);
      assert.equal(attached?.matchedBy?.lead, row.how);
      assert.deepEqual(warningLines(result), row.warnings);
    });
  }

  test('a call that fits two leads written during it gets neither', () => {
    const l1 = istLead('15:31:00', { file: 'l1' });
    const l2 = istLead('15:31:30', { file: 'l2' });
    const result = matchRun({ calls: [P, Q], leads: [l1, l2], recordings: [], manifests: [] });
    assert.deepEqual(leadAttachments(result), [['session_P', null, undefined], ['session_Q', null, undefined]]);
    assert.deepEqual(warningLines(result), ['W_AMBIGUOUS_LEAD /data/p.json l1 l2', 'W_UNMATCHED_LEAD l1', 'W_UNMATCHED_LEAD l2']);
    assert.match(result.warnings[1]!.message, /call \/data\/p\.json fits 2 leads/);
  });

  test('a lead taken at step 2 is not reused at step 4', () => {
    // L is written during Q, but its session id is P's: it goes to P, and Q gets nothing.
    const l = istLead('15:34:00', { file: 'l', sessionId: 'session_P' });
    const result = matchRun({ calls: [P, Q], leads: [l], recordings: [], manifests: [] });
    assert.deepEqual(leadAttachments(result), [['session_P', 'l', 'session_id'], ['session_Q', null, undefined]]);
    assert.deepEqual(warningLines(result), []);
  });

  test('a call that got a lead at a stronger step gets no second lead by time', () => {
    const bySession = istLead('15:31:00', { file: 'mine', sessionId: 'session_P' });
    const byTime = istLead('15:31:30', { file: 'second' });
    const result = matchRun({ calls: [P, Q], leads: [byTime, bySession], recordings: [], manifests: [] });
    assert.deepEqual(leadAttachments(result), [['session_P', 'mine', 'session_id'], ['session_Q', null, undefined]]);
    assert.deepEqual(warningLines(result), ['W_UNMATCHED_LEAD second']);
    assert.match(result.warnings[0]!.message, /fits only call \/data\/p\.json by time \(written during the call\), which already has lead mine/);
  });

  test('lead and call times without a time are never matched by time', () => {
    const timeless = call({ file: '/data/t.json', sessionId: 'session_T', startTime: null, endTime: null, timesFrom: null });
    const result = matchRun({ calls: [timeless], leads: [istLead('15:31:00', { file: 'l', time: null })], recordings: [], manifests: [] });
    assert.deepEqual(leadAttachments(result), [['session_T', null, undefined]]);
    assert.deepEqual(result.unmatchedLeads, ['l']);
  });
});

describe('matchRun: session id and create_lead steps', () => {
  const P = call({ file: '/data/p.json', sessionId: 'session_P', campaign: { sessionId: 'session_1761745857' } });
  const Q = call({ file: '/data/q.json', sessionId: 'session_Q', startTime: utc('12:00:00'), endTime: utc('12:05:00') });

  const sessionRows: { name: string; lead: Partial<LeadRecord>; expect: (string | null)[] }[] = [
    { name: 'lead.sessionId = call.sessionId', lead: { sessionId: 'session_Q' }, expect: [null, 'l'] },
    { name: 'lead.campaign.sessionId = call.sessionId', lead: { campaign: { sessionId: 'session_Q' } }, expect: [null, 'l'] },
    { name: 'lead.sessionId = call.campaign.sessionId', lead: { sessionId: 'session_1761745857' }, expect: ['l', null] },
    { name: 'no shared session id', lead: { sessionId: 'session_other' }, expect: [null, null] },
  ];
  for (const row of sessionRows) {
    test(row.name, () => {
      const l = istLead('10:00:00', { file: 'l', ...row.lead });
      const result = matchRun({ calls: [P, Q], leads: [l], recordings: [], manifests: [] });
      assert.deepEqual(result.bundles.map((b) => b.lead?.file ?? null), row.expect);
    });
  }

  test('a lead whose session id names two calls goes to neither, and not later by time either', () => {
    const P2 = call({ file: '/data/p2.json', sessionId: 'session_P2', campaign: { sessionId: 'session_Q' }, startTime: utc('20:00:00'), endTime: utc('20:05:00') });
    // Written during Q: the time window alone would give it to Q.
    const l = istLead('17:32:00', { file: 'l', sessionId: 'session_Q' });
    const result = matchRun({ calls: [Q, P2], leads: [l], recordings: [], manifests: [] });
    assert.deepEqual(result.bundles.map((b) => b.lead?.file ?? null), [null, null]);
    assert.deepEqual(warningLines(result), ['W_AMBIGUOUS_LEAD l /data/q.json /data/p2.json', 'W_UNMATCHED_LEAD l']);
  });

  test('a call whose create_lead agrees with two lead files gets neither file, and a lead built from its arguments', () => {
    const withTool = call({ ...Q, toolCalls: [createLead({ name: 'Asha Rao', phone: '9999900003' }, utc('12:01:00'))] });
    const l1 = istLead('10:00:00', { file: 'l1', fields: { name: 'asha rao' } });
    const l2 = istLead('10:00:01', { file: 'l2', fields: { phone: '+91 99999 00003' } });
    const result = matchRun({ calls: [withTool], leads: [l1, l2], recordings: [], manifests: [] });
    assert.deepEqual(leadAttachments(result), [['session_Q', 'built', 'create_lead_arguments']]);
    assert.deepEqual(warningLines(result), ['W_AMBIGUOUS_LEAD /data/q.json l1 l2', 'W_UNMATCHED_LEAD l1', 'W_UNMATCHED_LEAD l2']);
  });
});

describe('matchRun: explicit leads', () => {
  const P = call({ file: '/data/p.json', sessionId: 'session_P' });
  test('an explicit lead wins over a lead file with the same session id', () => {
    const given = istLead('23:00:00', { file: '/elsewhere/given.json' });
    const sameSession = istLead('15:31:00', { file: 'same-session', sessionId: 'session_P' });
    const result = matchRun({ calls: [P], leads: [sameSession], recordings: [], manifests: [], explicit: { lead: given } });
    assert.deepEqual(leadAttachments(result), [['session_P', '/elsewhere/given.json', 'explicit']]);
    assert.deepEqual(result.unmatchedLeads, ['same-session']);
    assert.deepEqual(warningLines(result), ['W_UNMATCHED_LEAD same-session']);
    assert.match(result.warnings[0]!.message, /which already has lead \/elsewhere\/given\.json/);
  });

  test('an explicit lead that is also among the lead files is attached once', () => {
    const given = istLead('15:31:00', { file: 'given' });
    const result = matchRun({ calls: [P], leads: [given], recordings: [], manifests: [], explicit: { lead: given } });
    assert.deepEqual(leadAttachments(result), [['session_P', 'given', 'explicit']]);
    assert.deepEqual(result.unmatchedLeads, []);
  });

  test('explicit values with more than one call are a usage error', () => {
    const Q = call({ file: '/data/q.json', sessionId: 'session_Q' });
    assert.throws(() => matchRun({ calls: [P, Q], leads: [], recordings: [], manifests: [], explicit: { callId: 'X' } }), { code: 'E_CONFIG' });
  });

  test('caller phone and call id become overrides', () => {
    const result = matchRun({ calls: [P], leads: [], recordings: [], manifests: [], explicit: { callerPhone: '+919999900009', callId: 'CALL-1' } });
    assert.deepEqual(result.bundles[0]!.overrides, { callerPhone: '+919999900009', callId: 'CALL-1' });
  });
});

describe('matchRun: leads built from create_lead, unmatched lead files', () => {
  test('no lead file matches: the lead is built from the last create_lead call', () => {
    const c = call({
      toolCalls: [
        createLead({ name: 'Asha' }, utc('10:00:30')),
        createLead({ name: 'Asha Rao', phone: 9999900003, budget: 50000, extra: { a: 1 }, company: null, email: ' asha@example.com ' }, utc('10:01:00')),
      ],
    });
    const unrelated = istLead('20:00:00', { file: 'unrelated' });
    const result = matchRun({ calls: [c], leads: [unrelated], recordings: [], manifests: [] });
    const bundle = result.bundles[0]!;
    assert.equal(bundle.matchedBy?.lead, 'create_lead_arguments');
    assert.deepEqual(bundle.lead, {
      file: null,
      fields: {
        name: 'Asha Rao', email: 'asha@example.com', company: '', interest: '', phone: '9999900003', job_title: '',
        budget: '50000', timeline: '', timestamp: '2025-10-29T10:01:00.000Z', source: 'Friday AI Assistant', status: 'new',
      },
      time: '2025-10-29T10:01:00.000Z',
      sessionId: null,
      campaign: null,
    });
    assert.deepEqual(result.unmatchedLeads, ['unrelated']);
    assert.deepEqual(bundle.files, ['/data/conversations/transcript_session.json']);
  });
});
