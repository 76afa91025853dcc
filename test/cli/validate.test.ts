/**
 * `crm-upload validate` end to end: the CLI run as a process on the fixtures and the bad corpus.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FIXTURES } from '../helpers/fixtures.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const BAD = fileURLToPath(new URL('../fixtures/bad/', import.meta.url));

interface Line {
  file: string;
  format: string | null;
  ok: boolean;
  problems: { field: string; message: string; code: string }[];
  skipped?: string;
}

let cwd = '';

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('CRM_') && k !== 'INIT_CWD') base[k] = v;
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, 'validate', ...args], { cwd, env: { ...base, ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const lines = (stdout: string): Line[] =>
  stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);

describe('crm-upload validate', () => {
  before(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'crm-validate-'));
  });
  after(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it('every real input fixture is valid; the event log is skipped; exit 0', async () => {
    const dirs = ['conversations', 'leads', 'recordings', 'call_metadata'].map((d) => join(FIXTURES, d));
    const { code, stdout, stderr } = await run([...dirs, '--json'], { CRM_SOURCE_TIMEZONE: 'Asia/Kolkata' });
    assert.equal(code, 0, stderr);
    const out = lines(stdout);
    assert.equal(out.length, 12);
    const byName = new Map(out.map((l) => [l.file.split('/').at(-1), l]));
    assert.deepEqual(byName.get('transcripts.jsonl'), {
      file: join(FIXTURES, 'conversations/event-log/transcripts.jsonl'),
      format: 'event-log',
      ok: true,
      problems: [],
      skipped: 'event log: items of many calls without a session id, not a call',
    });
    assert.equal(byName.get('metadata_session_20251029_135057_99509edf.json')?.format, 'manifest');
    assert.equal(byName.get('conversation_20251008_154901.json')?.format, 'legacy-conversation');
    assert.equal(byName.get('number-_919999900001-1761745857.ogg')?.format, 'recording');
    for (const l of out) assert.equal(l.ok, true, `${l.file}: ${JSON.stringify(l.problems)}`);
    assert.match(stderr, /validated 12 file\(s\): 11 valid, 0 invalid, 1 skipped/);
  });

  it('the bad corpus: one line per file, every problem with its field and code; exit 1', async () => {
    const { code, stdout } = await run([BAD, '--json']);
    assert.equal(code, 1);
    const out = lines(stdout);
    assert.equal(out.length, 16);
    for (const l of out) {
      assert.equal(l.ok, false, l.file);
      assert.ok(l.problems.length > 0);
      assert.ok(l.file.startsWith(BAD));
    }
    const lead = out.find((l) => l.file.endsWith('lead-wrong-types.json'));
    assert.equal(lead?.format, 'lead');
    assert.ok(lead?.problems.some((p) => p.field === 'phone' && p.code === 'E_INPUT_FIELD' && p.message === 'phone must be a string, got an object'));
  });

  it('human output goes to stderr only, naming the file, the field and the code', async () => {
    const { code, stdout, stderr } = await run([join(BAD, 'mongo-bad-raw.json'), join(FIXTURES, 'leads/lead_20251023_132655.json')]);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, /INVALID {2}\S*mongo-bad-raw\.json \(mongo-export\)/);
    assert.match(stderr, /items\[1\]\.raw is not a readable Python repr: unterminated string at position \d+ \[E_INPUT_REPR\]/);
    assert.match(stderr, /ok {7}\S*lead_20251023_132655\.json \(lead\)/);
  });

  it('a symbolic link out of a walked folder is refused unread; good files next to it still pass', async () => {
    const inside = join(cwd, 'inside');
    const outside = join(cwd, 'outside');
    await mkdir(inside, { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'secret.json'), '{"name": "not yours"}');
    await symlink(join(outside, 'secret.json'), join(inside, 'lead_20251023_132655.json'));
    await copyFile(join(FIXTURES, 'conversations/legacy/conversation_20251007_164256.json'), join(inside, 'conversation_20251007_164256.json'));
    const { code, stdout } = await run(['inside', '--json']);
    assert.equal(code, 1);
    const out = lines(stdout);
    assert.equal(out.length, 2);
    const link = out.find((l) => l.file.endsWith('lead_20251023_132655.json'));
    assert.equal(link?.ok, false);
    assert.equal(link?.format, null);
    assert.equal(link?.problems[0]?.code, 'E_INPUT_OUTSIDE');
    assert.equal(out.find((l) => l.file.endsWith('conversation_20251007_164256.json'))?.ok, true);
  });

  it('a manifest whose conversation is outside the configured folders is invalid', async () => {
    const { code, stdout } = await run([join(BAD, 'manifest-outside.json'), '--json'], { CRM_CONVERSATIONS_DIR: join(FIXTURES, 'conversations') });
    assert.equal(code, 1);
    assert.deepEqual(
      lines(stdout)[0]?.problems.map((p) => [p.field, p.code]),
      [['files.conversation', 'E_INPUT_MANIFEST']],
    );
  });

  it('a missing path is an invalid file, not a crash', async () => {
    const { code, stdout } = await run(['no-such-file.json', '--json']);
    assert.equal(code, 1);
    assert.deepEqual(lines(stdout), [
      { file: join(cwd, 'no-such-file.json'), format: null, ok: false, problems: [{ code: 'E_INPUT_MISSING', field: '', message: 'no such file' }] },
    ]);
  });

  it('an invalid CRM_SOURCE_TIMEZONE is a configuration error (exit 2)', async () => {
    const { code, stderr } = await run([BAD], { CRM_SOURCE_TIMEZONE: 'Mars/Olympus' });
    assert.equal(code, 2);
    assert.match(stderr, /CRM_SOURCE_TIMEZONE/);
  });
});
