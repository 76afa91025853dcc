/**
 * `readInputFile` and a recording egress is still writing (docs/architecture.md, "Delivery" → "Recording step"):
 * real recordings (the fixture Ogg Opus and WAV) cut as a file being written is, at a page boundary, in the
 * middle of a page, or a WAV short of its stated data. Such a file is a recording marked `stillWriting`, its
 * number and epoch from its name, no duration (never one read from a part) and the size seen — not bad input,
 * so a scan matches its call to it and the worker waits for it. A file that is no audio is still refused, and
 * `readRecording` itself still throws for an unfinished file (serve reports it on its own).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E_INPUT_AUDIO, E_INPUT_AUDIO_INCOMPLETE } from '../../src/ingest/audio.ts';
import { oggPageEnds } from '../helpers/ogg-pages.ts';
import { readInputFile, type IngestResult } from '../../src/ingest/read-file.ts';
import { readRecording } from '../../src/ingest/read-recording.ts';
import { fixture, OGG_RECORDING } from '../helpers/fixtures.ts';

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'crm-read-file-')));
after(() => rmSync(dir, { recursive: true, force: true }));

const ctx = { sourceTimezone: 'Asia/Kolkata' };
const EGRESS = 'number-_919999900000-1761724800';

/** The fixture recording, whole: Ogg Opus of 7.76 s ending with its end-of-stream page. */
const full = new Uint8Array(readFileSync(OGG_RECORDING));

/** Write `bytes` as `name` in the test folder; its path. */
function put(name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** The recording facts of a result, failing when it is no recording. */
function recordingOf(result: IngestResult) {
  assert.equal(result.kind, 'recording');
  assert.equal(result.format, 'recording');
  return (result as Extract<IngestResult, { kind: 'recording' }>).recording;
}

describe('readInputFile: a recording egress is still writing', () => {
  const ends = oggPageEnds(full);

  test('the fixture is a finished recording of more than a few pages (what the cuts below are cut from)', async () => {
    assert.ok(ends.length > 4, `${ends.length} pages`);
    assert.equal(ends.at(-1), full.length);
    const facts = recordingOf(await readInputFile(put(`${EGRESS}-whole.ogg`, full), ctx));
    assert.equal(facts.durationSec, 8);
    assert.equal(facts.size, full.length);
    assert.equal('stillWriting' in facts, false, 'a finished recording is not marked');
  });

  const cuts: [string, () => Uint8Array][] = [
    ['cut at a page boundary (every page whole, none with end-of-stream)', () => full.subarray(0, ends[2])],
    ['cut in the middle of a page', () => full.subarray(0, (ends[2] as number) + 100)],
    ['only the header pages written', () => full.subarray(0, ends[1])],
  ];
  for (const [what, cut] of cuts) {
    test(`Ogg ${what}: a recording, stillWriting, no duration, number and epoch from the name, the size seen`, async () => {
      const bytes = cut();
      const path = put(`${EGRESS}.ogg`, bytes);
      // What the unchanged reader says of it: unfinished, so no duration may be read from it.
      await assert.rejects(readRecording(path), (err: Error & { code?: string }) => err.code === E_INPUT_AUDIO_INCOMPLETE);
      const facts = recordingOf(await readInputFile(path, ctx));
      assert.deepEqual(facts, { file: path, number: '919999900000', epoch: 1761724800, size: bytes.length, durationSec: null, stillWriting: true });
    });
  }

  test('a file without extension recognised by its first bytes (OggS) is read the same way', async () => {
    const bytes = full.subarray(0, ends[3]);
    const path = put(EGRESS, bytes);
    const facts = recordingOf(await readInputFile(path, ctx));
    assert.deepEqual(facts, { file: path, number: '919999900000', epoch: 1761724800, size: bytes.length, durationSec: null, stillWriting: true });
  });

  test('a WAV whose data runs past the end of the file (cut short): stillWriting', async () => {
    const wav = new Uint8Array(readFileSync(fixture('recordings/sample_tts_22050hz_mono.wav')));
    const bytes = wav.subarray(0, Math.floor(wav.length / 3));
    const path = put(`${EGRESS}.wav`, bytes);
    const facts = recordingOf(await readInputFile(path, ctx));
    assert.deepEqual(facts, { file: path, number: '919999900000', epoch: 1761724800, size: bytes.length, durationSec: null, stillWriting: true });
  });

  test('a name egress did not give: stillWriting with no number and no epoch (matching then has nothing to go by)', async () => {
    const bytes = full.subarray(0, ends[2]);
    const path = put('call-recording.ogg', bytes);
    const facts = recordingOf(await readInputFile(path, ctx));
    assert.deepEqual(facts, { file: path, number: null, epoch: null, size: bytes.length, durationSec: null, stillWriting: true });
  });

  test('a .ogg that is no audio at all is still refused with E_INPUT_AUDIO', async () => {
    const path = put(`${EGRESS}-text.ogg`, 'this is not a recording\n');
    await assert.rejects(readInputFile(path, ctx), (err: Error & { code?: string; context?: { file?: unknown } }) => {
      assert.equal(err.code, E_INPUT_AUDIO);
      assert.equal(err.context?.file, path);
      return true;
    });
  });
});
