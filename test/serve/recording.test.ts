/**
 * Recordings of ingested calls, over real HTTP: `recordingPath` confined to the recordings folder (a
 * path that leaves it by `..`, by being absolute elsewhere or through a symbolic link is refused and
 * never opened: FIFOs stand in for files, since opening one would hang the request), and multipart
 * uploads kept durably before the answer, then uploaded once by the worker.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openAsBlob, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareSession } from '../../src/api/session-api.ts';
import { readRecording } from '../../src/ingest/read-recording.ts';
import { crmAdmin } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import { fixture, getJson, itemCount, LOGGER_SESSION, OGG, OGG_SIZE, postCall, startRig, waitForState, type Answer, type ServeRig } from './harness.ts';

const CALL_DATA = '/apis/api/public/call-data';
const UPLOAD = '/apis/api/public/upload';
const OGG_NAME = 'number-_919999900001-1761745857.ogg';

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  assert.equal(r.status, 0, `mkfifo ${path}: ${r.stderr.toString()}`);
}

/** A session of its own per test (its own session id, so its own callId). */
function session(tag: string): Record<string, unknown> {
  return { ...fixture(LOGGER_SESSION), session_id: `session_20251023_075614_${tag}` };
}

async function postForm(rig: ServeRig, form: FormData): Promise<Answer> {
  const res = await fetch(rig.url('/v1/calls'), { method: 'POST', body: form, headers: { authorization: `Bearer ${rig.server.token}` } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** Files under a folder, recursively, relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('ingest API: recordingPath', () => {
  let rig: ServeRig;
  before(async () => {
    rig = await startRig();
  });
  after(async () => {
    await rig.close();
  });

  test('a recording inside the folder is attached (size and duration from the audio) and uploaded once before the call data', async () => {
    mkdirSync(join(rig.recordingsDir, 'day1'));
    const path = join(rig.recordingsDir, 'day1', OGG_NAME);
    copyFileSync(OGG, path);
    const s = session('rec00001');
    const a = await postCall(rig, { session: s, recordingPath: 'day1/' + OGG_NAME });
    assert.equal(a.status, 202, JSON.stringify(a.body));
    const callId = a.body.callId as string;

    const facts = await readRecording(path);
    const expected = prepareSession(s, { config: rig.config, recording: { path, size: facts.size, durationSec: facts.durationSec, number: facts.number, epoch: facts.epoch } }).payload;
    const item = await rig.server.store.get(callId);
    assert.deepEqual(item?.payload, expected);
    assert.equal(item?.payload.callDetails.recordingSize, OGG_SIZE);
    assert.equal(item?.recording.path, path);

    await waitForState(rig, callId);
    const seen = await crmAdmin(rig.crm.url).requests();
    const mine = seen.filter((r) => r.idempotencyKey?.includes(callId));
    assert.deepEqual(mine.map((r) => r.path), [UPLOAD, CALL_DATA], 'the recording first, then the call data, once each');
    const stored = (await crmAdmin(rig.crm.url).calls()).find((p) => p.callDetails.callId === callId);
    assert.ok(stored?.callDetails.recordingUrl);
    assertValidPayload(stored);
    const status = await getJson(rig, `/v1/calls/${callId}`);
    assert.deepEqual(status.body.recording, { attached: true, uploaded: true, note: null });

    // The absolute path inside the folder is the same recording.
    const abs = await postCall(rig, { session: session('rec00002'), recordingPath: path });
    assert.equal(abs.status, 202, JSON.stringify(abs.body));
    assert.equal((await rig.server.store.get(abs.body.callId as string))?.recording.path, path);
  });

  test('outside the folder — by .., by an absolute path, through a symbolic link — is a 400 naming recordingPath; nothing is opened or enqueued', async () => {
    // FIFOs: reading either would block the request until a writer comes, which never happens.
    const outsideFifo = join(rig.dir, 'outside.ogg');
    mkfifo(outsideFifo);
    symlinkSync(outsideFifo, join(rig.recordingsDir, 'link.ogg'));
    symlinkSync(rig.dir, join(rig.recordingsDir, 'up'));
    mkfifo(join(rig.recordingsDir, 'fifo.ogg'));
    const before = await itemCount(rig);
    const cases: [string, string][] = [
      ['../outside.ogg', 'E_INPUT_OUTSIDE'],
      ['day1/../../outside.ogg', 'E_INPUT_OUTSIDE'],
      [outsideFifo, 'E_INPUT_OUTSIDE'],
      [OGG, 'E_INPUT_OUTSIDE'],
      ['link.ogg', 'E_INPUT_OUTSIDE'],
      ['up/outside.ogg', 'E_INPUT_OUTSIDE'],
      ['up/not-there-yet.ogg', 'E_INPUT_OUTSIDE'],
      ['fifo.ogg', 'E_SERVE_NOT_FILE'],
      ['.', 'E_SERVE_NOT_FILE'],
      ['no-such-folder/x.ogg', 'E_SERVE_NOT_FILE'],
    ];
    // Every request is answered: one that opened a FIFO would wait for a writer for ever.
    const answers = await Promise.all(cases.map(([p], i) => postCall(rig, { session: session(`out0000${i}`), recordingPath: p })));
    answers.forEach((a, i) => {
      const [p, code] = cases[i] as [string, string];
      assert.equal(a.status, 400, `${p}: ${JSON.stringify(a.body)}`);
      assert.deepEqual(a.body.problems, [{ field: 'recordingPath', code, message: (a.body.problems as { message: string }[])[0]?.message }], p);
    });
    assert.match((answers[0]?.body.problems as { message: string }[])[0]?.message ?? '', /outside the recordings folder \(CRM_RECORDINGS_DIR\); refused, nothing was read/);
    assert.equal(await itemCount(rig), before);
  });

  test('a recording not written yet is accepted with a warning; the worker waits for it, then sends the call without it', async () => {
    const a = await postCall(rig, { session: session('late0001'), recordingPath: 'late.ogg' });
    assert.equal(a.status, 202, JSON.stringify(a.body));
    assert.match((a.body.warnings as string[])[0] ?? '', /no file there yet; the worker waits for it up to CRM_RECORDING_WAIT_MS/);
    const callId = a.body.callId as string;
    const item = await rig.server.store.get(callId);
    assert.equal(item?.recording.path, join(rig.recordingsDir, 'late.ogg'));
    assert.equal(item?.payload.callDetails.recordingSize, undefined);
    await waitForState(rig, callId, 'delivered', 8_000);
    const status = await getJson(rig, `/v1/calls/${callId}`);
    assert.deepEqual(status.body.recording, { attached: true, uploaded: false, note: 'recording file not found within CRM_RECORDING_WAIT_MS; sent without recording' });
  });

  test('a recording egress is still writing (no end-of-stream page yet) is accepted with a warning and no duration from its part', async () => {
    // The fixture up to a page boundary: every page whole, the last one without its end-of-stream flag.
    const bytes = readFileSync(OGG);
    const cut = bytes.lastIndexOf('OggS', bytes.length - 28);
    writeFileSync(join(rig.recordingsDir, 'writing.ogg'), bytes.subarray(0, cut));
    const a = await postCall(rig, { session: session('writ0001'), recordingPath: 'writing.ogg' });
    assert.equal(a.status, 202, JSON.stringify(a.body));
    assert.match((a.body.warnings as string[])[0] ?? '', /recordingPath writing\.ogg: still being written; the worker waits for it up to CRM_RECORDING_WAIT_MS/);
    const callId = a.body.callId as string;
    const item = await rig.server.store.get(callId);
    assert.equal(item?.recording.path, join(rig.recordingsDir, 'writing.ogg'));
    assert.equal(item?.payload.callDetails.recordingDuration, undefined);
    assert.equal(item?.payload.callDetails.recordingSize, undefined);
    // Never finished within CRM_RECORDING_WAIT_MS (1 s here): sent without it, and without a duration.
    await waitForState(rig, callId, 'delivered', 8_000);
    const status = await getJson(rig, `/v1/calls/${callId}`);
    assert.match((status.body.recording as { note: string }).note, /^recording file not finished \(.*no end-of-stream flag.*\) within CRM_RECORDING_WAIT_MS; sent without recording$/);
    const sent = (await crmAdmin(rig.crm.url).calls()).find((c) => c.callDetails.callId === callId);
    assert.equal(sent?.callDetails.recordingUrl, undefined);
    assert.equal(sent?.callDetails.recordingDuration, undefined);
  });

  test('a file that is not audio is a 400 naming recordingPath', async () => {
    writeFileSync(join(rig.recordingsDir, 'notes.ogg'), 'not audio at all');
    const a = await postCall(rig, { session: session('bad00001'), recordingPath: 'notes.ogg' });
    assert.equal(a.status, 400);
    assert.deepEqual((a.body.problems as { field: string; code: string }[]).map((p) => [p.field, p.code]), [['recordingPath', 'E_INPUT_AUDIO']]);
  });
});

describe('ingest API: recordingPath without a recordings folder', () => {
  test('is a 400 naming recordingPath and CRM_RECORDINGS_DIR', async () => {
    const rig = await startRig({ CRM_RECORDINGS_DIR: undefined }, { worker: false });
    try {
      const a = await postCall(rig, { session: session('nodir001'), recordingPath: OGG });
      assert.equal(a.status, 400);
      const [p] = a.body.problems as { field: string; code: string; message: string }[];
      assert.equal(p?.field, 'recordingPath');
      assert.equal(p?.code, 'E_SERVE_NO_RECORDINGS_DIR');
      assert.match(p?.message ?? '', /CRM_RECORDINGS_DIR/);
    } finally {
      await rig.close();
    }
  });
});

describe('ingest API: multipart upload', () => {
  let rig: ServeRig;
  before(async () => {
    rig = await startRig({}, { maxUploadBytes: 1024 * 1024 });
  });
  after(async () => {
    await rig.close();
  });

  async function form(call: unknown, file: string | null = OGG, name = OGG_NAME): Promise<FormData> {
    const f = new FormData();
    f.append('call', JSON.stringify(call));
    if (file !== null) f.append('recording', await openAsBlob(file, { type: 'audio/ogg' }), name);
    return f;
  }

  test('the file is kept durably before the answer, the item points at it, the worker uploads it once; a repeat keeps nothing new', async () => {
    const s = session('form0001');
    const a = await postForm(rig, await form({ session: s }));
    assert.equal(a.status, 202, JSON.stringify(a.body));
    assert.equal(a.body.enqueued, true);
    const callId = a.body.callId as string;

    const kept = filesUnder(rig.server.uploadsDir);
    assert.equal(kept.length, 1, `one kept file, no temporary one left: ${kept.join(', ')}`);
    assert.match(kept[0] ?? '', new RegExp(`^[0-9a-f]{16}/${OGG_NAME}$`));
    const keptPath = join(rig.server.uploadsDir, kept[0] as string);
    assert.deepEqual(readFileSync(keptPath), readFileSync(OGG));

    const item = await rig.server.store.get(callId);
    assert.equal(item?.recording.path, keptPath);
    const facts = await readRecording(keptPath);
    const expected = prepareSession(s, { config: rig.config, recording: { path: keptPath, size: facts.size, durationSec: facts.durationSec, number: '919999900001', epoch: 1761745857 } }).payload;
    assert.deepEqual(item?.payload, expected);
    assert.equal(item?.payload.callDetails.callerNumber, '+919999900001', 'the egress name gives the caller');

    await waitForState(rig, callId);
    const mine = (await crmAdmin(rig.crm.url).requests()).filter((r) => r.idempotencyKey?.includes(callId));
    assert.deepEqual(mine.map((r) => r.path), [UPLOAD, CALL_DATA]);

    const again = await postForm(rig, await form({ session: s }));
    assert.equal(again.status, 202);
    assert.deepEqual(again.body, { callId, status: 'delivered', enqueued: false, warnings: [] });
    assert.deepEqual(filesUnder(rig.server.uploadsDir), kept);

    // The same call queued before without a recording: now another payload under its callId, a 409 naming
    // it, and the new upload is not kept.
    const plain = session('form0002');
    const first = await postCall(rig, { session: plain });
    assert.equal(first.status, 202);
    const late = await postForm(rig, await form({ session: plain }, OGG, 'other-name.ogg'));
    assert.equal(late.status, 409, JSON.stringify(late.body));
    assert.equal(late.body.code, 'E_SERVE_CONFLICT');
    assert.match(late.body.message as string, new RegExp(`callId ${first.body.callId as string} is already queued with a different payload`));
    assert.deepEqual(filesUnder(rig.server.uploadsDir), kept);
  });

  test('refused uploads leave no file: not audio, recordingPath as well, unknown fields, no call, over the limit', async () => {
    const notAudio = join(rig.dir, 'notes.txt');
    writeFileSync(notAudio, 'hello');
    const before = filesUnder(rig.server.uploadsDir);

    const bad = await postForm(rig, await form({ session: session('form0003') }, notAudio, 'x.ogg'));
    assert.equal(bad.status, 400);
    assert.deepEqual((bad.body.problems as { field: string; code: string }[]).map((p) => [p.field, p.code]), [['recording', 'E_INPUT_AUDIO']]);

    const both = await postForm(rig, await form({ session: session('form0004'), recordingPath: 'a.ogg' }));
    assert.equal(both.status, 400);
    assert.deepEqual((both.body.problems as { field: string }[]).map((p) => p.field), ['recordingPath']);

    const extra = await form({ session: session('form0005') });
    extra.append('notes', 'hi');
    const unknown = await postForm(rig, extra);
    assert.equal(unknown.status, 400);
    assert.deepEqual((unknown.body.problems as { field: string }[]).map((p) => p.field), ['notes']);

    // The call part comes first: a recording before it is refused before a byte of it is written.
    const recordingFirst = new FormData();
    recordingFirst.append('recording', await openAsBlob(OGG), OGG_NAME);
    recordingFirst.append('call', JSON.stringify({ session: session('form0007') }));
    const early = await postForm(rig, recordingFirst);
    assert.equal(early.status, 400);
    assert.deepEqual((early.body.problems as { field: string }[]).map((p) => p.field), ['recording']);
    assert.match(early.body.message as string, /the "call" part must come before the "recording" file/);

    const missing = await postForm(rig, new FormData());
    assert.equal(missing.status, 400);
    assert.deepEqual((missing.body.problems as { field: string }[]).map((p) => p.field), ['call']);

    const badJson = new FormData();
    badJson.append('call', '{"session":');
    const malformed = await postForm(rig, badJson);
    assert.equal(malformed.status, 400);
    assert.deepEqual((malformed.body.problems as { field: string }[]).map((p) => p.field), ['call']);

    const big = await form({ session: session('form0006') }, null);
    big.append('recording', new Blob([new Uint8Array(2 * 1024 * 1024)]), OGG_NAME);
    const tooBig = await postForm(rig, big);
    assert.equal(tooBig.status, 413);

    assert.deepEqual(filesUnder(rig.server.uploadsDir), before, 'no kept or temporary file is left behind');
    assert.equal((await getJson(rig, '/healthz')).status, 200);
  });
});
