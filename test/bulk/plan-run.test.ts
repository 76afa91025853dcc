/**
 * The grouped plan of a bulk run (src/bulk/plan-run.ts) matches each group of files on its own; it must give
 * exactly what matching the whole run at once gives (src/bulk/collect-calls.ts → matchRun): the same
 * lead, recording and manifest on every call, by the same step, and the same warnings, unmatched leads
 * and errors. Checked on the real fixtures of every format and on a dense generated run where calls
 * overlap and leads fit several calls (by time, session id and create_lead arguments).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectCalls, hydrateBundle } from '../../src/bulk/collect-calls.ts';
import { planRun } from '../../src/bulk/plan-run.ts';
import type { CallBundle } from '../../src/ingest/call-record.ts';
import { mulberry32 } from '../../src/local-crm/seeded-random.ts';
import { fixture } from '../helpers/fixtures.ts';

const work = realpathSync(mkdtempSync(join(tmpdir(), 'crm-plan-run-')));
after(() => rmSync(work, { recursive: true, force: true }));

/** What matching decided for one call, comparable across the two ways. */
function decision(b: CallBundle): string {
  return JSON.stringify({
    call: b.call.file,
    session: b.call.sessionId,
    start: b.call.startTime,
    end: b.call.endTime,
    lead: b.lead?.file ?? b.lead?.fields.name ?? null,
    recording: b.recording?.file ?? null,
    manifest: b.manifest?.file ?? null,
    by: b.matchedBy ?? null,
    files: [...(b.files ?? [])].sort(),
    items: b.call.items.length,
    firstItem: b.call.items[0]?.content ?? null,
  });
}

interface Outcome {
  decisions: string[];
  warnings: string[];
  unmatchedLeads: string[];
  errors: string[];
  bundles: number;
  groups: number;
}

const folders = (root: string) => ({
  conversationsDir: join(root, 'conversations'),
  leadsDir: join(root, 'leads'),
  recordingsDir: join(root, 'recordings'),
  manifestsDir: join(root, 'call_metadata'),
  sourceTimezone: 'Asia/Kolkata',
  defaultRegion: 'IN',
});

/** Matching the whole run at once, bundles hydrated as bulk used to. */
async function whole(root: string): Promise<Outcome> {
  const options = folders(root);
  const r = await collectCalls(options);
  const bundles = await Promise.all(r.bundles.map((b) => hydrateBundle(b, options)));
  return {
    decisions: bundles.map(decision).sort(),
    warnings: r.warnings.map((w) => `${w.code} ${w.message}`).sort(),
    unmatchedLeads: [...r.unmatchedLeads].sort(),
    errors: r.errors.map((e) => `${e.file} ${e.reason}`).sort(),
    bundles: bundles.length,
    groups: 1,
  };
}

/** The grouped plan, every group prepared in turn. */
async function grouped(root: string, keepBytes: number): Promise<Outcome> {
  const plan = await planRun({ ...folders(root), keepBytes, planDir: join(work, 'plans') });
  const out: Outcome = { decisions: [], warnings: [], unmatchedLeads: [], errors: plan.errors.map((e) => `${e.file} ${e.reason}`), bundles: 0, groups: plan.groups };
  for (let k = 0; k < plan.groups; k++) {
    const g = await plan.prepare(k);
    out.decisions.push(...g.bundles.map(decision));
    out.warnings.push(...g.warnings.map((w) => `${w.code} ${w.message}`));
    out.unmatchedLeads.push(...g.unmatchedLeads);
    out.errors.push(...g.errors.map((e) => `${e.file} ${e.reason}`));
    out.bundles += g.bundles.length;
  }
  plan.close();
  for (const list of [out.decisions, out.warnings, out.unmatchedLeads, out.errors]) list.sort();
  return out;
}

function assertSame(a: Outcome, b: Outcome): void {
  assert.equal(b.bundles, a.bundles, 'the number of calls');
  assert.deepEqual(b.decisions, a.decisions, 'what each call got');
  assert.deepEqual(b.warnings, a.warnings, 'the warnings');
  assert.deepEqual(b.unmatchedLeads, a.unmatchedLeads, 'the unmatched leads');
  assert.deepEqual(b.errors, a.errors, 'the errors');
}

/** A naive UTC time, as the transcript logger writes its start and end. */
const naive = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

/**
 * A dense run: `n` calls within a few hours (many overlap), a quarter calling create_lead with names
 * that repeat; leads at random times (some during a call, some in the margins of two, some far away),
 * some naming a call's session id, some with a create_lead call's name or phone.
 */
