/**
 * Session objects (the library's and `serve`'s input) without a session id: the id, and so the callId,
 * stands for the content, so that a repeat is the same call and two calls are never one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionToPayload } from '../../src/api/session-api.ts';
import { loadConfig } from '../../src/config/config.ts';
import { assertValidPayload } from '../helpers/payloads.ts';

const config = loadConfig({
  env: { CRM_CAMPAIGN_ID: 'camp-1', CRM_VOICE_AGENT_ID: 'agent-1', CRM_CLIENT_ID: 'client-1', CRM_SOURCE_TIMEZONE: 'Asia/Kolkata' },
  envFile: null,
});

/** A legacy conversation (no session id) that starts at 16:42:56 local time. */
function legacy(text: string): Record<string, unknown> {
  return {
    conversation: [
      { role: 'agent', content: 'Hello, this is Friday.', timestamp: '2025-10-07 16:42:56.100000', source: 'agent' },
      { role: 'user', content: text, timestamp: '2025-10-07 16:43:01.000000', source: 'user' },
    ],
  };
}

test('two sessions without a session id that start in the same second are two calls; a repeat is the same call', () => {
  const a = sessionToPayload(legacy('I want a demo.'), { config });
  const b = sessionToPayload(legacy('Call me tomorrow.'), { config });
  const again = sessionToPayload(legacy('I want a demo.'), { config });
  for (const p of [a, b, again]) assertValidPayload(p);
  assert.equal(a.callDetails.startTime, b.callDetails.startTime, 'same start');
  assert.match(a.callDetails.callId, /^CALL-20251007-111256-[0-9a-f]{8}$/);
  assert.notEqual(a.callDetails.callId, b.callDetails.callId);
  assert.equal(again.callDetails.callId, a.callDetails.callId);
  // Key order does not change what the content is.
  const reordered = { conversation: (legacy('I want a demo.').conversation as Record<string, unknown>[]).map((i) => Object.fromEntries(Object.entries(i).reverse())) };
  assert.equal(sessionToPayload(reordered, { config }).callDetails.callId, a.callDetails.callId);
});
