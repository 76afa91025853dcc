import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { maskPhone, maskText } from '../../src/log/mask.ts';
import { createLogger } from '../../src/log/logger.ts';

describe('masking', () => {
  const rows: [string, string][] = [
    ['+919999900001', '+**********01'],
    ['call from +91 99999 00001 ok', 'call from +**********01 ok'],
    ['asha.rao@example.com', 'a***@example.com'],
    ['lead asha.rao@example.com phone 9999900003', 'lead a***@example.com phone ********03'],
    ['attempt 3 status 503', 'attempt 3 status 503'],
    ['CALL-20251023-075634-7e155942', 'CALL-20251023-075634-7e155942'],
  ];
  for (const [input, expected] of rows) test(JSON.stringify(input), () => assert.equal(maskText(input), expected));
  test('maskPhone keeps the last two digits', () => assert.equal(maskPhone('9999900003'), '********03'));
});

describe('createLogger', () => {
  function capture(showPii = false) {
    const lines: string[] = [];
    const dest = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    return { log: createLogger({ destination: dest, showPii, level: 'info' }), lines };
  }
  test('masks phones and emails in fields and messages, and never prints the API key', () => {
    const { log, lines } = capture();
    log.info({ callerNumber: '+919999900001', email: 'asha.rao@example.com', apiKey: 'sk-live-123', headers: { authorization: 'Bearer sk-live-123' } }, 'lead from asha.rao@example.com');
    const text = lines.join('');
    assert.ok(text.includes('+**********01'), text);
    assert.ok(text.includes('a***@example.com'), text);
    assert.ok(!text.includes('9999900001'));
    assert.ok(!text.includes('asha.rao@'));
    assert.ok(!text.includes('sk-live-123'));
  });
  test('--show-pii leaves them readable (but still hides the key)', () => {
    const { log, lines } = capture(true);
    log.info({ callerNumber: '+919999900001', apiKey: 'sk-live-123' }, 'x');
    const text = lines.join('');
    assert.ok(text.includes('+919999900001'));
    assert.ok(!text.includes('sk-live-123'));
  });
});
