/**
 * The bad-input corpus (test/fixtures/bad/): each file gives a clear error naming the file and the
 * field, none crashes, and the good files next to them still read.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InputError } from '../../src/errors.ts';
import { inspectInputFile } from '../../src/ingest/inspect-file.ts';
import { InputProblemsError } from '../../src/ingest/problems.ts';
import { MAX_JSON_BYTES, readInputFile } from '../../src/ingest/read-file.ts';
import { FolderResolver } from '../../src/ingest/resolve-path.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

const BAD = fileURLToPath(new URL('../fixtures/bad/', import.meta.url));
const ctx = { sourceTimezone: 'Asia/Kolkata' };

/** file → detected format and the [field, code] of every problem, in order. */
const CORPUS: Record<string, { format: string | null; problems: [string, string][] }> = {
  'truncated.json': { format: null, problems: [['', 'E_INPUT_JSON']] },
  'array-not-object.json': { format: null, problems: [['', 'E_INPUT_FORMAT']] },
  'empty.json': { format: null, problems: [['', 'E_INPUT_JSON']] },
  'unknown-format.json': { format: null, problems: [['', 'E_INPUT_FORMAT']] },
  'session-items-not-list.json': { format: 'transcript-logger', problems: [['items', 'E_INPUT_FIELD']] },
  'session-wrong-types.json': {
    format: 'transcript-logger',
    problems: [
      ['session_id', 'E_INPUT_FIELD'],
      ['items[0].content', 'E_INPUT_FIELD'],
      ['items[1].role', 'E_INPUT_FIELD'],
      ['items[2].source', 'E_INPUT_FIELD'],
      ['items[2].transcript_confidence', 'E_INPUT_FIELD'],
      ['items[2].interrupted', 'E_INPUT_FIELD'],
      ['items[3].arguments', 'E_INPUT_FIELD'],
      ['items[4]', 'E_INPUT_FIELD'],
      ['items[5].content', 'E_INPUT_FIELD'],
      ['metadata.campaign_metadata.campaignId', 'E_INPUT_FIELD'],
    ],
  },
  'session-bad-times.json': {
    format: 'transcript-logger',
    problems: [
      ['start_time', 'E_INPUT_TIME'],
      ['end_time', 'E_INPUT_TIME'],
      ['items[0].timestamp', 'E_INPUT_TIME'],
      ['items[1].timestamp', 'E_INPUT_TIME'],
    ],
  },
  'livekit-wrong-types.json': {
    format: 'livekit-history',
    problems: [
      ['items[0].content', 'E_INPUT_FIELD'],
      ['items[1].interrupted', 'E_INPUT_FIELD'],
      ['items[2].arguments', 'E_INPUT_FIELD'],
    ],
  },
  'legacy-wrong-types.json': { format: 'legacy-conversation', problems: [['conversation', 'E_INPUT_FIELD']] },
  'legacy-bad-item.json': {
    format: 'legacy-conversation',
    problems: [
      ['conversation[1].timestamp', 'E_INPUT_TIME'],
      ['conversation[3]', 'E_INPUT_FIELD'],
    ],
  },
  'mongo-bad-raw.json': {
    format: 'mongo-export',
    problems: [
      ['items[1].raw', 'E_INPUT_REPR'],
      ['items[2].raw', 'E_INPUT_FIELD'],
    ],
  },
  'lead-wrong-types.json': {
    format: 'lead',
    problems: [
      ['timestamp', 'E_INPUT_TIME'],
      ['name', 'E_INPUT_FIELD'],
      ['email', 'E_INPUT_FIELD'],
      ['phone', 'E_INPUT_FIELD'],
      ['campaign_metadata', 'E_INPUT_FIELD'],
    ],
  },
  'manifest-wrong-types.json': {
    format: 'manifest',
    problems: [
      ['dialed_number', 'E_INPUT_FIELD'],
      ['files.recording', 'E_INPUT_FIELD'],
      ['files.conversation', 'E_INPUT_FIELD'],
      ['timestamps.call_start', 'E_INPUT_TIME'],
    ],
  },
  'manifest-outside.json': { format: 'manifest', problems: [['files.conversation', 'E_INPUT_MANIFEST']] },
  'number-_919999900009-1761745857.ogg': { format: 'recording', problems: [['', 'E_INPUT_AUDIO']] },
  'not-audio.ogg': { format: 'recording', problems: [['', 'E_INPUT_AUDIO']] },
};

