import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

test('the shipped contract is byte-identical to ../shared/contract', () => {
  const ours = readFileSync(here('../../contract/call-data.schema.json'));
  const shared = readFileSync(here('../../../shared/contract/call-data.schema.json'));
  assert.ok(shared.length > 100, 'the shared contract was read');
  assert.ok(ours.equals(shared), 'contract/call-data.schema.json differs from ../shared/contract/call-data.schema.json');
});
