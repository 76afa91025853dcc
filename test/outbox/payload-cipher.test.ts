/**
 * The payload cipher (src/outbox/payload-cipher.ts; docs/architecture.md, "Stores" → "Payload encryption"):
 * key parsing, the envelope's round trip, and every way a record must refuse to open — altered, moved to
 * another callId, or under a key that is not configured — as an OutboxKeyError naming the key id.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import {
  createPayloadCipher,
  E_OUTBOX_KEY,
  emptyRekeyReport,
  isEnvelope,
  keyIdOf,
  OutboxKeyError,
  parseOutboxKey,
  payloadCipherOf,
  PLAIN_PAYLOADS,
  rekeyValue,
  type PayloadEnvelope,
} from '../../src/outbox/payload-cipher.ts';
import { samplePayload } from './sample-item.ts';

const KEY_A = Buffer.alloc(32, 0xa1);
const KEY_B = Buffer.alloc(32, 0xb2);
const A_HEX = KEY_A.toString('hex');
const B_B64 = KEY_B.toString('base64');

function rejectsWithKid(fn: () => unknown, kid: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OutboxKeyError);
    assert.ok(err instanceof ConfigError, 'a configuration problem: exit 2');
    assert.equal(err.code, E_OUTBOX_KEY);
    assert.equal(err.kid, kid);
    assert.match(err.message, new RegExp(kid));
    assert.match(err.message, pattern);
    return true;
  });
}

test('keys parse from 64 hex digits and from base64 (padded, unpadded, URL-safe); anything else is refused without the value', () => {
  const raw = randomBytes(32);
  const cases: [string, Buffer][] = [
    [raw.toString('hex'), raw],
    [raw.toString('hex').toUpperCase(), raw],
    [raw.toString('base64'), raw],
    [raw.toString('base64').replace(/=$/, ''), raw],
    [raw.toString('base64url'), raw],
    [`  ${raw.toString('hex')}\n`, raw],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseOutboxKey(text), want, text);
  for (const bad of ['', 'short', 'ab'.repeat(31), 'ab'.repeat(33), Buffer.alloc(31).toString('base64'), Buffer.alloc(33).toString('base64'), 'z'.repeat(64)]) {
    assert.throws(
      () => parseOutboxKey(bad, 'CRM_OUTBOX_OLD_KEYS'),
      (err: unknown) => err instanceof OutboxKeyError && err.code === 'E_OUTBOX_KEY' && err.context.variable === 'CRM_OUTBOX_OLD_KEYS' && (bad.length < 8 || !err.message.includes(bad)),
      bad,
    );
  }
});

test('the key id is the first 8 hex digits of the key\'s SHA-256', () => {
  assert.equal(keyIdOf(KEY_A), createHash('sha256').update(KEY_A).digest('hex').slice(0, 8));
  assert.match(keyIdOf(KEY_A), /^[0-9a-f]{8}$/);
  assert.notEqual(keyIdOf(KEY_A), keyIdOf(KEY_B));
});

test('round trip: an envelope with the key id, a fresh 12-byte IV per record, a 16-byte tag, and no plaintext', () => {
  const cipher = createPayloadCipher({ key: A_HEX });
  const payload = samplePayload('call-1', 'canary-XYZZY');
  const one = cipher.seal('call-1', payload);
  const two = cipher.seal('call-1', payload);
  assert.ok(isEnvelope(one) && isEnvelope(two));
  assert.equal(one.v, 1);
  assert.equal(one.kid, keyIdOf(KEY_A));
  assert.equal(Buffer.from(one.iv, 'base64').length, 12);
  assert.equal(Buffer.from(one.tag, 'base64').length, 16);
  assert.notEqual(one.iv, two.iv, 'a fresh IV per record');
  assert.notEqual(one.ct, two.ct);
  assert.doesNotMatch(JSON.stringify(one), /canary-XYZZY|919999900001|Friday/);
  assert.deepEqual(cipher.open('call-1', one), payload);
  assert.deepEqual(cipher.open('call-1', JSON.parse(JSON.stringify(two))), payload);
  assert.equal(cipher.kindOf(one), 'current');
  assert.equal(cipher.writeKid, keyIdOf(KEY_A));
});

test('tampering with the ciphertext, the tag or the IV is an authentication error naming the key id and the call', () => {
  const cipher = createPayloadCipher({ key: A_HEX });
  const env = cipher.seal('call-1', samplePayload('call-1')) as PayloadEnvelope;
  const flip = (b64: string): string => {
    const b = Buffer.from(b64, 'base64');
    b[0] = (b[0] as number) ^ 1;
    return b.toString('base64');
  };
  for (const field of ['ct', 'tag', 'iv'] as const) {
    rejectsWithKid(() => cipher.open('call-1', { ...env, [field]: flip(env[field]) }), env.kid, /call-1.*fails authentication/);
  }
  rejectsWithKid(() => cipher.open('call-1', { ...env, tag: Buffer.alloc(8).toString('base64') }), env.kid, /fails authentication/);
});

test('the callId is authenticated: a record moved to another item does not open', () => {
  const cipher = createPayloadCipher({ key: A_HEX });
  const env = cipher.seal('call-1', samplePayload('call-1'));
  rejectsWithKid(() => cipher.open('call-2', env), keyIdOf(KEY_A), /call-2.*fails authentication.*another call/);
});

test('a record under a key that is not configured is an error naming its key id (with a key, and with none)', () => {
  const env = createPayloadCipher({ key: A_HEX }).seal('call-1', samplePayload('call-1'));
  const kidA = keyIdOf(KEY_A);
  rejectsWithKid(() => createPayloadCipher({ key: B_B64 }).open('call-1', env), kidA, new RegExp(`not configured.*configured: ${keyIdOf(KEY_B)}`));
  rejectsWithKid(() => PLAIN_PAYLOADS.open('call-1', env), kidA, /no key is set/);
});

test('rotation: B writes, A is read as an old key; plain payloads are read and need rekeying', () => {
  const payload = samplePayload('call-1');
  const underA = createPayloadCipher({ key: A_HEX }).seal('call-1', payload);
  const rotated = createPayloadCipher({ key: B_B64, oldKeys: [A_HEX] });
  assert.deepEqual(rotated.readKids, [keyIdOf(KEY_B), keyIdOf(KEY_A)]);
  assert.deepEqual(rotated.open('call-1', underA), payload);
  assert.equal(rotated.kindOf(underA), 'old');
  assert.equal(rotated.kindOf(payload), 'plain');
  assert.deepEqual(rotated.open('call-1', payload), payload, 'a payload stored before the key was set');

  const report = emptyRekeyReport();
  const fromA = rekeyValue(rotated, 'call-1', underA, report);
  const fromPlain = rekeyValue(rotated, 'call-2', samplePayload('call-2'), report);
  assert.ok(fromA !== null && fromPlain !== null);
  assert.equal(rekeyValue(rotated, 'call-1', fromA, report), null, 'already under B');
  assert.deepEqual(report, { scanned: 3, current: 1, rewritten: 2, fromPlain: 1, fromKeys: { [keyIdOf(KEY_A)]: 1 }, skipped: 0 });
  // Under B alone (A removed) the rewritten records still open.
  const bOnly = createPayloadCipher({ key: B_B64 });
  assert.deepEqual(bOnly.open('call-1', fromA), payload);
  assert.deepEqual(bOnly.open('call-2', fromPlain), samplePayload('call-2'));
  // rekey never skips a record it cannot open.
  rejectsWithKid(() => rekeyValue(bOnly, 'call-1', underA, emptyRekeyReport()), keyIdOf(KEY_A), /not configured/);
});

test('without CRM_OUTBOX_KEY payloads are stored as they are; the config picks the cipher', () => {
  const payload = samplePayload('call-1');
  assert.equal(PLAIN_PAYLOADS.seal('call-1', payload), payload);
  assert.equal(PLAIN_PAYLOADS.writeKid, null);
  assert.equal(payloadCipherOf({}), PLAIN_PAYLOADS);
  assert.equal(payloadCipherOf({ outboxKey: null, outboxOldKeys: [] }), PLAIN_PAYLOADS);
  assert.equal(payloadCipherOf({ outboxKey: A_HEX }).writeKid, keyIdOf(KEY_A));
  // Old keys alone: read encrypted records, write plain (a key being retired).
  const readOnly = payloadCipherOf({ outboxOldKeys: [A_HEX] });
  assert.equal(readOnly.writeKid, null);
  assert.equal(readOnly.seal('call-1', payload), payload);
  assert.throws(() => rekeyValue(readOnly, 'call-1', payload, emptyRekeyReport()), /rekey needs CRM_OUTBOX_KEY/);
  // A payload never looks like an envelope.
  assert.equal(isEnvelope(payload), false);
});