function generateDense(root: string, n: number, seed: number): void {
  const random = mulberry32(seed);
  const conv = join(root, 'conversations', 'generated');
  const leads = join(root, 'leads');
  mkdirSync(conv, { recursive: true });
  mkdirSync(leads, { recursive: true });
  const base = Date.UTC(2025, 9, 1, 4, 0, 0);
  const span = n * 240_000;
  const calls: { session: string; start: number; end: number; name: string | null; phone: string }[] = [];
  for (let i = 0; i < n; i++) {
    const start = base + Math.floor(random() * span);
    const end = start + 20_000 + Math.floor(random() * 400_000);
    const session = `session_gen_${seed}_${i}`;
    const name = random() < 0.25 ? `Caller ${Math.floor(random() * (n / 8))}` : null;
    const phone = `98${String(Math.floor(random() * 1e8)).padStart(8, '0')}`;
    calls.push({ session, start, end, name, phone });
    const items: unknown[] = [
      { role: 'assistant', content: `Hello ${i}`, timestamp: new Date(start).toISOString(), source: 'agent' },
      { role: 'user', content: `Call ${i} here`, timestamp: new Date(start + 4_000).toISOString(), source: 'transcription_node' },
    ];
    if (name !== null) {
      items.push({ type: 'function_call', name: 'create_lead', arguments: JSON.stringify({ name, phone, email: '' }), timestamp: new Date(start + 9_000).toISOString() });
    }
    const doc = { session_id: session, start_time: naive(start), end_time: naive(end), items, total_items: items.length, lead_generated: name !== null, metadata: {} };
    writeFileSync(join(conv, `transcript_session_${i}.json`), JSON.stringify(doc));
  }
  for (let j = 0; j < n; j++) {
    const r = random();
    const call = calls[Math.floor(random() * n)]!;
    const at = r < 0.5 ? call.start + Math.floor(random() * (call.end - call.start + 12 * 60_000)) - 2 * 60_000 : base - 3600_000 + Math.floor(random() * (span + 7200_000));
    const lead: Record<string, unknown> = { timestamp: new Date(at).toISOString(), source: 'gen', status: 'new', name: `Lead ${j}`, email: `lead${j}@example.com`, phone: `97${String(j).padStart(8, '0')}` };
    if (random() < 0.2) lead.session_id = call.session;
    if (random() < 0.2 && call.name !== null) {
      lead.name = call.name;
      lead.phone = call.phone;
    }
    writeFileSync(join(leads, `lead_${j}.json`), JSON.stringify(lead));
  }
}

describe('the grouped plan of a bulk run', () => {
  test('the real fixtures of every format: the same as matching the whole run', async () => {
    const root = join(work, 'fixtures');
    for (const dir of ['conversations', 'leads', 'recordings', 'call_metadata']) cpSync(fixture(dir), join(root, dir), { recursive: true });
    const a = await whole(root);
    assert.ok(a.bundles >= 5, `the fixtures hold calls (${a.bundles})`);
    assert.ok(a.decisions.some((d) => JSON.parse(d).recording !== null), 'a recording is matched');
    assert.ok(a.decisions.some((d) => JSON.parse(d).manifest !== null), 'a manifest is applied');
    assertSame(a, await grouped(root, 0));
    assertSame(a, await grouped(root, 64 * 1024 * 1024));
  });

  for (const seed of [1, 2, 3]) {
    test(`a dense generated run (seed ${seed}): overlapping calls, ambiguous leads, session ids, create_lead`, async () => {
      const root = join(work, `dense-${seed}`);
      generateDense(root, 240, seed);
      for (const dir of ['conversations', 'leads', 'recordings', 'call_metadata']) cpSync(fixture(dir), join(root, dir), { recursive: true, force: false, errorOnExist: false });
      const a = await whole(root);
      const b = await grouped(root, 0);
      assertSame(a, b);
      // It did split the run, and the run has what makes matching interesting.
      assert.ok(b.groups > 20, `${b.groups} groups`);
      assert.ok(a.warnings.some((w) => w.startsWith('W_AMBIGUOUS_LEAD')), 'some lead fits several calls');
      assert.ok(a.unmatchedLeads.length > 0, 'some lead fits no call');
      assert.ok(a.decisions.some((d) => JSON.parse(d).by?.lead === 'session_id'), 'a lead by session id');
      assert.ok(a.decisions.some((d) => JSON.parse(d).by?.lead === 'create_lead'), 'a lead by create_lead arguments');
      assert.ok(a.decisions.some((d) => JSON.parse(d).by?.lead === 'time_window'), 'a lead by time');
    });
  }

  test('a folder of calls each with its own lead falls into one group per call', async () => {
    const root = join(work, 'spread');
    const conv = join(root, 'conversations');
    const leads = join(root, 'leads');
    mkdirSync(conv, { recursive: true });
    mkdirSync(leads, { recursive: true });
    for (let i = 0; i < 50; i++) {
      const start = Date.UTC(2025, 0, 1) + i * 15 * 60_000;
      const doc = { session_id: `s_${i}`, start_time: naive(start), end_time: naive(start + 42_000), items: [{ role: 'user', content: `hi ${i}`, timestamp: new Date(start).toISOString(), source: 'x' }], metadata: {} };
      writeFileSync(join(conv, `t_${String(i).padStart(3, '0')}.json`), JSON.stringify(doc));
      writeFileSync(join(leads, `lead_${String(i).padStart(3, '0')}.json`), JSON.stringify({ timestamp: new Date(start + 20_000).toISOString(), name: `N ${i}`, email: '', phone: '' }));
    }
    const plans = join(work, 'plans');
    const plan = await planRun({ ...folders(root), keepBytes: 0, planDir: plans });
    assert.equal(plan.groups, 50);
    const first = await plan.prepare(0);
    assert.equal(first.bundles.length, 1);
    assert.equal(first.bundles[0]!.lead?.file, join(leads, 'lead_000.json'));
    // The run's callIds are noted exactly in the plan file: a second one is a duplicate.
    assert.equal(plan.addCallId('CALL-A'), true);
    assert.equal(plan.addCallId('CALL-B'), true);
    assert.equal(plan.addCallId('CALL-A'), false);
    // The plan file is private while it lasts, and gone once closed.
    const [file] = readdirSync(plans);
    assert.match(file ?? '', /^bulk-plan-\d+-[0-9a-f]{8}\.db$/);
    assert.equal(statSync(join(plans, file!)).mode & 0o777, 0o600);
    plan.close();
    assert.deepEqual(readdirSync(plans), []);
    assertSame(await whole(root), await grouped(root, 0));
  });
});
