/**
 * The doctor's outbox-key check (src/doctor/key-checks.ts) as a table, and its probe on a real SQLite
 * outbox written under key A then read with A, with B (A unknown), and with a malformed key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkOutboxKey, type OutboxKeyFacts } from '../../src/doctor/key-checks.ts';
import { probeOutboxKey } from '../../src/doctor/probes.ts';
import { createPayloadCipher, keyIdOf, PLAIN_PAYLOADS } from '../../src/outbox/payload-cipher.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { sampleItem } from '../outbox/sample-item.ts';

const base: OutboxKeyFacts = { keyError: null, writeKid: 'aaaa1111', readKids: ['aaaa1111'], byKid: { aaaa1111: 3 }, scope: 'all', sampleCallId: 'c3', sampleError: null };

test('the outbox key check, case by case', () => {
  const cases: [string, Partial<OutboxKeyFacts>, string, RegExp][] = [
    ['all under the key', {}, 'ok', /^key aaaa1111 parses and the newest payload \(c3\) opens$/],
    ['nothing stored', { byKid: {}, sampleCallId: null }, 'ok', /nothing stored yet/],
    ['some under an old key', { readKids: ['aaaa1111', 'bbbb2222'], byKid: { aaaa1111: 1, bbbb2222: 2 } }, 'ok', /2 under old key bbbb2222: run crm-upload rekey, then remove it/],
    ['plain ones left', { byKid: { aaaa1111: 1, plain: 2 } }, 'warn', /2 payload\(s\) are stored in the clear/],
    ['a key id not configured', { byKid: { aaaa1111: 1, cccc3333: 4 } }, 'fail', /4 under key cccc3333, which is not configured/],
    ['encrypted, no key set', { writeKid: null, readKids: [], byKid: { aaaa1111: 3 } }, 'fail', /3 under key aaaa1111, which is not configured/],
    ['the sample does not open', { sampleError: 'fails authentication' }, 'fail', /payload of c3 does not open: fails authentication/],
    ['a malformed key', { keyError: 'CRM_OUTBOX_KEY must be 32 bytes' }, 'fail', /^CRM_OUTBOX_KEY must be 32 bytes$/],
    ['no key, plain outbox', { writeKid: null, readKids: [], byKid: { plain: 3 } }, 'skip', /not set: payloads are stored in the clear/],
    ['old keys only', { writeKid: null, readKids: ['aaaa1111'] }, 'warn', /only old keys are set \(aaaa1111\)/],
  ];
  for (const [name, facts, status, detail] of cases) {
    const r = checkOutboxKey({ ...base, ...facts });
    assert.equal(r.id, 'outbox.key');
    assert.equal(r.status, status, name);
    assert.match(r.detail, detail, name);
    assert.equal(r.fix === undefined, status === 'ok' || status === 'skip', `${name}: a fix exactly when not fine`);
  }
});

test('the probe on a real outbox: counts by key id, the newest payload opened, a malformed key said without its value', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'crm-doctor-key-'));
  try {
    const file = join(dir, 'outbox.db');
    const keyA = Buffer.alloc(32, 7).toString('hex');
    const keyB = Buffer.alloc(32, 8).toString('hex');
    const kidA = keyIdOf(Buffer.alloc(32, 7));
    const plain = openSqliteOutbox(file, { cipher: PLAIN_PAYLOADS });
    await plain.enqueue(sampleItem('p-1'));
    await plain.close();
    const a = openSqliteOutbox(file, { cipher: createPayloadCipher({ key: keyA }) });
    await a.enqueueMany([sampleItem('a-1'), sampleItem('a-2')]);
    await a.close();
    const opts = { oldKeys: null, outbox: file, redis: false, timeoutMs: 1000 };

    const withA = await probeOutboxKey({ ...opts, key: keyA });
    assert.deepEqual(withA, { keyError: null, writeKid: kidA, readKids: [kidA], byKid: { plain: 1, [kidA]: 2 }, scope: 'all', sampleCallId: 'a-2', sampleError: null });
    assert.equal(checkOutboxKey(withA).status, 'warn');

    const withB = await probeOutboxKey({ ...opts, key: keyB });
    assert.match(checkOutboxKey(withB).detail, new RegExp(`2 under key ${kidA}, which is not configured`));
    assert.equal(checkOutboxKey(withB).status, 'fail');

    const bad = await probeOutboxKey({ ...opts, key: 'secret-but-short' });
    assert.equal(checkOutboxKey(bad).status, 'fail');
    assert.doesNotMatch(checkOutboxKey(bad).detail, /secret-but-short/);

    const none = await probeOutboxKey({ ...opts, key: null, outbox: join(dir, 'missing.db') });
    assert.equal(checkOutboxKey(none).status, 'skip');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
