/**
 * The choice of log format and level, and the shape of a message line (src/log/line-format.ts).
 */
import assert from 'node:assert/strict';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatMessageLine, isJournalStream, resolveLogFormat, resolveLogLevel } from '../../src/log/line-format.ts';

test('resolveLogFormat: flag, then CRM_LOG_FORMAT, then auto (JSON unless stderr is a terminal)', () => {
  const journal = () => true; // not for people: a pipe, a file, the journal
  const terminal = () => false;
  const cases: [string | undefined, string | undefined, () => boolean, string | null][] = [
    [undefined, undefined, terminal, 'text'],
    [undefined, undefined, journal, 'json'],
    ['json', undefined, terminal, 'json'],
    ['text', undefined, journal, 'text'],
    [undefined, 'json', terminal, 'json'],
    ['text', 'json', terminal, 'text'],
    ['AUTO', undefined, journal, 'json'],
    ['xml', undefined, terminal, null],
    [undefined, 'yaml', terminal, null],
  ];
  for (const [flag, env, notForPeople, expected] of cases) {
    assert.equal(resolveLogFormat(flag, { CRM_LOG_FORMAT: env }, notForPeople), expected, `${flag} ${env}`);
  }
});

test('resolveLogLevel: flag, LOG_LEVEL, --verbose, then info for JSON and warn for text', () => {
  assert.equal(resolveLogLevel('error', { LOG_LEVEL: 'debug' }, true, 'json'), 'error');
  assert.equal(resolveLogLevel(undefined, { LOG_LEVEL: 'debug' }, false, 'text'), 'debug');
  assert.equal(resolveLogLevel(undefined, {}, true, 'text'), 'debug');
  assert.equal(resolveLogLevel(undefined, {}, false, 'json'), 'info');
  assert.equal(resolveLogLevel(undefined, {}, false, 'text'), 'warn');
});

test('formatMessageLine: text as is; JSON shaped like pino, level from the prefix, masked unless showPii', () => {
  assert.equal(formatMessageLine('queued CALL-1 from +919999900001', 'text'), 'queued CALL-1 from +919999900001\n');
  const line = (text: string, showPii = false) => JSON.parse(formatMessageLine(text, 'json', showPii, 1_700_000_000_000)) as Record<string, unknown>;
  assert.deepEqual(line('queued from +919999900001 / asha.rao@example.com'), { level: 30, time: 1_700_000_000_000, msg: 'queued from +**********01 / a***@example.com' });
  assert.equal(line('warning: slow').level, 40);
  assert.equal(line('error: E_CONFIG: bad').level, 50);
  assert.equal(line('call +919999900001', true).msg, 'call +919999900001');
  assert.ok(formatMessageLine('x', 'json').endsWith('}\n'));
});

test('isJournalStream: only when JOURNAL_STREAM is the device:inode of that descriptor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crm-journal-'));
  const fd = openSync(join(dir, 'a'), 'w');
  try {
    const st = fstatSync(fd);
    assert.equal(isJournalStream(`${st.dev}:${st.ino}`, fd), true);
    assert.equal(isJournalStream(`${st.dev}:${st.ino + 1}`, fd), false);
    assert.equal(isJournalStream(undefined, fd), false);
    assert.equal(isJournalStream('garbage', fd), false);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});