describe('bad-input corpus', () => {
  it('every file of the corpus is in the table', async () => {
    assert.deepEqual((await readdir(BAD)).sort(), Object.keys(CORPUS).sort());
  });

  const resolver = new FolderResolver([BAD]);
  for (const [name, expected] of Object.entries(CORPUS)) {
    it(`${name}: ${expected.problems.map(([f, c]) => `${f || '(file)'} ${c}`).join(', ')}`, async () => {
      const path = join(BAD, name);
      const report = await inspectInputFile(path, ctx, resolver);
      assert.equal(report.ok, false);
      assert.equal(report.file, path);
      assert.equal(report.format, expected.format);
      assert.deepEqual(
        report.problems.map((p) => [p.field, p.code]),
        expected.problems,
      );
      for (const p of report.problems) {
        assert.ok(p.message.length > 10, 'a message that says something');
        if (p.field) assert.ok(p.message.includes(p.field), `the message names the field: ${p.message}`);
      }
      if (name === 'manifest-outside.json') return; // the reader accepts it; resolving refuses it
      await assert.rejects(readInputFile(path, ctx), (err: unknown) => {
        assert.ok(err instanceof InputError && err instanceof InputProblemsError);
        assert.equal(err.context.file, path);
        assert.equal(err.context.field, expected.problems[0]?.[0]);
        assert.equal(err.code, expected.problems[0]?.[1]);
        return true;
      });
    });
  }

  it('truncated JSON names the line and column where it breaks', async () => {
    const report = await inspectInputFile(join(BAD, 'truncated.json'), ctx);
    assert.match(report.problems[0]?.message ?? '', /line 5 column \d+ \(position \d+\)/);
  });

  it('a lead phone given as a number is accepted as its digits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crm-lead-'));
    try {
      await writeFile(join(dir, 'lead_20251023_132655.json'), JSON.stringify({ name: 'Asha Rao', phone: 9999900003, budget: 50000.5 }));
      const result = await readInputFile(join(dir, 'lead_20251023_132655.json'), ctx);
      assert.ok(result.kind === 'lead');
      assert.equal(result.lead.fields.phone, '9999900003');
      assert.equal(result.lead.fields.budget, '50000.5');
      assert.equal(result.lead.fields.timestamp, null);
      assert.equal(result.lead.time, '2025-10-23T07:56:55.000Z');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('refused files', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'crm-refused-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a JSON file over 50 MB is refused from its size, unread (sparse file)', async () => {
    const big = join(dir, 'transcript_session_big.json');
    await writeFile(big, '');
    await truncate(big, MAX_JSON_BYTES + 1024 * 1024);
    await assert.rejects(readInputFile(big, ctx), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.code, 'E_INPUT_TOO_LARGE');
      assert.equal(err.context.file, big);
      return true;
    });
  });

  it('the limit is injectable', async () => {
    const file = join(dir, 'small.json');
    await writeFile(file, JSON.stringify({ items: [] }));
    await assert.rejects(readInputFile(file, { ...ctx, maxJsonBytes: 5 }), /over the 5-byte limit/);
    assert.equal((await readInputFile(file, ctx)).kind, 'call');
  });

  it('a directory, a missing file; a .partial file is skipped', async () => {
    await assert.rejects(readInputFile(dir, ctx), (err: unknown) => err instanceof InputError && err.code === 'E_INPUT_NOT_FILE' && err.context.file === dir);
    const missing = join(dir, 'nope.json');
    await assert.rejects(readInputFile(missing, ctx), (err: unknown) => err instanceof InputError && err.code === 'E_INPUT_MISSING' && err.context.file === missing);
    const partial = join(dir, 'transcript_session_x.json.partial');
    await writeFile(partial, '{"items": [');
    assert.deepEqual(await readInputFile(partial, ctx), { kind: 'skipped', format: null, file: partial, reason: 'being written (.partial)' });
  });

  it('formats are detected by content, not by name', async () => {
    const audio = join(dir, 'egress-output');
    await copyFile(join(FIXTURES, 'recordings/number-_919999900001-1761745857.ogg'), audio);
    const rec = await readInputFile(audio, ctx);
    assert.ok(rec.kind === 'recording');
    assert.deepEqual([rec.recording.size, rec.recording.durationSec], [143347, 8]);
    const session = join(dir, 'call-42.txt');
    await copyFile(join(FIXTURES, 'conversations/legacy/conversation_20251007_164256.json'), session);
    const call = await readInputFile(session, ctx);
    assert.ok(call.kind === 'call');
    assert.equal(call.format, 'legacy-conversation');
  });

  it('a batch of bad and good files together: every bad one reported, every good one read', async () => {
    const batch = join(dir, 'batch');
    await rm(batch, { recursive: true, force: true });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(batch);
    for (const name of Object.keys(CORPUS)) await copyFile(join(BAD, name), join(batch, name));
    const good = [
      'conversations/transcript-logger/transcript_session_2025-10-23T07-57-04.661114.json',
      'conversations/legacy/conversation_20251007_164256.json',
      'conversations/mongo-export/transcript_session_68ff5c0f015c_68ff5b90015c_session20251029.json',
      'leads/lead_20251023_132655.json',
      'recordings/number-_919999900001-1761745857.ogg',
    ];
    for (const g of good) await copyFile(join(FIXTURES, g), join(batch, g.split('/').at(-1) as string));
    const reports = [];
    for (const name of (await readdir(batch)).sort()) reports.push(await inspectInputFile(join(batch, name), ctx, new FolderResolver([batch])));
    for (const r of reports) {
      const name = r.file.split('/').at(-1) as string;
      assert.equal(r.ok, !(name in CORPUS), `${name}: ${JSON.stringify(r.problems)}`);
    }
    assert.equal(reports.filter((r) => r.ok).length, good.length);
  });
});
