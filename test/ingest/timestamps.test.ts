import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { fileNameTime, parseTimestamp, timestampToMs } from '../../src/ingest/timestamps.ts';

const IST = 'Asia/Kolkata';
const NY = 'America/New_York';

/** [value, zone of naive values, expected UTC ISO or null]. */
const GOOD: [unknown, string, string | null][] = [
  ['2025-10-23 07:56:34.608343', 'UTC', '2025-10-23T07:56:34.608Z'],
  ['2025-10-23T07:56:34.608343', 'UTC', '2025-10-23T07:56:34.608Z'],
  ['2025-10-23T07:56:34.608343Z', 'UTC', '2025-10-23T07:56:34.608Z'],
  ['2025-10-23T07:56:34.608343Z', IST, '2025-10-23T07:56:34.608Z'],
  ['2025-10-29 10:16:19.574407+00:00', IST, '2025-10-29T10:16:19.574Z'],
  ['2025-10-29T13:50:57.987953+00:00Z', IST, '2025-10-29T13:50:57.987Z'],
  ['2025-10-23T13:26:55.311209+05:30', 'UTC', '2025-10-23T07:56:55.311Z'],
  ['2025-10-23T13:26:55.311209+05:30Z', 'UTC', '2025-10-23T07:56:55.311Z'],
  ['2025-10-23T13:26:55.311209+0530', 'UTC', '2025-10-23T07:56:55.311Z'],
  ['2025-01-15T12:00:00-05:00', 'UTC', '2025-01-15T17:00:00.000Z'],
  ['2025-10-23T13:26:55.311209', IST, '2025-10-23T07:56:55.311Z'],
  ['2025-10-07T16:42:56.532626', IST, '2025-10-07T11:12:56.532Z'],
  ['2025-10-23T00:10:00', IST, '2025-10-22T18:40:00.000Z'],
  ['2025-10-23T07:56:34.608343999Z', 'UTC', '2025-10-23T07:56:34.608Z'],
  ['2025-10-23T07:56:34.6Z', 'UTC', '2025-10-23T07:56:34.600Z'],
  ['2025-10-23 07:56', 'UTC', '2025-10-23T07:56:00.000Z'],
  ['  2025-10-23T07:56:34Z  ', 'UTC', '2025-10-23T07:56:34.000Z'],
  [1761732980.6023705, IST, '2025-10-29T10:16:20.602Z'],
  ['1761732980.6023705', IST, '2025-10-29T10:16:20.602Z'],
  [1761732980, 'UTC', '2025-10-29T10:16:20.000Z'],
  [1.001, 'UTC', '1970-01-01T00:00:01.001Z'],
  [1761732980602, 'UTC', '2025-10-29T10:16:20.602Z'],
  ['1761732980602', 'UTC', '2025-10-29T10:16:20.602Z'],
  ['2025-07-01 12:00:00', NY, '2025-07-01T16:00:00.000Z'],
  ['2025-01-15 12:00:00', NY, '2025-01-15T17:00:00.000Z'],
  ['2025-03-09 02:30:00', NY, '2025-03-09T07:30:00.000Z'],
  ['2025-11-02 01:30:00', NY, '2025-11-02T06:30:00.000Z'],
  ['2024-02-29T23:59:59.999Z', 'UTC', '2024-02-29T23:59:59.999Z'],
  ['2025-10-23 07:56:34', 'Etc/UTC', '2025-10-23T07:56:34.000Z'],
  [null, IST, null],
  [undefined, IST, null],
  ['', IST, null],
  ['   ', IST, null],
];

const BAD: unknown[] = [
  'yesterday',
  'not a time',
  '2025-13-01T00:00:00Z',
  '2025-02-30 10:00:00',
  '2025-10-23T25:00:00',
  '2025-10-23T07:61:00',
  '2025-10-23T07:56:34ZZ',
  '2025-10-23T07:56:34+25:00',
  '12:00:00',
  '1969-12-31T23:59:59Z',
  '-1761732980',
  true,
  {},
  [],
  -5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  1e21,
];

describe('parseTimestamp', () => {
  for (const [value, zone, expected] of GOOD) {
    it(`${JSON.stringify(value) ?? String(value)} in ${zone} → ${expected}`, () => {
      assert.equal(parseTimestamp(value, zone), expected);
    });
  }
  for (const value of BAD) {
    it(`refuses ${typeof value === 'number' ? String(value) : JSON.stringify(value)}`, () => {
      assert.throws(
        () => parseTimestamp(value, 'UTC', 'items[2].timestamp'),
        (err: unknown) => err instanceof InputError && err.code === 'E_INPUT_TIME' && err.context.field === 'items[2].timestamp' && err.message.includes('items[2].timestamp'),
      );
      assert.equal(timestampToMs(value, 'UTC'), undefined);
    });
  }
  it('a zone that does not exist is a configuration error naming CRM_SOURCE_TIMEZONE', () => {
    assert.throws(() => parseTimestamp('2025-10-23 07:56:34', 'Mars/Olympus'), /CRM_SOURCE_TIMEZONE/);
  });
});

describe('fileNameTime', () => {
  const rows: [string, string, string | null][] = [
    ['transcript_session_2025-10-13T08-23-59.153099.json', IST, '2025-10-13T08:23:59.153Z'],
    ['/a/b/transcript_session_2025-10-29T10-16-54.630373.json', 'UTC', '2025-10-29T10:16:54.630Z'],
    ['conversation_20251008_154901.json', IST, '2025-10-08T10:19:01.000Z'],
    ['conversation_20251008_154901.json', 'UTC', '2025-10-08T15:49:01.000Z'],
    ['lead_20251023_132655.json', IST, '2025-10-23T07:56:55.000Z'],
    ['leads_20251023_132655.json', IST, '2025-10-23T07:56:55.000Z'],
    ['leads_session_1761745857.json', IST, '2025-10-29T13:50:57.000Z'],
    ['leads_session_20251029_135057_99509edf.json', IST, '2025-10-29T13:50:57.000Z'],
    ['metadata_session_20251029_135057_99509edf.json', IST, '2025-10-29T13:50:57.000Z'],
    ['C:\\calls\\conversation_20250701_120000.json', NY, '2025-07-01T16:00:00.000Z'],
    ['transcript_session_68ff5c0f015c_68ff5b90015c_session20251029.json', IST, null],
    ['number-_919999900001-1761745857.ogg', IST, null],
    ['conversation_20251399_154901.json', IST, null],
    ['notes.json', IST, null],
  ];
  for (const [name, zone, expected] of rows) {
    it(`${name} in ${zone} → ${expected}`, () => assert.equal(fileNameTime(name, zone), expected));
  }
});
