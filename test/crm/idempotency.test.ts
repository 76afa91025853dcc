import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idempotencyKey } from '../../src/crm/idempotency.ts';

test('idempotencyKey is stable and differs by step', () => {
  const id = 'CALL-20251028-062729-b87cf3c4';
  assert.equal(idempotencyKey(id, 'call-data'), `crm-upload:call-data:${id}`);
  assert.equal(idempotencyKey(id, 'recording'), `crm-upload:recording:${id}`);
  assert.equal(idempotencyKey(id, 'call-data'), idempotencyKey(id, 'call-data'));
});

test('idempotencyKey hashes a callId unfit for a header', () => {
  const key = idempotencyKey('call id with spaces/ü\n', 'call-data');
  assert.match(key, /^crm-upload:call-data:sha256-[0-9a-f]{64}$/);
  assert.equal(key, idempotencyKey('call id with spaces/ü\n', 'call-data'));
  assert.notEqual(key, idempotencyKey('call id with spaces/ü', 'call-data'));
  assert.match(idempotencyKey('x'.repeat(500), 'recording'), /sha256-/);
});
