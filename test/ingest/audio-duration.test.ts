/**
 * Recording durations read from real files made at test time by Debian's opus-tools and sox: Ogg Opus and
 * WAV from 1 s to 30 min, mono and stereo, small and large pages. The expected figure comes from the tools
 * themselves (`opusinfo`'s playback length, `soxi -D`), not from the reader under test. A recording that is
 * not finished (cut mid-page, cut at a page boundary, end-of-stream flag cleared, WAV cut short) is refused
 * as incomplete, never read as a shorter duration.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E_INPUT_AUDIO_INCOMPLETE, probeAudio } from '../../src/ingest/audio.ts';
import { oggCrc, readOggPageAt, type OggPage } from '../../src/ingest/ogg-duration.ts';
import { oggPages } from '../helpers/ogg-pages.ts';
import { runPipeline, toolsSkipReason } from '../helpers/debian-tools.ts';

/** A recording to make: `sox` synthesises (a sine, or silence when `silent`), `opusenc` encodes with `opus`. */
interface Case {
  name: string;
  seconds: number;
  channels: 1 | 2;
  rate: number;
  silent?: boolean;
  /** Extra opusenc arguments (page size: --max-delay; --comp; --framesize). Absent for WAV and Vorbis. */
  opus?: string;
  kind: 'opus' | 'wav' | 'vorbis';
}

const CASES: Case[] = [
  { kind: 'opus', name: '1 s mono', seconds: 1, channels: 1, rate: 48_000, opus: '' },
  // The file of the report: opusenc's default one page per second, so 15–16 pages, past where the old reader stopped.
  { kind: 'opus', name: '13 s mono, a page per second', seconds: 13, channels: 1, rate: 48_000, opus: '' },
  { kind: 'opus', name: '13 s stereo, a page per packet', seconds: 13, channels: 2, rate: 44_100, opus: '--max-delay 0' },
  { kind: 'opus', name: '2.6 s stereo rounds up', seconds: 2.6, channels: 2, rate: 16_000, opus: '--comp 0' },
  { kind: 'opus', name: '95 s stereo, 60 ms frames, fastest', seconds: 95, channels: 2, rate: 16_000, opus: '--comp 0 --framesize 60' },
  { kind: 'opus', name: '30 min mono', seconds: 1800, channels: 1, rate: 8_000, silent: true, opus: '--comp 0 --framesize 60 --bitrate 6' },
  { kind: 'wav', name: '1 s mono', seconds: 1, channels: 1, rate: 8_000 },
  { kind: 'wav', name: '13 s stereo', seconds: 13, channels: 2, rate: 44_100 },
  { kind: 'wav', name: '7.5 s mono rounds up', seconds: 7.5, channels: 1, rate: 22_050 },
  { kind: 'wav', name: '30 min stereo', seconds: 1800, channels: 2, rate: 8_000, silent: true },
  { kind: 'vorbis', name: '3 s mono', seconds: 3, channels: 1, rate: 22_050 },
];

