import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectFormat, detectJsonFormat, isInputCandidate, looksLikeEventLog, sniffAudio } from '../../src/ingest/detect-format.ts';

const bytes = (s: string, pad = 0) => new Uint8Array([...Buffer.from(s, 'latin1'), ...new Array<number>(pad).fill(0)]);

describe('detectJsonFormat', () => {
  const rows: [string, unknown, string | null][] = [
    ['logger session', { session_id: 's', start_time: 't', items: [] }, 'transcript-logger'],
    ['session with items not a list', { session_id: 's', items: 'x' }, 'transcript-logger'],
    ['mongo export', { session_id: 's', items: [{ type: 'persona_applied' }, { role: 'unknown', raw: "id='x'" }] }, 'mongo-export'],
    ['livekit history', { items: [{ type: 'message' }] }, 'livekit-history'],
    ['empty livekit history', { items: [] }, 'livekit-history'],
    ['legacy', { conversation: [] }, 'legacy-conversation'],
    ['lead', { name: 'A', email: 'a@example.com' }, 'lead'],
    ['lead with only a phone', { phone: '9999900003', timestamp: 't' }, 'lead'],
    ['manifest', { session_id: 's', files: {}, timestamps: {} }, 'manifest'],
    ['manifest without timestamps', { dialed_number: '+91', files: {} }, 'manifest'],
    ['flat event', { role: 'user', content: 'x', timestamp: 't' }, null],
    ['list', [{ items: [] }], null],
    ['null', null, null],
    ['number', 3, null],
  ];
  for (const [label, doc, expected] of rows) it(`${label} → ${expected}`, () => assert.equal(detectJsonFormat(doc), expected));
});

describe('sniffAudio and detectFormat', () => {
  it('recognises containers by their first bytes', () => {
    assert.equal(sniffAudio(bytes('OggS', 8)), 'ogg');
    assert.equal(sniffAudio(bytes('RIFF\x00\x00\x00\x00WAVE')), 'wav');
    assert.equal(sniffAudio(bytes('RIFF\x00\x00\x00\x00AVI ')), null);
    assert.equal(sniffAudio(bytes('ID3', 9)), 'mp3');
    assert.equal(sniffAudio(bytes('fLaC', 8)), 'flac');
    assert.equal(sniffAudio(bytes('\x00\x00\x00\x18ftypM4A ')), 'mp4');
    assert.equal(sniffAudio(bytes('{"items": []}')), null);
    assert.equal(sniffAudio(new Uint8Array()), null);
  });
  it('audio by magic bytes whatever the name, or by extension whatever the content', () => {
    assert.equal(detectFormat('recording.bin', { head: bytes('OggS', 8) }), 'recording');
    assert.equal(detectFormat('fake.ogg', { head: bytes('hello world!') }), 'recording');
    assert.equal(detectFormat('x.json', { json: { items: [] } }), 'livekit-history');
    assert.equal(detectFormat('transcripts.jsonl', { text: '{"role":"user"}\n' }), 'event-log');
    assert.equal(detectFormat('transcripts.json', { text: '{"role":"user"}\n' }), null);
    assert.equal(detectFormat('transcripts.json', { text: '{"role":"user"}\n{"role":"assistant"}\n' }), 'event-log');
  });
  it('an event log is lines of events, not of calls', () => {
    assert.equal(looksLikeEventLog('{"a":1}\n\n{"b":2}\n'), true);
    assert.equal(looksLikeEventLog('{"items":[]}\n{"items":[]}'), false);
    assert.equal(looksLikeEventLog('{"a":1}\n{"b":'), false);
    assert.equal(looksLikeEventLog(''), false);
  });
  it('a folder walk passes over documents and hidden files', () => {
    for (const name of ['a.json', 'a.jsonl', 'a.ogg', 'a.WAV', 'noext', 'a.json.partial']) assert.equal(isInputCandidate(name), true, name);
    for (const name of ['README.md', '.DS_Store', 'notes.txt']) assert.equal(isInputCandidate(name), false, name);
  });
});
