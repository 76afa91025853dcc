import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePyValue, parseReprFields, ReprSyntaxError, type PyValue } from '../../src/ingest/python-repr.ts';

describe('parsePyValue', () => {
  const rows: [string, PyValue][] = [
    ["'plain'", 'plain'],
    ['"double"', 'double'],
    ["'it\\'s'", "it's"],
    ['"say \\"hi\\""', 'say "hi"'],
    ["'line\\nbreak\\ttab\\\\slash'", 'line\nbreak\ttab\\slash'],
    ["'caf\\xe9'", 'café'],
    ["'\\u0928\\u092e\\u0938\\u094d\\u0924\\u0947'", 'नमस्ते'],
    ["'\\U0001F600'", '😀'],
    ["'\\101'", 'A'],
    ["'keep \\d'", 'keep \\d'],
    ["r'raw \\n'", 'raw \\n'],
    ["'नमस्ते 😀'", 'नमस्ते 😀'],
    ['None', null],
    ['True', true],
    ['False', false],
    ['42', 42],
    ['-0.5', -0.5],
    ['1761732980.6023705', 1761732980.6023705],
    ['1e-3', 0.001],
    ['1_000', 1000],
    ["['a', 'b']", ['a', 'b']],
    ["('a',)", ['a']],
    ['[]', []],
    ['[1, [2, [3]]]', [1, [2, [3]]]],
    ['ChatRole.USER', { kind: 'name', name: 'ChatRole.USER' }],
    ["<ChatRole.USER: 'user'>", { kind: 'opaque', text: "<ChatRole.USER: 'user'>" }],
    ["b'\\x00\\x01'", { kind: 'bytes', value: '\x00\x01' }],
    ["{'a': 1, 'b': None}", { kind: 'dict', entries: [['a', 1], ['b', null]] }],
    ["AudioContent(frame=[], transcript='hi')", { kind: 'call', name: 'AudioContent', args: [], kwargs: { frame: [], transcript: 'hi' } }],
    ['datetime.datetime(2025, 10, 29)', { kind: 'call', name: 'datetime.datetime', args: [2025, 10, 29], kwargs: {} }],
  ];
  for (const [text, expected] of rows) {
    it(`${text}`, () => assert.deepEqual(parsePyValue(text), expected));
  }

  const bad = ["'unterminated", "['a', 'b'", "'bad \\x4'", '@', "['a' 'b']", '', "'a' trailing", '('.repeat(300)];
  for (const text of bad) {
    it(`refuses ${JSON.stringify(text.slice(0, 20))}`, () => {
      assert.throws(() => parsePyValue(text), ReprSyntaxError);
    });
  }
});

describe('parseReprFields', () => {
  it('reads a LiveKit chat item as the Mongo exporter wrote it', () => {
    const raw =
      "id='item_96c4e312dc22' type='message' role='user' content=['Hello?'] interrupted=False transcript_confidence=0.9406738 hash=None created_at=1761732988.8195968";
    assert.deepEqual(parseReprFields(raw), {
      id: 'item_96c4e312dc22',
      type: 'message',
      role: 'user',
      content: ['Hello?'],
      interrupted: false,
      transcript_confidence: 0.9406738,
      hash: null,
      created_at: 1761732988.8195968,
    });
  });
  it('reads a full ChatMessage(...) repr and content parts that are objects', () => {
    const raw = "ChatMessage(id='item_1', role='assistant', content=['Hi', AudioContent(frame=[], transcript='x'), \"it's\"], interrupted=True)";
    const fields = parseReprFields(raw);
    assert.equal(fields.role, 'assistant');
    assert.equal(fields.interrupted, true);
    assert.ok(Array.isArray(fields.content) && fields.content.length === 3);
  });
  it('names the position of a problem', () => {
    assert.throws(() => parseReprFields("id='item_1' role='user' content=['Hello"), (err: unknown) => err instanceof ReprSyntaxError && err.position === 33);
    assert.throws(() => parseReprFields('id'), /expected "="|name=value/);
  });
  it('an empty repr has no fields', () => assert.deepEqual(parseReprFields('  '), {}));
});