const q = (path: string): string => `'${path.replaceAll("'", `'\\''`)}'`;

/** Make the file of a case in `dir`; returns its path. */
async function make(dir: string, c: Case, index: number): Promise<string> {
  const signal = c.silent ? `trim 0 ${c.seconds}` : `synth ${c.seconds} sine 440`;
  const raw = `sox -n -r ${c.rate} -c ${c.channels} -b 16`;
  const out = join(dir, `${index}.${c.kind === 'wav' ? 'wav' : 'ogg'}`);
  // As the report made it: sox writes a WAV file, opusenc encodes it (the WAV is removed afterwards).
  if (c.kind === 'opus') await runPipeline(`${raw} ${q(`${out}.wav`)} ${signal} 2>/dev/null && opusenc --quiet ${c.opus ?? ''} ${q(`${out}.wav`)} ${q(out)} && rm ${q(`${out}.wav`)}`);
  else await runPipeline(`${raw} ${q(out)} ${signal} 2>/dev/null`);
  return out;
}

/** The duration the tools state: `opusinfo`'s playback length for Opus, `soxi -D` for the rest. */
async function statedSeconds(path: string, kind: Case['kind']): Promise<number> {
  if (kind === 'opus') {
    const info = await runPipeline(`opusinfo ${q(path)}`);
    const m = /Playback length:\s*(\d+)m:(\d+(?:\.\d+)?)s/.exec(info);
    assert.ok(m, `opusinfo gave no playback length:\n${info}`);
    return Number(m[1]) * 60 + Number(m[2]);
  }
  return Number((await runPipeline(`soxi -D ${q(path)}`)).trim());
}

describe('recording duration from real files', { skip: toolsSkipReason('sox', 'soxi', 'opusenc', 'opusinfo'), timeout: 120_000 }, () => {
  let dir = '';
  const made = new Map<string, string>();
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'crm-audio-'));
    for (const [i, c] of CASES.entries()) made.set(`${c.kind} ${c.name}`, await make(dir, c, i));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  for (const c of CASES) {
    test(`${c.kind} ${c.name}: recordingDuration is what the stream states`, async () => {
      const path = made.get(`${c.kind} ${c.name}`) ?? '';
      const stated = await statedSeconds(path, c.kind);
      assert.ok(Math.abs(stated - c.seconds) < 0.05, `the tools made ${stated} s for ${c.seconds} s`);
      const facts = await probeAudio(path);
      assert.equal(facts.durationSec, Math.round(stated));
      assert.equal(facts.size, (await readFile(path)).length);
    });
  }

  test('the 13 s Opus file of the report: more than 13 pages, the last with end-of-stream; (granule − pre-skip) / 48000', async () => {
    const bytes = new Uint8Array(await readFile(made.get('opus 13 s mono, a page per second') ?? ''));
    const pages = oggPages(bytes);
    // music-metadata stopped reading after the 13th page (the first is page 0), so it never saw the last one.
    assert.ok(pages.length > 13, `${pages.length} pages`);
    const last = pages.at(-1);
    assert.equal((last?.flags ?? 0) & 0x04, 0x04, 'end-of-stream flag on the last page');
    assert.ok(pages.slice(0, -1).every((p) => (p.flags & 0x04) === 0), 'and on no other');
    const head = pages[0]?.body ?? new Uint8Array();
    const preSkip = new DataView(head.buffer, head.byteOffset).getUint16(10, true);
    assert.equal(preSkip, 312, 'opusenc pre-skip');
    const samples = Number(last?.granule ?? 0n) - preSkip;
    assert.equal(samples, 13 * 48_000);
    assert.equal((await probeAudio(made.get('opus 13 s mono, a page per second') ?? '')).durationSec, 13);
  });

  describe('a recording not finished yet is refused as incomplete, never read as a shorter duration', () => {
    async function writeVariant(name: string, bytes: Uint8Array): Promise<string> {
      const path = join(dir, name);
      await writeFile(path, bytes);
      return path;
    }

    async function assertIncomplete(path: string, reason: RegExp): Promise<void> {
      await assert.rejects(probeAudio(path), (err: Error & { code?: string }) => {
        assert.equal(err.code, E_INPUT_AUDIO_INCOMPLETE);
        assert.match(err.message, reason);
        return true;
      });
    }

    test('Ogg Opus cut in the middle of a page', async () => {
      for (const name of ['opus 13 s mono, a page per second', 'opus 30 min mono']) {
        const bytes = new Uint8Array(await readFile(made.get(name) ?? ''));
        const pages = oggPages(bytes);
        const middle = pages[Math.floor(pages.length / 2)] as OggPage;
        await assertIncomplete(await writeVariant('cut-mid.ogg', bytes.subarray(0, middle.offset + Math.floor(middle.length / 2))), /ends inside an Ogg page/);
      }
    });

    test('Ogg Opus cut at a page boundary (every earlier page whole, none with end-of-stream)', async () => {
      const bytes = new Uint8Array(await readFile(made.get('opus 13 s stereo, a page per packet') ?? ''));
      const pages = oggPages(bytes);
      for (const keep of [3, Math.floor(pages.length / 2), pages.length - 1]) {
        const end = (pages[keep - 1] as OggPage).offset + (pages[keep - 1] as OggPage).length;
        await assertIncomplete(await writeVariant(`cut-${keep}.ogg`, bytes.subarray(0, end)), /no end-of-stream flag/);
      }
    });

    test('Ogg Opus whose last page has its end-of-stream flag cleared (checksum recomputed)', async () => {
      const bytes = new Uint8Array(await readFile(made.get('opus 13 s mono, a page per second') ?? ''));
      const last = oggPages(bytes).at(-1) as OggPage;
      const copy = bytes.slice();
      copy[last.offset + 5] = (copy[last.offset + 5] as number) & ~0x04;
      const page = copy.subarray(last.offset, last.offset + last.length);
      new DataView(page.buffer, page.byteOffset).setUint32(22, oggCrc(page), true);
      assert.ok(readOggPageAt(copy, last.offset), 'still a valid page');
      await assertIncomplete(await writeVariant('no-eos.ogg', copy), /no end-of-stream flag/);
    });

    test('WAV cut short, and a WAV whose header a streaming writer left unfinished', async () => {
      const bytes = new Uint8Array(await readFile(made.get('wav 13 s stereo') ?? ''));
      await assertIncomplete(await writeVariant('cut.wav', bytes.subarray(0, Math.floor(bytes.length / 3))), /runs past the end/);
      // sox writing to a pipe cannot go back to fix the sizes: its header claims ~2 GiB of data.
      const streamed = join(dir, 'streamed.wav');
      await runPipeline(`sox -n -r 8000 -c 1 -b 16 -t wav - synth 2 sine 440 2>/dev/null | cat > ${q(streamed)}`);
      await assertIncomplete(streamed, /runs past the end/);
    });
  });
});
